"""Keypad sessions as the agent and the provider's callbacks share them: the row's view,
the locked read, the live event, the provider of ``ctx.telephony``, the callback URL.

Layer: records (below :mod:`.keypad_payments`, the agent's steps, and
:mod:`.keypad_callbacks`, the provider's status callbacks). A session's row is
:class:`crm_pay.persistence.models.KeypadSession`; its statuses: ``starting`` →
``capturing`` → ``completing`` → ``charging`` → ``charged`` or ``declined``; or
``cancelled`` / ``failed`` when the capture ends without a card.

Live events go through ``ctx.publish`` (the live-status whitelist checks them again):
the payment's status, per-field done flags (``fields``), the field in error
(``field_problems``) and the agent's words (``keypad``, :mod:`.keypad_words`), built
from masked values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, TelephonyUnavailable
from crm_pay.domain.payment import PaymentStatus, check_transition
from crm_pay.persistence.models import KeypadSession, Payment
from crm_pay.ports import KeypadCapture, KeypadCapturePort, KeypadField

from .context import Context, Settings
from .keypad_words import ENDED_NEXT_STEP, KeypadProgress, ended_words

__all__ = [
    "BUSY",
    "OPEN",
    "STATUS_PATH",
    "KeypadSessionView",
    "capture_ended",
    "capture_of",
    "end_session",
    "keypad_session",
    "live_event",
    "locked_session",
    "next_request_key",
    "publish_session",
    "session_view",
    "status_url",
    "telephony_of",
]

STATUS_PATH = "/telephony/twilio/status"

# A capture the agent can still steer, and one whose token is being charged.
OPEN = ("starting", "capturing", "completing")
BUSY = (*OPEN, "charging")
# Keypad fields -> the console's field names of the live-status whitelist.
_LIVE_FIELD = {
    KeypadField.CARD_NUMBER.value: "number",
    KeypadField.EXPIRY.value: "expirationDate",
    KeypadField.SECURITY_CODE.value: "cvv",
    KeypadField.POSTAL_CODE.value: "postalCode",
}
# What a capture asks for (KeypadCaptureRequest's defaults: security code, no postal code).
_ASKED = (
    KeypadField.CARD_NUMBER.value,
    KeypadField.EXPIRY.value,
    KeypadField.SECURITY_CODE.value,
)


@dataclass(frozen=True, slots=True)
class KeypadSessionView:
    """A keypad session as the console and the API show it (masked card only)."""

    id: int
    payment_id: str
    call_sid: str
    capture_sid: str | None
    status: str
    field: str | None
    fields_left: tuple[str, ...]
    error: str | None
    result: str | None
    card_brand: str | None
    card_last4: str | None
    card_exp: str | None
    payment_status: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "payment_id": self.payment_id,
            "call_sid": self.call_sid,
            "capture_sid": self.capture_sid,
            "status": self.status,
            "field": self.field,
            "fields_left": list(self.fields_left),
            "error": self.error,
            "result": self.result,
            "card": {"brand": self.card_brand, "last4": self.card_last4, "exp": self.card_exp},
            "payment_status": self.payment_status,
        }


def status_url(settings: Settings) -> str:
    """The exact public URL the provider posts status callbacks to (and signs)."""
    return f"{settings.public_url.rstrip('/')}{settings.url_prefix.rstrip('/')}{STATUS_PATH}"


def telephony_of(ctx: Context) -> KeypadCapturePort:
    """``ctx.telephony``, or an error saying how to set keypad payments up."""
    if ctx.telephony is None:
        raise TelephonyUnavailable(
            "keypad payments are not set up: set CRM_PAY_TWILIO_ACCOUNT_SID and store the "
            "auth token in the vault as 'telephony.twilio.auth_token'; send a pay link instead"
        )
    return ctx.telephony


def session_view(row: KeypadSession, payment: Payment) -> KeypadSessionView:
    """The view of a session's row and its payment's status."""
    return KeypadSessionView(
        id=row.id,
        payment_id=row.payment_id,
        call_sid=row.call_sid,
        capture_sid=row.capture_sid,
        status=row.status,
        field=row.field,
        fields_left=tuple(f for f in row.fields_left.split(",") if f),
        error=row.error,
        result=row.result,
        card_brand=row.card_brand,
        card_last4=row.card_last4,
        card_exp=row.card_exp,
        payment_status=payment.status,
    )


def locked_session(s: Session, ctx: Context, session_id: int) -> tuple[KeypadSession, Payment]:
    """The session's row, locked for update, and its payment."""
    row = ctx.db.lock(s, KeypadSession, session_id)
    if row is None:
        raise NotFound(f"no keypad capture {session_id}")
    payment = s.get(Payment, row.payment_id)
    assert payment is not None
    return row, payment


