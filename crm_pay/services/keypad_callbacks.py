"""Keypad (DTMF) payments, the provider's side: apply a signed status callback of a
capture, and charge the token the completed capture returns.

Layer: use case (above :mod:`.charging`, whose vaulted charge it uses). A callback is
verified by the adapter before anything is read (unsigned or forged: ``Forbidden``);
then, in one transaction with the session locked, its digest is inserted (unique: a
replay, even two copies racing, is refused and changes nothing) and the masked progress
applied. The completing callback's token moves the session to ``charging`` exactly once
(under the lock); the token is then charged by :func:`.charging.charge_vaulted` (attempt
recorded first, PSP called with no transaction open, ``unknown`` left to the janitor).
Nothing here sees a card number: the provider reports it masked, the session keeps the
brand and last 4 digits (the expiry comes from the PSP's transaction).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from sqlalchemy import Insert, Select, and_, bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, Forbidden, NotFound, WebhookRejected
from crm_pay.domain.payment import SUCCESSFUL, PaymentStatus
from crm_pay.persistence.models import KeypadCallbackDigest, KeypadSession, Payment
from crm_pay.ports import KeypadCallback, KeypadField, KeypadStatus

from .charging import charge_vaulted
from .context import Context
from .keypad_sessions import (
    OPEN,
    KeypadSessionView,
    capture_ended,
    locked_session,
    publish_session,
    session_view,
    telephony_of,
)
from .keypad_words import KeypadProgress, progress_of

__all__ = ["receive_status_callback"]

log = logging.getLogger("crm_pay.keypad_payments")

# Results of a capture that ended without a card because someone stopped it; any other
# result (too many failed attempts, the Pay Connector's error...) is a failure.
_CANCELLED_RESULTS = frozenset(
    {"caller-interrupted-with-star", "caller-hung-up", "transaction-cancelled", "input-timeout"}
)


def receive_status_callback(ctx: Context, callback: KeypadCallback) -> KeypadSessionView:
    """Apply one status callback: verified first (unsigned or forged: ``Forbidden``,
    nothing read or written), then its session found (unknown: ``NotFound``) and its
    digest recorded (a replay: ``Conflict`` ``callback_replayed``, nothing changed)."""
    telephony = telephony_of(ctx)
    try:
        status = telephony.parse_status(callback)
    except WebhookRejected as exc:
        raise Forbidden(exc.message, code="webhook_rejected") from None
    try:
        with ctx.db.transaction() as s:
            row, payment = _session_of(s, ctx, status)
            # the unique digest: a replay stops here, before anything changes (a Core
            # INSERT, sent at once: nothing else waits in the unit of work)
            s.execute(
                _record_digest(),
                {"session_id": row.id, "digest": status.digest, "received_at": ctx.now()},
            )
            progress = _apply(ctx, row, payment, status)
            view = session_view(row, payment)
    except IntegrityError:
        raise _replayed() from None
    if progress is not None:
        publish_session(ctx, view, progress)
    if view.status == "charging" and status.result == "success":
        return _charge(ctx, view)
    return view


def _replayed() -> Conflict:
    return Conflict(
        "this status update was received before; nothing changed", code="callback_replayed"
    )


def _session_of(s: Session, ctx: Context, status: KeypadStatus) -> tuple[KeypadSession, Payment]:
    """The callback's session, locked, and its payment. A replay is not looked for here:
    the digest's unique insert refuses it."""
    found = _locked_with_payment(s, ctx, "capture", {"capture_id": status.capture_id})
    if found is None:
        # The provider may call back before its answer to the start was stored.
        found = _locked_with_payment(
            s, ctx, "starting", {"call_id": status.call_id, "capture_id": status.capture_id}
        )
    if found is None:
        raise NotFound(
            "no keypad capture here has that id; nothing changed", code="unknown_capture"
        )
    row, payment = found
    if row.call_sid != status.call_id:
        raise NotFound("that capture is not on that call; nothing changed", code="unknown_capture")
    if row.capture_sid is None:
        row.capture_sid = status.capture_id
        row.status = "capturing"
    return row, payment


# Statements of every callback, built once (a callback is a hot path: building them
# costs more than running them on SQLite). Parameters are bound at each execution.
_FIND = {
    # the session of a capture the provider named
    "capture": KeypadSession.capture_sid == bindparam("capture_id"),
    # on the callback's call, a session whose start answer is not stored yet; or, when
    # that answer was being stored meanwhile, the capture's session after all (on
    # PostgreSQL a lock that waited re-checks this on the row as the start left it:
    # no longer starting, now with the capture's SID)
    "starting": and_(
        KeypadSession.call_sid == bindparam("call_id"),
        or_(
            and_(KeypadSession.status == "starting", KeypadSession.capture_sid.is_(None)),
            KeypadSession.capture_sid == bindparam("capture_id"),
        ),
    ),
}


