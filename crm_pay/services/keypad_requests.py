"""The agent's keypad steps as the API and the console ask for them: by payment, not by
capture, and once per Idempotency-Key.

Layer: use case (above :mod:`.keypad_payments`, whose steps it runs). A payment's
*current* capture is its latest keypad session; asking for a field, completing or
cancelling act on it. A request with an ``Idempotency-Key`` claims the key first (in its
own short transaction, as :mod:`.idempotency` describes); the same request sent again is
answered with the capture as it is now, and nothing is sent to the provider twice. A
step the provider or the rules refused releases its claim: nothing changed, so the same
request may be sent again once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from crm_pay.domain.errors import Conflict, CrmPayError, NotFound
from crm_pay.persistence.models import KeypadSession, Payment

from . import idempotency, keypad_payments
from .context import Context
from .keypad_sessions import KeypadSessionView, keypad_session, session_view, telephony_of

__all__ = ["STEPS", "current_session", "keypad_step"]

STEPS = ("start", "ask", "complete", "cancel")


def current_session(ctx: Context, payment_id: str) -> KeypadSessionView | None:
    """The payment's latest keypad capture (masked card only), or None when none was
    started. ``NotFound`` for an unknown payment."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        row = s.scalars(
            select(KeypadSession)
            .where(KeypadSession.payment_id == payment_id)
            .order_by(KeypadSession.id.desc())
            .limit(1)
        ).first()
        return None if row is None else session_view(row, payment)


def _current_id(ctx: Context, payment_id: str) -> int:
    view = current_session(ctx, payment_id)
    if view is None:
        raise Conflict(
            "no keypad capture was started for this payment; start one on the call first",
            code="no_keypad_capture",
        )
    return view.id


def keypad_step(
    ctx: Context,
    payment_id: str,
    step: str,
    *,
    actor: str,
    call_sid: str = "",
    field: str = "",
    idempotency_scope: str,
    idempotency_key: str = "",
    request_hash: str = "",
) -> tuple[KeypadSessionView, bool]:
    """Run one of :data:`STEPS` on the payment's capture; ``(view, done_now)``, where
    ``done_now`` is False for a request answered from its Idempotency-Key."""
    run: dict[str, Callable[[], KeypadSessionView]] = {
        "start": lambda: keypad_payments.start_capture(
            ctx, payment_id, call_sid=call_sid, actor=actor
        ),
        "ask": lambda: keypad_payments.ask_for_field(
            ctx, _current_id(ctx, payment_id), field, actor=actor
        ),
        "complete": lambda: keypad_payments.complete_capture(
            ctx, _current_id(ctx, payment_id), actor=actor
        ),
        "cancel": lambda: keypad_payments.cancel_capture(
            ctx, _current_id(ctx, payment_id), actor=actor
        ),
    }
    if step not in run:
        raise ValueError(f"unknown keypad step {step!r}")
    telephony_of(ctx)  # not set up: 503 before anything is read or claimed
    if not idempotency_key:
        return run[step](), True
    scope = f"keypad_{step}:{idempotency_scope}"
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:
            idempotency.check_same_request(
                record, request_hash, advice="use a new key for another keypad step"
            )
            body = record.response_body or {}
            if record.response_status is None or "keypad_session" not in body:
                raise idempotency.in_progress()
            replay = int(body["keypad_session"])
        else:
            replay = None
            idempotency.claim(
                s,
                scope=scope,
                key=idempotency_key,
                request_hash=request_hash,
                payment_id=payment_id,
                now=ctx.now(),
            )
    if replay is not None:
        return keypad_session(ctx, replay), False
    try:
        view = run[step]()
    except CrmPayError:
        with ctx.db.transaction() as s:  # refused: nothing changed, the key is free again
            record = idempotency.find_record(s, scope, idempotency_key)
            if record is not None:
                s.delete(record)
        raise
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        assert record is not None
        record.response_status = 200
        record.response_body = {"payment_id": payment_id, "keypad_session": view.id}
    return view, True