def live_event(view: KeypadSessionView, progress: KeypadProgress | None = None) -> dict[str, Any]:
    """The live event of a session: payment status, per-field done flags, the field in
    error, and the agent's words (masked values only; the whitelist checks it again)."""
    left = set(view.fields_left)
    event: dict[str, Any] = {"status": view.payment_status}
    # Nothing is known of the fields before the provider's first report (the capture just
    # started: no field left, no card number yet); "all done" would be a false tick.
    if view.status != "starting" and (view.fields_left or view.card_last4):
        event["fields"] = {_LIVE_FIELD[f]: f not in left for f in _ASKED}
    if view.error and view.field in _LIVE_FIELD:
        event["field_problems"] = {_LIVE_FIELD[view.field]: True}
    keypad: dict[str, Any] = {"session": view.status, "field": view.field}
    if progress is not None:
        keypad.update(words=progress.words, done=progress.done, ended=progress.ended)
    event["keypad"] = keypad
    return event


def publish_session(
    ctx: Context, view: KeypadSessionView, progress: KeypadProgress | None = None
) -> None:
    """Tell the payment's live room where the session is."""
    ctx.publish(view.payment_id, live_event(view, progress))


def next_request_key(row: KeypadSession) -> str:
    """The idempotency key of the next call to the provider for this (locked) session."""
    row.requests += 1
    return f"keypad:{row.id}:{row.requests}"


def capture_of(row: KeypadSession) -> KeypadCapture:
    """The provider's capture of a session that has started."""
    assert row.capture_sid is not None
    return KeypadCapture(capture_id=row.capture_sid, call_id=row.call_sid)


def end_session(ctx: Context, session_id: int, status: str, *, result: str) -> KeypadSessionView:
    """End a session that is still open (``cancelled`` or ``failed``), and with it the
    waiting payment (:func:`capture_ended`)."""
    with ctx.db.transaction() as s:
        row, payment = locked_session(s, ctx, session_id)
        if row.status in OPEN:
            row.status, row.result = status, result
            row.updated_at = row.ended_at = ctx.now()
            if row.capture_sid is not None:  # a capture ran (not a start refused)
                capture_ended(ctx, payment, result)
        view = session_view(row, payment)
    publish_session(ctx, view)
    return view


def capture_ended(ctx: Context, payment: Payment, result: str) -> None:
    """A capture ended without a card (``result``: Twilio's word): nothing was charged.
    The locked payment, if it was waiting (``created``) or had failed before, is
    ``failed`` with the reason in plain words, so it never sits open with nothing
    happening; a new capture may still charge it, or the agent cancels it. A declined
    payment keeps its bank's words."""
    if payment.status not in (PaymentStatus.CREATED.value, PaymentStatus.FAILED.value):
        return
    if check_transition(payment.status, PaymentStatus.FAILED):
        payment.status = PaymentStatus.FAILED.value
    # no bank answered: no decline category; the code names the telephony's result
    payment.decline_code, payment.decline_category = f"keypad.{result}"[:40], None
    payment.decline_message = f"Card entry ended: {ended_words(result)}."[:300]
    payment.decline_next_step = ENDED_NEXT_STEP
    payment.updated_at = ctx.now()


def keypad_session(ctx: Context, session_id: int) -> KeypadSessionView:
    """One session as it is now."""
    with ctx.db.transaction() as s:
        row = s.get(KeypadSession, session_id)
        if row is None:
            raise NotFound(f"no keypad capture {session_id}")
        payment = s.get(Payment, row.payment_id)
        assert payment is not None
        return session_view(row, payment)
