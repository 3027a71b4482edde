"""The janitor: asks the PSP about payments whose outcome we do not know.

A payment is in doubt when a PSP call timed out or failed with a 5xx (``unknown``) or
when a process died between recording the attempt and applying the answer
(``processing`` for longer than a request can take). The janitor finds the attempt at the
PSP by its deterministic order id and applies what the PSP says; it never charges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from crm_pay.domain.errors import PspUnavailable
from crm_pay.domain.payment import PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import PayLink, Payment
from crm_pay.ports import PspTransaction

from .cases import open_case
from .charging import _expire, apply_transaction, order_id_for, publish_status
from .context import Context
from .payments import transition

__all__ = ["JanitorReport", "resolve_payment", "run_janitor"]

log = logging.getLogger("crm_pay.janitor")

# A request in flight takes at most the SDK timeout; after this a "processing" payment
# is treated as in doubt.
PROCESSING_GRACE = timedelta(seconds=90)


@dataclass
class JanitorReport:
    checked: int = 0
    resolved: int = 0
    still_unknown: int = 0
    expired: int = 0


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
        if payment is None or payment.status not in ("unknown", "processing"):
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
        if payment.status not in ("unknown", "processing"):
            return True  # someone else resolved it meanwhile
        if txn is not None:
            if payment.status == PaymentStatus.PROCESSING.value:
                transition(s, ctx, payment, PaymentStatus.UNKNOWN)
            apply_transaction(s, ctx, payment, txn)
            log.info("janitor resolved %s -> %s", payment_id, payment.status)
            resolved = payment.status != PaymentStatus.UNKNOWN.value
            if resolved:
                return True
        payment.janitor_checks += 1
        delay = min(3600, ctx.settings.janitor_first_check_seconds * 2**payment.janitor_checks)
        payment.next_check_at = ctx.now() + timedelta(seconds=delay)
        if payment.status == PaymentStatus.PROCESSING.value:
            transition(s, ctx, payment, PaymentStatus.UNKNOWN)
        if reachable and payment.janitor_checks >= ctx.settings.janitor_case_after_checks:
            open_case(
                s,
                ctx,
                kind="unknown_at_psp",
                subject=payment.id,
                payment_id=payment.id,
                detail={"order_id": order_id, "checks": payment.janitor_checks},
            )
        return False


def run_janitor(ctx: Context, *, limit: int = 100) -> JanitorReport:
    """One pass: payments in doubt that are due for a check, and links past expiry."""
    report = JanitorReport()
    now = ctx.now()
    with ctx.db.transaction() as s:
        due = list(
            s.scalars(
                select(Payment.id)
                .where(
                    or_(
                        (Payment.status == "unknown")
                        & or_(Payment.next_check_at.is_(None), Payment.next_check_at <= now),
                        (Payment.status == "processing")
                        & (Payment.updated_at <= now - PROCESSING_GRACE),
                    )
                )
                .limit(limit)
            )
        )
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
            link = s.scalars(select(PayLink).where(PayLink.payment_id == pid)).first()
            if (
                payment is not None
                and link is not None
                and as_utc(link.expires_at) <= ctx.now()  # type: ignore[operator]
                and payment.status == PaymentStatus.AWAITING_CUSTOMER.value
            ):
                _expire(s, ctx, payment)
                report.expired += 1
                expired = True
        if expired:
            ctx.publish(pid, {"status": PaymentStatus.EXPIRED.value})
    return report
