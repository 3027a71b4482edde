"""Keypad (DTMF) payments, the agent's steps: start a capture on the call for an ``ivr``
payment, ask for a field, complete, cancel. The customer keys the card on the phone; the
telephony provider (``ctx.telephony``, Twilio's agent-assisted Pay in
``connectors/telephony/twilio``) tokenizes it; :mod:`.keypad_callbacks` applies the
provider's status callbacks and charges the token.

Layer: use case. The charging discipline of :mod:`.charging`, applied to the capture:
every call to the provider is recorded first, in a short transaction with the payment or
session row locked, with a deterministic idempotency key ``keypad:<session>:<n>``; the
provider is called with no transaction open; its answer is applied in a second short
transaction. A start the provider did not answer stays ``starting`` and is retried with
the same key. A capture that ends without a card (cancelled, ``*``, hung up, timed out)
ends the session and marks a waiting payment ``failed`` in plain words
(:func:`.keypad_sessions.capture_ended`): nothing was charged, and the agent may start
another capture on it or cancel it.
"""

from __future__ import annotations

from sqlalchemy import select

from crm_pay.domain.errors import Conflict, CrmPayError, NotFound, ValidationError
from crm_pay.domain.payment import Channel, PaymentStatus
from crm_pay.persistence.models import KeypadSession, Payment
from crm_pay.ports import KEYPAD_FIELDS, KeypadCaptureRequest, KeypadField

from . import audit
from .context import Context
from .keypad_sessions import (
    BUSY,
    OPEN,
    KeypadSessionView,
    capture_of,
    end_session,
    keypad_session,
    locked_session,
    next_request_key,
    publish_session,
    session_view,
    status_url,
    telephony_of,
)
from .keypad_words import FIELD_LABELS, KeypadProgress

__all__ = ["ask_for_field", "cancel_capture", "complete_capture", "start_capture"]


def start_capture(ctx: Context, payment_id: str, *, call_sid: str, actor: str) -> KeypadSessionView:
    """Start a keypad capture on the call for an ``ivr`` payment, and ask for the card
    number. A start the provider did not answer is retried with the same key."""
    telephony = telephony_of(ctx)
    # Before any transaction: a provider built on first use reads its credentials from
    # the vault, which on SQLite would wait for the transaction below to end.
    provider = telephony.name
    call_sid = (call_sid or "").strip()
    if not call_sid or len(call_sid) > 64:
        raise ValidationError("give the call's id (Twilio: the Call SID, CA…)")
    now = ctx.now()
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if payment.channel != Channel.IVR.value:
            raise Conflict("only a keypad (ivr) payment can be taken on the phone's keypad")
        if payment.status not in (
            PaymentStatus.CREATED.value,
            PaymentStatus.DECLINED.value,
            PaymentStatus.FAILED.value,
        ):
            raise Conflict(f"payment is {payment.status}; it cannot be charged now")
        running = s.scalars(
            select(KeypadSession).where(
                KeypadSession.payment_id == payment.id, KeypadSession.status.in_(BUSY)
            )
        ).first()
        if running is not None and not (
            running.status == "starting" and running.call_sid == call_sid
        ):
            raise Conflict(
                "a keypad capture is already running for this payment; cancel it first",
                code="capture_in_progress",
            )
        if running is None:
            running = KeypadSession(
                payment_id=payment.id,
                provider=provider,
                call_sid=call_sid,
                status="starting",
                fields_left="",
                requests=0,
                started_by=actor,
                created_at=now,
                updated_at=now,
            )
            s.add(running)
            s.flush()
            audit.record(
                s,
                ctx,
                actor=actor,
                action="keypad.started",
                subject=payment.id,
                data={"call": call_sid, "keypad_session": running.id},
            )
        session_id, currency = running.id, payment.currency
    request = KeypadCaptureRequest(
        call_id=call_sid,
        request_key=f"keypad:{session_id}:start",
        status_url=status_url(ctx.settings),
        currency=currency,
    )
    try:
        capture = telephony.start_capture(request)
    except CrmPayError as exc:
        if exc.code != "telephony_unavailable":  # refused: nothing was started
            end_session(ctx, session_id, "failed", result=exc.code)
        raise
    with ctx.db.transaction() as s:
        row, payment = locked_session(s, ctx, session_id)
        if row.status == "starting":
            row.capture_sid = capture.capture_id
            row.status = "capturing"
            row.updated_at = ctx.now()
        view = session_view(row, payment)
    publish_session(ctx, view)
    return ask_for_field(ctx, session_id, KeypadField.CARD_NUMBER.value, actor=actor)


