"""Settlement truth: what the PSP says of approved payments that have not settled yet.

Card transactions at Braintree settle in the nightly batch and no webhook says so (the
``transaction_settled`` / ``transaction_settlement_declined`` notifications exist for
ACH and SEPA bank transfers only). So the PSP is asked (reliability rule 8, docs/architecture.md):

- on a schedule (:func:`check_settlements`, run by the janitor): every approved payment
  not checked for ``settlement_poll_seconds`` is looked up in one search per batch
  of ids, and those that settled, were declined at settlement or voided are applied;
- on demand (:func:`refresh_from_psp`): before a refund or void, and when a payment is
  read through the API, the one transaction is found and applied.

The PSP call runs with no transaction open; what it says is applied under the
payment's row lock by :func:`psp_outcome.apply_transaction`, which writes each move once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from crm_pay.domain.errors import PspUnavailable
from crm_pay.domain.payment import PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Payment
from crm_pay.ports import PspTransaction, PspTxnStatus

from .context import Context
from .psp_outcome import apply_transaction, publish_status

__all__ = ["SettlementReport", "check_settlements", "refresh_from_psp", "UNSETTLED"]

log = logging.getLogger("crm_pay.settlement")

#: Our statuses in which a sale is approved but its settlement is not known yet.
UNSETTLED = (PaymentStatus.AUTHORIZED.value, PaymentStatus.SUBMITTED_FOR_SETTLEMENT.value)

# PSP statuses that change an approved, unsettled payment of ours.
_CHANGED = (PspTxnStatus.SETTLED, PspTxnStatus.SETTLEMENT_DECLINED, PspTxnStatus.VOIDED)


@dataclass
class SettlementReport:
    checked: int = 0
    settled: int = 0
    declined: int = 0
    voided: int = 0


def check_settlements(ctx: Context, *, limit: int = 1000) -> SettlementReport:
    """One pass over approved payments due for a settlement check (oldest check first)."""
    report = SettlementReport()
    now = ctx.now()
    due_before = now - timedelta(seconds=ctx.settings.settlement_poll_seconds)
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(Payment.id, Payment.psp_transaction_id)
            .where(
                Payment.status.in_(UNSETTLED),
                Payment.psp_transaction_id.is_not(None),
                or_(
                    Payment.settlement_checked_at.is_(None),
                    Payment.settlement_checked_at <= due_before,
                ),
            )
            .order_by(Payment.settlement_checked_at.is_not(None), Payment.settlement_checked_at)
            .limit(limit)
        ).all()
    if not rows:
        return report
    by_psp_id = {str(psp_id): pid for pid, psp_id in rows}
    try:
        found = ctx.psp.find_many(list(by_psp_id), statuses=_CHANGED)
    except PspUnavailable as exc:
        log.warning("settlement check: PSP unavailable (%s); will try again", exc)
        return report
    report.checked = len(rows)
    changed: list[str] = []
    for txn in found:
        payment_id = by_psp_id.get(txn.id)
        if payment_id is None:
            continue  # not one we asked about
        status = _apply(ctx, payment_id, txn)
        if status == PaymentStatus.SETTLED.value:
            report.settled += 1
        elif status == PaymentStatus.SETTLEMENT_DECLINED.value:
            report.declined += 1
        elif status == PaymentStatus.VOIDED.value:
            report.voided += 1
        if status not in UNSETTLED:
            changed.append(payment_id)
    with ctx.db.transaction() as s:
        for payment_id in by_psp_id.values():
            payment = s.get(Payment, payment_id)
            if payment is not None:
                payment.settlement_checked_at = now
    for payment_id in changed:
        publish_status(ctx, payment_id)
    return report


def refresh_from_psp(
    ctx: Context,
    payment_id: str,
    *,
    apply_voids: bool = True,
    max_age_seconds: int | None = None,
) -> PspTransaction | None:
    """Find the payment's sale at the PSP now and apply what changed (settled, settlement
    declined, voided). Returns the PSP's transaction, or None if it has none or the
    payment has no PSP reference. Raises ``PspUnavailable`` when the PSP does not answer.

    Only approved, unsettled payments are looked up (the others' state at the PSP cannot
    change ours); with ``max_age_seconds`` not when checked that recently. ``apply_voids=False``
    leaves a void to the caller: the refund flow books a void it asked for (a retry after
    a timeout) with its own receipt."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or not payment.psp_transaction_id or payment.status not in UNSETTLED:
            return None
        checked = as_utc(payment.settlement_checked_at)
        if (
            max_age_seconds is not None
            and checked is not None
            and ctx.now() - checked < timedelta(seconds=max_age_seconds)
        ):
            return None
        psp_id, before = payment.psp_transaction_id, payment.status
    txn = ctx.psp.find(psp_id)
    if txn is None:
        return None
    if apply_voids or txn.status is not PspTxnStatus.VOIDED:
        after = _apply(ctx, payment_id, txn)
        if after != before:
            publish_status(ctx, payment_id)
    return txn


def _apply(ctx: Context, payment_id: str, txn: PspTransaction) -> str:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status in UNSETTLED:
            apply_transaction(s, ctx, payment, txn)
            payment.settlement_checked_at = ctx.now()
            if payment.status not in UNSETTLED:
                log.info("payment %s is %s at the PSP (%s)", payment_id, payment.status, txn.id)
        return payment.status
