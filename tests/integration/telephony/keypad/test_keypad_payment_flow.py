"""A whole keypad payment: the real ``twilio`` SDK against the telephony stand-in, whose
signed status callbacks reach the served crm-pay app; the card the caller keys is
vaulted in the Braintree sandbox (as Twilio's Braintree Pay Connector does) and charged
there by crm-pay. Braintree's published test card only."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests
from sqlalchemy import select

from connectors.psp.braintree_sandbox import SandboxServer
from connectors.telephony.twilio_sandbox import (
    TwilioSandboxServer,
    twilio_signature,
)
from crm_pay.persistence.models import Base, Payment
from crm_pay.services import keypad_payments, keypad_sessions
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment, get_payment
from paytest import Emitted

TEST_CARD = "4111111111111111"  # Braintree's published Visa test number
AGENT = "agent:ana@example.com"


def _ivr_payment(ctx: Context) -> str:
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount="100.00", currency="USD", channel="ivr"),
        actor=AGENT,
        idempotency_scope="console:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash="ivr",
    )
    return str(view["id"])


def _answered(twilio: TwilioSandboxServer) -> list[int | None]:
    return [d.status for d in twilio.wait_for_callbacks(10)]


def _everything_stored(ctx: Context) -> str:
    with ctx.db.engine.connect() as conn:
        return "\n".join(
            repr(conn.execute(select(table)).all()) for table in Base.metadata.sorted_tables
        )


def test_a_keypad_payment_with_the_test_card_ends_approved_with_a_receipt(
    served: Context,
    twilio: TwilioSandboxServer,
    sandbox: SandboxServer,
    live: Emitted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = served
    payment_id = _ivr_payment(ctx)
    call = twilio.place_call()

    started = keypad_payments.start_capture(ctx, payment_id, call_sid=call.sid, actor=AGENT)
    twilio.press(call.sid, TEST_CARD + "#")
    assert set(_answered(twilio)) == {200}
    keypad_payments.ask_for_field(ctx, started.id, "expiration-date", actor=AGENT)
    twilio.press(call.sid, "1230#")
    keypad_payments.ask_for_field(ctx, started.id, "security-code", actor=AGENT)
    twilio.press(call.sid, "123#")
    assert set(_answered(twilio)) == {200}
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)
    answers = _answered(twilio)

    assert set(answers) == {200}
    done = keypad_sessions.keypad_session(ctx, started.id)
    assert done.status == "charged"
    assert (done.card_brand, done.card_last4, done.card_exp) == ("Visa", "1111", "12/2030")
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        assert payment.status == "submitted_for_settlement"
        token, transaction_id = payment.payment_method_token, payment.psp_transaction_id
    # the token the stand-in's Pay Connector vaulted at Braintree is what was charged
    sale = {t["id"]: t for t in sandbox.transactions}[transaction_id]
    assert sale["credit_card"]["token"] == token
    assert sale["amount"] == "100.00"
    receipt = get_payment(ctx, payment_id, resolve=False)["receipt_number"]
    assert receipt

    # the agent's panel saw masked progress, field by field, and the result
    statuses = [m.get("status") for m in live.messages]
    assert statuses[-1] == "submitted_for_settlement"
    assert any(m.get("fields", {}).get("number") for m in live.messages)
    assert any(m.get("receipt_number") == receipt for m in live.messages)

    # the card number is nowhere: not stored, not logged, not in a live event
    assert TEST_CARD not in _everything_stored(ctx)
    assert TEST_CARD not in caplog.text
    assert TEST_CARD not in repr(live.messages)


def _post(ctx: Context, form: dict[str, str], signature: str) -> requests.Response:
    return requests.post(
        keypad_sessions.status_url(ctx.settings),
        data=form,
        headers={"X-Twilio-Signature": signature},
        timeout=10,
    )


def test_a_replayed_or_forged_callback_changes_nothing(
    served: Context, twilio: TwilioSandboxServer, sandbox: SandboxServer
) -> None:
    ctx = served
    payment_id = _ivr_payment(ctx)
    call = twilio.place_call()
    started = keypad_payments.start_capture(ctx, payment_id, call_sid=call.sid, actor=AGENT)
    twilio.press(call.sid, TEST_CARD + "#")
    delivered = twilio.wait_for_callbacks(10)
    assert {d.status for d in delivered} == {200}
    before = (keypad_sessions.keypad_session(ctx, started.id), _everything_stored(ctx))
    last = delivered[-1]
    url, form = last.url, dict(last.form)

    replayed = _post(ctx, form, twilio_signature(twilio.config.auth_token, url, form))
    forged_form = {**form, "Result": "success", "PaymentToken": "tok_forged"}
    forged = _post(ctx, forged_form, twilio_signature("not-the-auth-token", url, forged_form))
    tampered = _post(ctx, forged_form, twilio_signature(twilio.config.auth_token, url, form))
    unsigned = requests.post(url, data=forged_form, timeout=10)

    assert replayed.status_code == 409
    assert replayed.json()["error"]["code"] == "callback_replayed"
    assert (forged.status_code, tampered.status_code, unsigned.status_code) == (403, 403, 403)
    assert (keypad_sessions.keypad_session(ctx, started.id), _everything_stored(ctx)) == before