def ask_for_field(ctx: Context, session_id: int, field: str, *, actor: str) -> KeypadSessionView:
    """Prompt the customer for ``field`` (again, if it was entered before)."""
    telephony = telephony_of(ctx)
    if field not in KEYPAD_FIELDS:
        raise ValidationError(f"{field!r} is not a card field; use one of {sorted(KEYPAD_FIELDS)}")
    with ctx.db.transaction() as s:
        row, _ = locked_session(s, ctx, session_id)
        if row.status != "capturing":
            raise Conflict(f"the keypad capture is {row.status}; no field can be asked for now")
        key, capture = next_request_key(row), capture_of(row)
    telephony.ask_for(capture, field, request_key=key, status_url=status_url(ctx.settings))
    with ctx.db.transaction() as s:
        row, payment = locked_session(s, ctx, session_id)
        if row.status == "capturing":
            row.field, row.error = field, None
            row.updated_at = ctx.now()
        view = session_view(row, payment)
    progress = KeypadProgress(field, False, f"{FIELD_LABELS[field]}: asked for")
    publish_session(ctx, view, progress)
    return view


def complete_capture(ctx: Context, session_id: int, *, actor: str) -> KeypadSessionView:
    """Have the provider send the entered card to its Pay Connector; the token comes in a
    status callback, which charges it (:func:`receive_status_callback`)."""
    telephony = telephony_of(ctx)
    with ctx.db.transaction() as s:
        row, _ = locked_session(s, ctx, session_id)
        if row.status not in ("capturing", "completing"):
            raise Conflict(f"the keypad capture is {row.status}; it cannot be completed now")
        left = [f for f in row.fields_left.split(",") if f]
        if row.card_last4 is None or left:
            missing = left or [KeypadField.CARD_NUMBER.value]
            raise Conflict(
                "still needed from the customer: "
                + ", ".join(FIELD_LABELS.get(f, f) for f in missing),
                code="capture_incomplete",
            )
        row.status = "completing"
        row.updated_at = ctx.now()
        key, capture = next_request_key(row), capture_of(row)
        audit.record(
            s,
            ctx,
            actor=actor,
            action="keypad.completed",
            subject=row.payment_id,
            data={"keypad_session": row.id},
        )
    try:
        telephony.complete(capture, request_key=key, status_url=status_url(ctx.settings))
    except Conflict:
        # refused (fields missing, the call ended): the capture goes on as it was
        with ctx.db.transaction() as s:
            row, _ = locked_session(s, ctx, session_id)
            if row.status == "completing":
                row.status = "capturing"
        raise
    return keypad_session(ctx, session_id)


def cancel_capture(ctx: Context, session_id: int, *, actor: str) -> KeypadSessionView:
    """End the capture; nothing entered is sent anywhere. A waiting payment is
    ``failed`` ("card entry ended"); another capture may still charge it."""
    telephony = telephony_of(ctx)
    with ctx.db.transaction() as s:
        row, _ = locked_session(s, ctx, session_id)
        if row.status not in OPEN:
            raise Conflict(f"the keypad capture is {row.status}; there is nothing to cancel")
        key = next_request_key(row)
        capture = capture_of(row) if row.capture_sid else None
        audit.record(
            s,
            ctx,
            actor=actor,
            action="keypad.cancelled",
            subject=row.payment_id,
            data={"keypad_session": row.id},
        )
    if capture is not None:
        telephony.cancel(capture, request_key=key, status_url=status_url(ctx.settings))
    view = end_session(ctx, session_id, "cancelled", result="transaction-cancelled")
    return view
