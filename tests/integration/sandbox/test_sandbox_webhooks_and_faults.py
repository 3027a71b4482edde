"""Signed webhooks the SDK verifies, and injected gateway failures the SDK raises on."""

from __future__ import annotations

import base64
import time
from decimal import Decimal

import braintree
import pytest
from braintree.exceptions.http.timeout_error import TimeoutError as BraintreeTimeoutError

from connectors.psp.braintree_sandbox import SandboxServer

pytestmark = pytest.mark.sandbox


def _sale(gateway, amount: str = "10.00"):
    result = gateway.transaction.sale(
        {
            "amount": amount,
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert result.is_success
    return result.transaction


def _drain(receiver) -> None:
    while not receiver.received.empty():
        receiver.received.get_nowait()


def _parse(gateway, form):
    return gateway.webhook_notification.parse(form["bt_signature"], form["bt_payload"])


def test_card_settlement_sends_no_webhook(gateway, sandbox, webhook_receiver):
    # Braintree docs, Webhooks > Transaction: settlement webhooks are for ACH and SEPA
    # Direct Debit only. The next notification after settling a card is the dispute's.
    _drain(webhook_receiver)
    transaction = _sale(gateway, "42.00")

    sandbox.settle(transaction.id)
    dispute_id = sandbox.open_dispute(transaction.id)
    first = _parse(gateway, webhook_receiver.next())

    assert first.kind == braintree.WebhookNotification.Kind.DisputeOpened
    assert first.dispute.id == dispute_id
    found = gateway.transaction.find(transaction.id)
    assert found.status == braintree.Transaction.Status.Settled
    assert [e.status for e in found.status_history] == [
        "authorized",
        "submitted_for_settlement",
        "settling",
        "settled",
    ]


def test_a_settled_notification_can_still_be_built_on_demand(gateway, sandbox):
    # Like the SDK's webhook_testing.sample_notification: signed, verifiable, current data.
    transaction = _sale(gateway, "42.00")
    sandbox.settle(transaction.id)

    notification = _parse(gateway, sandbox.webhook_form("transaction_settled", transaction.id))

    assert notification.kind == braintree.WebhookNotification.Kind.TransactionSettled
    assert notification.transaction.status == "settled"
    assert notification.transaction.amount == Decimal("42.00")


def test_tampered_payload_fails_verification(gateway, sandbox):
    transaction = _sale(gateway)
    form = sandbox.webhook_form("transaction_settled", transaction.id)
    xml = base64.decodebytes(form["bt_payload"].encode())
    forged = base64.encodebytes(xml.replace(b"10.00", b"1.00")).decode()

    with pytest.raises(braintree.exceptions.InvalidSignatureError):
        gateway.webhook_notification.parse(form["bt_signature"], forged)


def test_dispute_opened_and_lost_webhooks(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    transaction = _sale(gateway, "25.00")
    sandbox.settle(transaction.id)

    dispute_id = sandbox.open_dispute(transaction.id, "5.00")
    opened = webhook_receiver.next()
    sandbox.resolve_dispute(dispute_id, "lost")
    lost = webhook_receiver.next()

    assert opened["bt_signature"].startswith(sandbox.config.public_key + "|")
    parsed = [_parse(gateway, f) for f in (opened, lost)]
    assert [n.kind for n in parsed] == ["dispute_opened", "dispute_lost"]
    assert parsed[0].dispute.id == dispute_id
    assert parsed[0].dispute.amount_disputed == Decimal("5.00")
    assert parsed[0].dispute.transaction.id == transaction.id
    assert [h.status for h in parsed[1].dispute.status_history] == ["open", "lost"]


def test_card_sale_in_settlement_decline_amounts_settles(gateway, sandbox):
    # Braintree docs, Testing > Transaction amounts: 4001.00 declines settlement "on
    # certain transaction types", settled on all others; card sales settle.
    transaction = _sale(gateway, "4001.00")
    sandbox.settle(transaction.id)

    assert gateway.transaction.find(transaction.id).status == "settled"


def test_server_error_raises(gateway, sandbox):
    sandbox.fail_next("500")
    with pytest.raises(braintree.exceptions.ServerError):
        gateway.transaction.find("anything")


def test_rate_limit_raises(gateway, sandbox):
    sandbox.fail_next("429")
    with pytest.raises(braintree.exceptions.TooManyRequestsError):
        gateway.transaction.find("anything")


def test_timeout_raises_and_the_sale_still_happened(sandbox: SandboxServer):
    gateway = sandbox.braintree_gateway(timeout=0.3, wrap_http_exceptions=True)
    try:
        sandbox.fail_next("timeout")
        with pytest.raises(BraintreeTimeoutError):
            gateway.transaction.sale(
                {
                    "amount": "9.00",
                    "payment_method_nonce": "fake-valid-nonce",
                    "order_id": "timeout-order",
                }
            )
    finally:
        gateway.config.close()
    # The outcome is unknown to the client but known to the gateway: re-query finds it.
    assert sandbox.sales_count("timeout-order") == 1


def test_malformed_answer_does_not_parse(gateway, sandbox):
    from xml.parsers.expat import ExpatError

    sandbox.fail_next("malformed")
    with pytest.raises(ExpatError):
        gateway.transaction.find("anything")


def test_auto_settle_settles_submitted_transactions():
    from connectors.psp.braintree_sandbox import SandboxConfig

    with SandboxServer(SandboxConfig(auto_settle_seconds=0.1)) as quick:
        gateway = quick.braintree_gateway()
        try:
            transaction = _sale(gateway)
            deadline = time.monotonic() + 5
            while gateway.transaction.find(transaction.id).status != "settled":
                assert time.monotonic() < deadline, "not settled in time"
                time.sleep(0.1)
        finally:
            gateway.config.close()