@cache
def _find_statement(which: str, *, joined: bool, locking: bool) -> Select[Any]:
    if joined:
        stmt = select(KeypadSession, Payment).join(Payment, Payment.id == KeypadSession.payment_id)
    else:
        stmt = select(KeypadSession)
    stmt = stmt.where(_FIND[which])
    if locking:
        stmt = stmt.with_for_update(of=[KeypadSession]).execution_options(populate_existing=True)
    return stmt


@cache
def _record_digest() -> Insert:
    """INSERT of a callback's digest, on the table (Core: nothing else is pending)."""
    return insert(KeypadCallbackDigest.__table__).values(
        keypad_session_id=bindparam("session_id"),
        digest=bindparam("digest"),
        received_at=bindparam("received_at"),
    )


def _locked_with_payment(
    s: Session, ctx: Context, which: str, params: dict[str, str]
) -> tuple[KeypadSession, Payment] | None:
    """The session found by ``_FIND[which]``, locked, and its payment.

    SQLite: one statement, the session joined to its payment (the transaction has held
    the write lock since ``BEGIN IMMEDIATE``: what it reads is current). PostgreSQL: the
    session is locked by a statement of its own (``FOR UPDATE``, as
    :meth:`~crm_pay.persistence.db.Database.locking`) and the payment read after it, as
    a row joined to a lock that had to wait would come back as it was before the wait
    (READ COMMITTED re-reads only the locked row)."""
    if ctx.db.is_sqlite:
        joined = s.execute(_find_statement(which, joined=True, locking=False), params).first()
        return None if joined is None else (joined[0], joined[1])
    row = s.scalars(_find_statement(which, joined=False, locking=True), params).first()
    if row is None:
        return None
    payment = s.get(Payment, row.payment_id)
    assert payment is not None
    return row, payment


def _apply(
    ctx: Context, row: KeypadSession, payment: Payment, status: KeypadStatus
) -> KeypadProgress | None:
    """The masked progress of one callback onto the locked session; its words (None:
    the session had ended, the callback is only recorded)."""
    if row.status not in OPEN:
        return None
    now = ctx.now()
    row.updated_at = now
    if status.field is not None:
        row.field = status.field
        row.fields_left = ",".join(status.fields_left)
        row.error = status.error
    if status.card_brand:
        row.card_brand = status.card_brand[:40]
    masked = status.masked or ""
    if (
        status.field == KeypadField.CARD_NUMBER.value
        and not status.partial
        and not status.error
        and masked[-4:].isdigit()
    ):
        row.card_last4 = masked[-4:]
    if status.result is None:
        # the session's first callback names no field yet: nothing for the agent to read
        return progress_of(status) if status.field is not None else None
    row.result = status.result[:80]
    if status.result == "success" and status.token:
        # once only: a second copy finds the session charging and is only recorded
        row.status = "charging"
        payment.payment_method_token = status.token[:100]
    else:
        row.status = "cancelled" if status.result in _CANCELLED_RESULTS else "failed"
        row.ended_at = now
        capture_ended(ctx, payment, status.result)
    return progress_of(status)


def _charge(ctx: Context, view: KeypadSessionView) -> KeypadSessionView:
    """Charge the token the capture produced, as every vaulted charge is charged."""
    try:
        charged = charge_vaulted(ctx, view.payment_id)
    except Conflict as exc:
        log.error("keypad capture %s: the token was not charged: %s", view.id, exc.message)
        outcome = "failed"
    else:
        status = charged["status"]
        if status in {s.value for s in SUCCESSFUL}:
            outcome = "charged"
        elif status in (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value):
            outcome = "declined"
        else:  # unknown or held: the janitor / a supervisor moves the payment on
            outcome = "charging"
    with ctx.db.transaction() as s:
        row, payment = locked_session(s, ctx, view.id)
        if row.status == "charging":
            row.status = outcome
            row.updated_at = ctx.now()
            if outcome != "charging":
                row.ended_at = row.updated_at
            # what the PSP's transaction showed of the card (the expiry is only there)
            row.card_brand = payment.card_brand or row.card_brand
            row.card_last4 = payment.card_last4 or row.card_last4
            row.card_exp = payment.card_exp
        result = session_view(row, payment)
    publish_session(ctx, result)
    return result
