"""The janitor: asks the PSP about payments whose outcome we do not know.

A payment is in doubt when a PSP call timed out or failed with a 5xx (``unknown``) or
when a process died between recording the attempt and applying the answer
(``processing`` for longer than a request can take). The janitor finds the attempt at the
PSP by its deterministic order id and applies what the PSP says; it never charges.

Layer: use case (run by ``crm-pay worker`` and ``crm-pay janitor``; the on-read check of
``payments.get_payment`` calls :func:`resolve_payment`). It applies answers through
:mod:`.psp_outcome` and also drives the settlement and waiting-webhook sweeps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import DeclineCategory, advice_for
from crm_pay.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.locks import exclusive
from crm_pay.persistence.models import Customer, PayLink, Payment
from crm_pay.ports import PspTransaction
from vault import pan

from . import audit, console_sessions
from .access import Principal, has_role
from .cases import open_case
from .context import Context
from .notifications import queue_in_review_notice
from .pay_links import expire_payment, link_of, publish_expired
from .payment_records import IN_DOUBT, add_event, crm_sync_messages, order_id_for, transition
from .psp_outcome import apply_transaction, publish_status
from .settlement import SettlementReport, check_settlements
from .views import payment_view
from .webhooks import retry_pending_webhooks

__all__ = ["JanitorReport", "resolve_payment", "resolve_unknown_by_hand", "run_janitor"]

log = logging.getLogger("crm_pay.janitor")

# A request in flight takes at most the SDK timeout; after this a "processing" payment
# is treated as in doubt.
PROCESSING_GRACE = timedelta(seconds=90)
# How long a payment picked for a check is left to the janitor that picked it (longer
# than one PSP search can take); after it, another worker's janitor may check it.
CHECK_LEASE = timedelta(seconds=120)


@dataclass
class JanitorReport:
    checked: int = 0
    resolved: int = 0
    still_unknown: int = 0
    expired: int = 0
    settlement: SettlementReport | None = None
    webhooks: dict[str, int] | None = None  # waiting PSP notices re-applied, by outcome
    sessions_purged: int = 0  # old console session rows deleted


def _pick(found: list[PspTransaction]) -> PspTransaction | None:
    sales = [t for t in found if t.kind == "sale"]
    if not sales:
        return None
    approved = [
        t
        for t in sales
        if t.status.value in ("authorized", "submitted_for_settlement", "settling", "settled")
    ]
    return (approved or sales)[0]


def resolve_payment(ctx: Context, payment_id: str) -> bool:
    """Ask the PSP about one payment in doubt. Returns True if it was resolved."""
    resolved = _resolve(ctx, payment_id)
    if resolved:
        publish_status(ctx, payment_id)
    return resolved


def _resolve(ctx: Context, payment_id: str) -> bool:
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.status not in IN_DOUBT:
            return False
        order_id = order_id_for(payment.id, payment.attempt)
    try:
        txn = _pick(list(ctx.psp.find_by_order_id(order_id)))
    except PspUnavailable as exc:
        log.warning("janitor: PSP unavailable for %s: %s", payment_id, exc)
        txn = None
        reachable = False
    else:
        reachable = True
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status not in IN_DOUBT:
            return True  # someone else resolved it meanwhile
        now = ctx.now()
        if payment.status == PaymentStatus.PROCESSING.value:
            transition(s, ctx, payment, PaymentStatus.UNKNOWN)
        if payment.in_doubt_since is None:
            payment.in_doubt_since = as_utc(payment.updated_at) or now
        if txn is not None:
            applied = apply_transaction(s, ctx, payment, txn)
            log.info("janitor resolved %s -> %s", payment_id, payment.status)
            if applied and payment.status != PaymentStatus.UNKNOWN.value:
                return True
        elif reachable and now - as_utc(payment.in_doubt_since) >= _window(ctx):  # type: ignore[operator]
            _fail_not_at_psp(s, ctx, payment, order_id, actor="janitor")
            return True
        payment.janitor_checks += 1
        delay = min(3600, ctx.settings.janitor_first_check_seconds * 2**payment.janitor_checks)
        payment.next_check_at = now + timedelta(seconds=delay)
        # Still in doubt after several checks (the PSP down, or inside its search window
        # for long): a person should know, whatever the janitor concludes later.
        if payment.janitor_checks >= ctx.settings.janitor_case_after_checks:
            open_case(
                s,
                ctx,
                kind="unknown_at_psp",
                subject=payment.id,
                payment_id=payment.id,
                detail={"order_id": order_id, "checks": payment.janitor_checks},
            )
            if payment.channel in ("link", "ivr"):  # the customer paid; tell them to wait
                customer = s.get(Customer, payment.customer_id)
                assert customer is not None
                queue_in_review_notice(s, ctx, payment, customer)
        return False


def _window(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.unknown_window_seconds)


def _fail_not_at_psp(
    session: Session, ctx: Context, payment: Payment, order_id: str, *, actor: str, note: str = ""
) -> None:
    """The PSP has no trace of the attempt after the search window: it never reached the
    PSP. The payment fails (``not_at_psp``) so the customer may pay again. The attempt's
    request key and order id are never used again (a new attempt gets new ones), so a
    sale that did reach the PSP after all is still found by its order id, never
    repeated by a retry."""
    transition(session, ctx, payment, PaymentStatus.FAILED)
    advice = advice_for(DeclineCategory.NOT_AT_PSP, code="not_at_psp")
    payment.decline_code = advice.code
    payment.decline_category = advice.category
    payment.decline_message = advice.message
    payment.decline_next_step = advice.next_step
    payment.next_check_at = None
    add_event(
        session,
        ctx,
        payment,
        EventKind.SALE_FAILED,
        detail={"reason": "not_at_psp", "order_id": order_id, "note": note[:500]},
    )
    audit.record(
        session,
        ctx,
        actor=actor,
        action="payment.not_at_psp",
        subject=payment.id,
        data={"order_id": order_id, "note": note[:500]},
    )
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    crm_sync_messages(session, ctx, payment, customer, f"not_at_psp:{payment.attempt}")
    log.warning("payment %s failed: attempt %s never reached the PSP", payment.id, order_id)


def resolve_unknown_by_hand(
    ctx: Context, payment_id: str, *, principal: Principal, note: str
) -> dict[str, Any]:
    """A supervisor closes a payment in doubt. The PSP is asked once more first: if it
    has the sale, what it says is applied (nobody can declare failed a payment that
    took money); if it has none, the payment fails as ``not_at_psp`` with the note,
    audited, and the customer may pay again."""
    if not has_role(principal, "supervisor"):
        raise Forbidden("only a supervisor can resolve a payment in doubt")
    note = pan.redact(str(note or "")).strip()
    if not note:
        raise ValidationError("say why in the note: a resolution without a reason is not kept")
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if payment.status not in IN_DOUBT:
            raise Conflict(
                f"payment is {payment.status}, not in doubt; nothing to resolve",
                code="not_in_doubt",
            )
        since = as_utc(payment.updated_at)
        if payment.status == PaymentStatus.PROCESSING.value and (
            since is not None and ctx.now() - since < PROCESSING_GRACE
        ):
            # The PSP call may still be in flight: its answer must not find the payment
            # failed by hand (a success could then no longer be applied).
            raise Conflict(
                "the payment provider is still being asked about this payment; try again "
                f"in {int(PROCESSING_GRACE.total_seconds())} seconds",
                code="payment_in_flight",
            )
        order_id = order_id_for(payment.id, payment.attempt)
    # Raises PspUnavailable: without the PSP's word nobody may close it.
    txn = _pick(list(ctx.psp.find_by_order_id(order_id)))
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status in IN_DOUBT:
            if payment.status == PaymentStatus.PROCESSING.value:
                transition(s, ctx, payment, PaymentStatus.UNKNOWN)
            if txn is not None:
                apply_transaction(s, ctx, payment, txn)
                audit.record(
                    s,
                    ctx,
                    actor=principal.actor,
                    action="payment.resolved_from_psp",
                    subject=payment.id,
                    data={"status": payment.status, "note": note[:500]},
                )
            else:
                _fail_not_at_psp(s, ctx, payment, order_id, actor=principal.actor, note=note)
        view = payment_view(s, ctx, payment)
    publish_status(ctx, payment_id)
    return view


def run_janitor(ctx: Context, *, limit: int = 100) -> JanitorReport:
    """One pass: payments in doubt that are due for a check, and links past expiry."""
    report = JanitorReport()
    now = ctx.now()
    with ctx.db.transaction() as s:
        due = _claim_due(s, ctx, now, limit)
        awaiting = list(
            s.scalars(
                select(Payment.id)
                .join(PayLink, PayLink.payment_id == Payment.id)
                .where(Payment.status == "awaiting_customer", PayLink.expires_at <= now)
                .limit(limit)
            )
        )
    for pid in due:
        report.checked += 1
        try:
            resolved = resolve_payment(ctx, pid)
        except Exception:  # noqa: BLE001 - one bad payment must not stop the others' checks
            log.exception("janitor could not resolve payment %s; will retry", pid)
            resolved = False
        if resolved:
            report.resolved += 1
        else:
            report.still_unknown += 1
    for pid in awaiting:
        expired = False
        with ctx.db.transaction() as s:
            payment = ctx.db.lock(s, Payment, pid)
            link = link_of(s, pid)
            if (
                payment is not None
                and link is not None
                and as_utc(link.expires_at) <= ctx.now()  # type: ignore[operator]
                and payment.status == PaymentStatus.AWAITING_CUSTOMER.value
            ):
                expired = expire_payment(s, ctx, payment)
                report.expired += 1
        if expired:
            publish_expired(ctx, pid)
    # The sweeps below read many rows and ask the PSP about them: one worker at a time
    # (the others skip them this pass; the next pass of whichever is free does them).
    with exclusive(ctx.db, "janitor.sweeps") as mine:
        if mine:
            report.settlement = check_settlements(ctx)
            # Notices that arrived before the payment they concern could take them.
            report.webhooks = retry_pending_webhooks(ctx)
            # Console sessions that ended more than console_sessions.RETENTION ago.
            report.sessions_purged = console_sessions.purge_old(ctx)
    return report


def _claim_due(session: Session, ctx: Context, now: datetime, limit: int) -> list[str]:
    """The payments in doubt due for a check, leased to this janitor.

    Several ``crm-pay worker`` processes run the janitor at once: each payment must be
    asked about by one of them only. The due rows are read ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (a row another janitor is claiming right now is skipped, not waited for)
    and their ``next_check_at`` is moved ``CHECK_LEASE`` ahead in the same transaction,
    so once committed they are no longer due for anyone else. The check itself sets the
    real next check time; a janitor that dies mid-check leaves the lease to run out and
    another takes the payment then. A ``processing`` payment counts its ``next_check_at``
    only when set after its last change (an older value belongs to an earlier attempt).
    SQLite: the transaction holds the database write lock; one process is assumed.
    """
    stmt = (
        select(Payment)
        .where(
            or_(
                (Payment.status == "unknown")
                & or_(Payment.next_check_at.is_(None), Payment.next_check_at <= now),
                (Payment.status == "processing")
                & (Payment.updated_at <= now - PROCESSING_GRACE)
                & or_(
                    Payment.next_check_at.is_(None),
                    Payment.next_check_at <= now,
                    Payment.next_check_at < Payment.updated_at,
                ),
            )
        )
        .order_by(Payment.next_check_at.is_not(None), Payment.next_check_at)
        .limit(limit)
    )
    if not ctx.db.is_sqlite:
        stmt = stmt.with_for_update(skip_locked=True, of=Payment)
    due = list(session.scalars(stmt))
    for payment in due:
        # updated_at stays: the lease is not a change of the payment.
        payment.next_check_at = now + CHECK_LEASE
    return [p.id for p in due]
