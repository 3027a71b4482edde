"""The real braintree SDK, over HTTP, against the development sandbox's gateway API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import braintree
import pytest

from connectors.psp.braintree_sandbox import SandboxServer

pytestmark = pytest.mark.sandbox


def _order() -> str:
    return "order-" + uuid.uuid4().hex[:10]


def _sale(gateway: braintree.BraintreeGateway, amount: str = "10.00", **extra: object):
    params = {"amount": amount, "payment_method_nonce": "fake-valid-nonce", **extra}
    return gateway.transaction.sale(params)


def test_sale_with_fake_valid_nonce_is_found_with_masked_number(gateway, sandbox):
    order_id = _order()
    result = _sale(gateway, "10.00", order_id=order_id, transaction_source="moto")

    assert result.is_success
    found = gateway.transaction.find(result.transaction.id)
    assert found.status == braintree.Transaction.Status.Authorized
    assert found.type == "sale"
    assert found.amount == Decimal("10.00")
    assert found.currency_iso_code == "USD"
    assert found.order_id == order_id
    assert found.processor_response_code == "1000"
    card = found.credit_card_details
    assert (card.bin, card.last_4, card.card_type) == ("401288", "1881", "Visa")
    assert card.masked_number == "401288******1881"
    assert [event.status for event in found.status_history] == ["authorized"]
    assert sandbox.sales_count(order_id) == 1


def test_amount_in_decline_range_is_declined_with_that_code(gateway):
    result = _sale(gateway, "2001.00")

    assert not result.is_success
    assert result.transaction.status == braintree.Transaction.Status.ProcessorDeclined
    assert result.transaction.processor_response_code == "2001"
    assert result.transaction.processor_response_text == "Insufficient Funds"


def test_amount_3000_fails(gateway):
    result = _sale(gateway, "3000.00")

    assert not result.is_success
    assert result.transaction.status == braintree.Transaction.Status.Failed
    assert result.transaction.processor_response_code == "3000"


def test_declining_test_nonce_and_nonce_errors(gateway):
    declined = gateway.transaction.sale(
        {"amount": "5.00", "payment_method_nonce": "fake-processor-declined-visa-nonce"}
    )
    consumed = gateway.transaction.sale(
        {"amount": "5.00", "payment_method_nonce": "fake-consumed-nonce"}
    )
    unknown = gateway.transaction.sale({"amount": "5.00", "payment_method_nonce": "no-such"})

    assert declined.transaction.processor_response_code == "2000"
    assert consumed.transaction is None
    # ErrorCodes.Transaction.PaymentMethodNonceConsumed (93107 is the payment-method one)
    assert [e.code for e in consumed.errors.deep_errors] == ["91564"]
    assert [
        e.code for e in unknown.errors.for_object("transaction").on("payment_method_nonce")
    ] == ["91565"]


def test_amounts_are_exact_and_validated(gateway):
    result = _sale(gateway, "10.001")

    assert not result.is_success
    assert [e.code for e in result.errors.for_object("transaction").on("amount")] == ["81503"]


def test_api_request_key_returns_the_first_result(gateway, sandbox):
    order_id = _order()
    key = uuid.uuid4().hex
    first = _sale(gateway, "12.34", order_id=order_id, api_request_key=key)
    again = _sale(gateway, "12.34", order_id=order_id, api_request_key=key)

    assert first.is_success and again.is_success
    assert again.transaction.id == first.transaction.id
    assert sandbox.sales_count(order_id) == 1


def test_settlement_lifecycle_and_refunds(gateway, sandbox):
    sale = _sale(gateway, "50.00").transaction

    submitted = gateway.transaction.submit_for_settlement(sale.id)
    assert submitted.transaction.status == "submitted_for_settlement"
    assert not gateway.transaction.refund(sale.id, "1.00").is_success  # not settled yet

    settled = gateway.testing.settle_transaction(sale.id)
    assert settled.transaction.status == "settled"

    partial = gateway.transaction.refund(sale.id, "20.00")
    assert partial.is_success
    assert partial.transaction.type == "credit"
    assert partial.transaction.amount == Decimal("20.00")
    assert partial.transaction.refunded_transaction_id == sale.id

    too_much = gateway.transaction.refund(sale.id, "30.01")
    assert not too_much.is_success
    assert [e.code for e in too_much.errors.deep_errors] == ["91521"]

    rest = gateway.transaction.refund(sale.id)
    assert rest.transaction.amount == Decimal("30.00")
    assert gateway.transaction.find(sale.id).refund_ids == [
        partial.transaction.id,
        rest.transaction.id,
    ]


def test_void_and_void_after_settlement_refused(gateway, sandbox):
    authorized = _sale(gateway).transaction
    assert gateway.transaction.void(authorized.id).transaction.status == "voided"

    settled = _sale(gateway, options={"submit_for_settlement": True}).transaction
    sandbox.settle(settled.id)
    refused = gateway.transaction.void(settled.id)
    assert [e.code for e in refused.errors.deep_errors] == ["91504"]


def test_search_by_order_id_and_created_at(gateway):
    order_id = _order()
    ids = {_sale(gateway, order_id=order_id).transaction.id for _ in range(2)}
    other = _sale(gateway, order_id=_order()).transaction.id

    by_order = gateway.transaction.search(braintree.TransactionSearch.order_id == order_id)
    assert {t.id for t in by_order} == ids

    # The SDK writes datetimes as UTC wall time without converting: pass naive UTC.
    now = datetime.now(UTC).replace(tzinfo=None)
    recent = gateway.transaction.search(
        braintree.TransactionSearch.created_at.between(now - timedelta(minutes=5), now)
    )
    assert ids | {other} <= set(recent.ids)
    future = gateway.transaction.search(
        braintree.TransactionSearch.created_at.between(
            now + timedelta(hours=1), now + timedelta(hours=2)
        )
    )
    assert future.ids == []


def test_vaulted_payment_method_can_be_charged(gateway):
    vaulted = gateway.payment_method.create(
        {"payment_method_nonce": "fake-valid-mastercard-nonce", "customer_id": "cust-1"}
    )
    assert vaulted.is_success
    token = vaulted.payment_method.token

    result = gateway.transaction.sale({"amount": "8.00", "payment_method_token": token})
    assert result.is_success
    assert result.transaction.credit_card_details.card_type == "MasterCard"


def test_wrong_credentials_raise_authentication_error(sandbox: SandboxServer):
    wrong = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=sandbox.environment(),
            merchant_id=sandbox.config.merchant_id,
            public_key=sandbox.config.public_key,
            private_key="not-the-key",
        )
    )
    try:
        with pytest.raises(braintree.exceptions.AuthenticationError):
            wrong.transaction.find("anything")
    finally:
        wrong.config.close()


def test_responses_are_labelled_as_development_tool(sandbox: SandboxServer):
    import requests

    with requests.get(sandbox.gateway_url + "/", timeout=5) as response:
        assert response.headers["X-Sandbox"] == "crm-pay development sandbox"
        assert "development sandbox" in response.text


def test_state_survives_a_restart(tmp_path):
    from connectors.psp.braintree_sandbox import SandboxConfig

    config = SandboxConfig(state_path=tmp_path / "state.json")
    with SandboxServer(config) as first:
        gateway = first.braintree_gateway()
        transaction_id = _sale(gateway, order_id="kept").transaction.id
        gateway.config.close()
    with SandboxServer(config) as second:
        gateway = second.braintree_gateway()
        assert gateway.transaction.find(transaction_id).order_id == "kept"
        gateway.config.close()
