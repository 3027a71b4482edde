"""``api_request_key``, refund declines and merchant accounts with their own currencies."""

from __future__ import annotations

import base64
import json
import uuid
from decimal import Decimal

import braintree
import pytest

from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer

pytestmark = pytest.mark.sandbox


def _order() -> str:
    return "order-" + uuid.uuid4().hex[:10]


def _sale(gateway, amount: str = "10.00", **extra: object):
    params = {"amount": amount, "payment_method_nonce": "fake-valid-nonce", **extra}
    return gateway.transaction.sale(params)


def _settled(gateway, sandbox, amount: str = "9000.00", **extra: object):
    transaction = _sale(gateway, amount, **extra).transaction
    sandbox.settle(transaction.id)
    return transaction


# -- api_request_key ----------------------------------------------------------------


def test_same_key_with_a_different_request_is_refused_and_charges_nothing(gateway, sandbox):
    order_id = _order()
    key = uuid.uuid4().hex
    first = _sale(gateway, "12.34", order_id=order_id, api_request_key=key)

    other = _sale(gateway, "200.00", order_id=order_id, api_request_key=key)

    assert first.is_success
    assert not other.is_success and other.transaction is None
    # ErrorCodes.Transaction.ApiRequestKeyCanBeReusedOnlyWithTheSameRequest
    assert [e.code for e in other.errors.deep_errors] == ["915232"]
    assert sandbox.sales_count(order_id) == 1


def test_key_of_255_characters_is_accepted_256_refused(gateway, sandbox):
    order_id = _order()
    accepted = _sale(gateway, order_id=order_id, api_request_key="x" * 254 + uuid.uuid4().hex[0])
    too_long = _sale(gateway, order_id=order_id, api_request_key="y" * 256)

    assert accepted.is_success
    assert [e.code for e in too_long.errors.deep_errors] == ["915230"]  # ApiRequestKeyTooLong
    assert sandbox.sales_count(order_id) == 1


def test_settle_void_and_refund_replay_their_first_answer(gateway, sandbox):
    to_settle = _sale(gateway).transaction
    key = uuid.uuid4().hex
    params = {"api_request_key": key}
    first = gateway.transaction.submit_for_settlement(to_settle.id, None, params)
    again = gateway.transaction.submit_for_settlement(to_settle.id, None, params)
    assert first.is_success and again.is_success
    assert again.transaction.status == "submitted_for_settlement"

    to_void = _sale(gateway).transaction
    void_key = {"api_request_key": uuid.uuid4().hex}
    assert gateway.transaction.void(to_void.id, void_key).is_success
    assert gateway.transaction.void(to_void.id, void_key).transaction.status == "voided"

    settled = _settled(gateway, sandbox, "30.00")
    refund = {"amount": "10.00", "api_request_key": uuid.uuid4().hex}
    one = gateway.transaction.refund(settled.id, refund)
    two = gateway.transaction.refund(settled.id, dict(refund))
    assert one.transaction.id == two.transaction.id
    assert gateway.transaction.find(settled.id).refund_ids == [one.transaction.id]


# -- refund declines ----------------------------------------------------------------


def test_refund_hard_declined_amount_gives_a_declined_credit(gateway, sandbox):
    # braintree_python test_transaction.py::test_refund_returns_an_error_if_hard_declined
    sale = _settled(gateway, sandbox)

    result = gateway.transaction.refund(sale.id, Decimal("2004.00"))

    assert not result.is_success
    credit = result.transaction
    assert credit.type == braintree.Transaction.Type.Credit
    assert credit.status == braintree.Transaction.Status.ProcessorDeclined
    assert credit.processor_response_type == braintree.ProcessorResponseTypes.HardDeclined
    assert credit.additional_processor_response == "2004 : Expired Card"
    assert credit.refunded_transaction_id == sale.id
    assert result.message == "Expired Card"
    # The declined credit moved no money: the whole amount is still refundable.
    assert gateway.transaction.refund(sale.id).transaction.amount == Decimal("9000.00")


def test_refund_soft_declined_amount_still_succeeds(gateway, sandbox):
    # ::test_refund_returns_an_success_with_error_in_processor_response_if_soft_declined
    sale = _settled(gateway, sandbox)

    result = gateway.transaction.refund(sale.id, Decimal("2046.00"))

    assert result.is_success
    assert result.transaction.status == braintree.Transaction.Status.SubmittedForSettlement
    assert result.transaction.processor_response_type == braintree.ProcessorResponseTypes.Approved
    assert result.transaction.additional_processor_response == "2046 : Declined"


# -- merchant accounts --------------------------------------------------------------


def test_sale_and_refund_use_the_merchant_accounts_currency(gateway, sandbox):
    sale = _settled(gateway, sandbox, "25.00", merchant_account_id="crm_pay_gbp")
    default = _sale(gateway).transaction

    refund = gateway.transaction.refund(sale.id, "5.00").transaction

    assert (sale.currency_iso_code, sale.merchant_account_id) == ("GBP", "crm_pay_gbp")
    assert (refund.currency_iso_code, refund.merchant_account_id) == ("GBP", "crm_pay_gbp")
    assert (default.currency_iso_code, default.merchant_account_id) == ("USD", "crm_pay_usd")
    eur = _sale(gateway, merchant_account_id="crm_pay_eur").transaction
    assert gateway.transaction.find(eur.id).currency_iso_code == "EUR"


def test_jpy_takes_whole_amounts_only(gateway):
    whole = _sale(gateway, "500", merchant_account_id="crm_pay_jpy")
    fraction = _sale(gateway, "500.50", merchant_account_id="crm_pay_jpy")

    assert whole.is_success
    assert (whole.transaction.amount, whole.transaction.currency_iso_code) == (
        Decimal("500"),
        "JPY",
    )
    assert [e.code for e in fraction.errors.for_object("transaction").on("amount")] == ["81503"]


def test_unknown_merchant_account_is_refused_and_charges_nothing(gateway, sandbox):
    order_id = _order()

    result = _sale(gateway, order_id=order_id, merchant_account_id="no_such_account")

    assert not result.is_success and result.transaction is None
    # ErrorCodes.Transaction.MerchantAccountIdIsInvalid
    errors = result.errors.for_object("transaction").on("merchant_account_id")
    assert [e.code for e in errors] == ["91513"]
    assert sandbox.sales_count(order_id) == 0


def test_client_token_names_its_merchant_account_and_refuses_unknown_ones(gateway):
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    gbp = json.loads(
        base64.b64decode(gateway.client_token.generate({"merchant_account_id": "crm_pay_gbp"}))
    )

    assert token["merchantAccountId"] == "crm_pay_usd"
    assert gbp["merchantAccountId"] == "crm_pay_gbp"
    # ClientToken.MerchantAccountDoesNotExist (92807): client_token_gateway.py raises.
    with pytest.raises(ValueError, match="Merchant account does not exist"):
        gateway.client_token.generate({"merchant_account_id": "no_such_account"})


def test_merchant_accounts_are_configurable_and_checked():
    with SandboxServer(SandboxConfig(merchant_accounts={"shop_cad": "CAD"})) as server:
        gateway = server.braintree_gateway()
        try:
            sale = _sale(gateway).transaction
            assert (sale.merchant_account_id, sale.currency_iso_code) == ("shop_cad", "CAD")
        finally:
            gateway.config.close()
    with pytest.raises(ValueError, match="default merchant account"):
        SandboxServer(
            SandboxConfig(merchant_accounts={"shop_cad": "CAD"}, default_merchant_account_id="x")
        )
