"""``crm-pay demo``'s telephony wiring, in process: the Twilio stand-in started by
``start_telephony`` beside the demo's Braintree sandbox, the demo's settings
(``demo_config``) and vault (``prepare_demo``) give the app a working ``ctx.telephony``:
a call placed on the virtual phone, a keypad capture started through the services on an
``ivr`` payment, the caller keys Braintree's published test card, the payment is
approved with a receipt."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from connectors.psp.braintree_sandbox import SandboxServer
from connectors.telephony.twilio_sandbox import TwilioSandboxServer
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.demo import (
    DEMO_USERS,
    TELEPHONY_CREDENTIALS,
    demo_config,
    prepare_demo,
    start_sandbox,
    start_telephony,
)
from crm_pay.persistence.models import Payment
from crm_pay.services import keypad_payments, keypad_sessions
from crm_pay.services.payments import CreatePayment, create_payment, get_payment
from crm_pay.services.secrets import get_secret
from crm_pay.testing.sandbox_app import close_app
from paytest import free_port

TEST_CARD = "4111111111111111"  # Braintree's published Visa test number
AGENT = f"agent:{DEMO_USERS[0][0]}"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Flask, TwilioSandboxServer, SandboxServer]]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    braintree = start_sandbox(port=0, assets_port=0, webhook_url=f"{public}/pay/webhooks/braintree")
    telephony = start_telephony(braintree, port=0, public_url=public)
    settings = demo_config(
        host="127.0.0.1",
        port=port,
        sandbox_url=braintree.gateway_url,
        assets_url=braintree.assets_url,
        telephony_url=telephony.base_url,
    )
    app = create_app(
        {**settings, "CRM_PAY_BACKGROUND_WORKERS": False}, instance_path=str(tmp_path / "i")
    )
    prepare_demo(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, telephony, braintree
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        close_app(app)
        telephony.stop()
        braintree.stop()


def test_the_demo_settings_point_at_the_stand_in(demo) -> None:
    app, telephony, _ = demo
    ctx = get_context(app)
    mapping = ctx.config.as_mapping()
    assert mapping["CRM_PAY_TWILIO_ACCOUNT_SID"] == telephony.config.account_sid
    assert mapping["CRM_PAY_TWILIO_BASE_URL"] == telephony.base_url
    assert get_secret(ctx, "telephony.twilio.auth_token") == TELEPHONY_CREDENTIALS["auth_token"]
    # placed calls are told to the demo app's TaskRouter endpoint
    assert telephony.config.taskrouter_callback == (
        f"{ctx.config.public_url}{ctx.config.prefix}/telephony/twilio/taskrouter"
    )
    assert "agent@example.com" in requests.get(telephony.phone_url, timeout=5).text


def test_a_keypad_payment_on_the_demos_stand_in_is_approved_with_a_receipt(demo) -> None:
    app, telephony, braintree = demo
    ctx = get_context(app)
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount="42.00", currency="USD", channel="ivr"),
        actor=AGENT,
        idempotency_scope="console:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash="ivr",
    )
    payment_id = str(view["id"])
    placed = requests.post(
        f"{telephony.base_url}/_sandbox/calls", json={"from": "+12125550101"}, timeout=5
    ).json()
    keypad = f"{telephony.base_url}/_sandbox/calls/{placed['sid']}/keypad"

    def press(keys: str) -> None:
        assert requests.post(keypad, json={"keys": keys}, timeout=5).status_code == 200
        telephony.wait_for_callbacks(10)

    started = keypad_payments.start_capture(ctx, payment_id, call_sid=placed["sid"], actor=AGENT)
    press(TEST_CARD + "#")
    keypad_payments.ask_for_field(ctx, started.id, "expiration-date", actor=AGENT)
    press("1230#")
    keypad_payments.ask_for_field(ctx, started.id, "security-code", actor=AGENT)
    press("123#")
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)
    delivered = telephony.wait_for_callbacks(10)

    assert {d.status for d in delivered} == {200}, "the demo app refused a status callback"
    assert keypad_sessions.keypad_session(ctx, started.id).status == "charged"
    paid = get_payment(ctx, payment_id, resolve=False)
    assert paid["status"] == "submitted_for_settlement"
    assert paid["receipt_number"]
    with ctx.db.transaction() as s:
        row = s.get(Payment, payment_id)
        assert row is not None
        token, transaction_id = row.payment_method_token, row.psp_transaction_id
    # the card the caller keyed was vaulted in the demo's Braintree sandbox and charged there
    sale = {t["id"]: t for t in braintree.transactions}[transaction_id]
    assert sale["credit_card"]["token"] == token
    assert sale["amount"] == "42.00"
