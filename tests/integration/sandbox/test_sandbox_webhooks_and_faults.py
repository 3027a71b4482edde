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


def test_settling_posts_a_webhook_the_sdk_verifies(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    transaction = _sale(gateway, "42.00")

    sandbox.settle(transaction.id)
    form = webhook_receiver.next()
    notification = gateway.webhook_notification.parse(form["bt_signature"], form["bt_payload"])

    assert notification.kind == braintree.WebhookNotification.Kind.TransactionSettled
    assert notification.transaction.id == transaction.id
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
    transaction = _sale(gateway, "25.00")
    sandbox.settle(transaction.id)
    _drain_after_settle = webhook_receiver.next()
    assert _drain_after_settle["bt_signature"].startswith(sandbox.config.public_key + "|")

    dispute_id = sandbox.open_dispute(transaction.id, "5.00")
    opened = webhook_receiver.next()
    sandbox.resolve_dispute(dispute_id, "lost")
    lost = webhook_receiver.next()

    parsed = [
        gateway.webhook_notification.parse(f["bt_signature"], f["bt_payload"])
        for f in (opened, lost)
    ]
    assert [n.kind for n in parsed] == ["dispute_opened", "dispute_lost"]
    assert parsed[0].dispute.id == dispute_id
    assert parsed[0].dispute.amount_disputed == Decimal("5.00")
    assert parsed[0].dispute.transaction.id == transaction.id


def test_settlement_decline_amount(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    transaction = _sale(gateway, "4001.00")
    sandbox.settle(transaction.id)

    form = webhook_receiver.next()
    notification = gateway.webhook_notification.parse(form["bt_signature"], form["bt_payload"])
    assert notification.kind == "transaction_settlement_declined"


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
