"""A status callback racing the start's own answer: Twilio may post its first callback
while crm-pay is still storing the capture's SID from the start (on PostgreSQL the
callback's lock then waits for the start's transaction). It must find its session either
way; it was lost with a 404 when the start committed while the callback waited."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from connectors.telephony.twilio_sandbox import TwilioSandboxServer, twilio_signature
from crm_pay.persistence.models import KeypadSession
from crm_pay.ports import KeypadCallback
from crm_pay.services import keypad_callbacks, keypad_sessions
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment

AGENT = "agent:ana@example.com"
CALL = "CA" + "2" * 32
CAPTURE = "PK" + "3" * 32


def _starting_session(ctx: Context) -> int:
    """An ivr payment with a keypad session whose start is on its way to the provider."""
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount="10.00", currency="USD", channel="ivr"),
        actor=AGENT,
        idempotency_scope="console:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash="ivr",
    )
    now = datetime.now(UTC)
    with ctx.db.transaction() as s:
        row = KeypadSession(
            payment_id=view["id"], provider="twilio", call_sid=CALL, status="starting",
            fields_left="", requests=0, started_by=AGENT, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def test_a_callback_waiting_on_the_start_answer_finds_its_session(
    served: Context, twilio: TwilioSandboxServer
) -> None:
    ctx = served
    session_id = _starting_session(ctx)
    url = keypad_sessions.status_url(ctx.settings)
    form = {
        "AccountSid": twilio.config.account_sid, "CallSid": CALL, "Sid": CAPTURE,
        "Capture": "payment-card-number", "PartialResult": "true",
        "PaymentCardNumber": "xxxx", "Required": "payment-card-number,expiration-date",
        "DateUpdated": "2026-12-07T10:00:00.000Z",
    }  # fmt: skip
    callback = KeypadCallback(
        url, form, {"x-twilio-signature": twilio_signature(twilio.config.auth_token, url, form)}
    )
    outcome: list[object] = []

    # the start's answer being stored: the session locked, its capture SID written
    with ctx.db.transaction() as start:
        row = ctx.db.lock(start, KeypadSession, session_id)
        assert row is not None
        row.capture_sid, row.status = CAPTURE, "capturing"
        start.flush()

        def receive() -> None:
            try:
                outcome.append(keypad_callbacks.receive_status_callback(ctx, callback))
            except Exception as exc:  # noqa: BLE001 - the test reads what it raised
                outcome.append(exc)

        racing = threading.Thread(target=receive)
        racing.start()
        time.sleep(0.5)  # the callback is waiting for the start's lock (or the write lock)
        assert racing.is_alive() and not outcome
    racing.join(15)

    assert len(outcome) == 1
    view = outcome[0]
    assert isinstance(view, keypad_sessions.KeypadSessionView), view
    assert (view.status, view.capture_sid, view.field) == (
        "capturing",
        CAPTURE,
        "payment-card-number",
    )
    with ctx.db.transaction() as s:
        stored = s.scalars(select(KeypadSession).where(KeypadSession.id == session_id)).one()
        assert stored.fields_left == "payment-card-number,expiration-date"
