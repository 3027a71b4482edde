"""Disputes as records: every dispute notice (webhook or a supervisor's answer) updates
one ``Dispute`` row, and money moves in the ledger only when the PSP says it is gone
(lost, accepted, auto-accepted, expired) or back (won after it was gone) — each exactly
once, whatever the order or number of notices. The ``disputed`` case follows the
dispute (status, outcome) and stays open until a person resolves it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import (
    NotFound,
    ValidationError,
)
from crm_pay.domain.evidence import reply_days_left
from crm_pay.domain.money import Money
from crm_pay.domain.payment import DISPUTE_MONEY_GONE, EventKind
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Case,
    Customer,
    Dispute,
    DisputeEvidence,
    Payment,
    PaymentEventRow,
)
from crm_pay.ports import PspDispute

from . import audit
from .cases import open_case, reopen_case
from .context import Context
from .customers import load_ledger, persist_entries
from .payment_records import add_event, crm_sync_messages, crm_timeline_note

__all__ = [
    "DISPUTE_KINDS",
    "MONEY_GONE",
    "dispute_amount",
    "dispute_record_view",
    "evidence_view",
    "record_dispute_notice",
]

log = logging.getLogger("crm_pay.disputes")

# Braintree's dispute webhook kinds and the dispute status each one reports
# (braintree_python webhook_notification.py Kind, dispute.py Dispute.Status).
DISPUTE_KINDS: dict[str, str] = {
    "dispute_opened": "open",
    "dispute_under_review": "under_review",
    "dispute_disputed": "disputed",
    "dispute_won": "won",
    "dispute_lost": "lost",
    "dispute_accepted": "accepted",
    "dispute_auto_accepted": "auto_accepted",
    "dispute_expired": "expired",
}
# Statuses in which the issuer keeps the disputed amount: booked as a chargeback.
MONEY_GONE = DISPUTE_MONEY_GONE  # one rule, in the domain
_EVENT_FOR = {
    "lost": EventKind.DISPUTE_LOST,
    "accepted": EventKind.DISPUTE_ACCEPTED,
    "auto_accepted": EventKind.DISPUTE_ACCEPTED,
    "expired": EventKind.DISPUTE_EXPIRED,
}
_WORDS = {
    "open": "opened",
    "under_review": "under review",
    "disputed": "answered with evidence",
    "won": "won",
    "lost": "lost",
    "accepted": "accepted",
    "auto_accepted": "accepted automatically",
    "expired": "expired without an answer",
}


# --------------------------------------------------------------------------- notices
def record_dispute_notice(
    session: Session,
    ctx: Context,
    payment: Payment,
    notice: PspDispute,
    *,
    status: str,
    at: datetime,
    source: str,
) -> Dispute:
    """Apply one dispute status (from a webhook or a supervisor's action) to its record.

    ``at`` is the PSP's time of the status: an older status than the one recorded goes
    into the history only. The ledger then follows the current status (see module doc).
    """
    row = session.scalars(
        select(Dispute).where(Dispute.psp_dispute_id == notice.id).with_for_update()
    ).first()
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    problem = _amount_problem(payment, notice)
    if row is None:
        row = Dispute(
            psp_dispute_id=notice.id,
            payment_id=payment.id,
            kind=notice.kind[:20],
            reason=notice.reason[:60],
            amount_minor=notice.amount.minor if notice.amount is not None else None,
            currency=notice.amount.currency if notice.amount is not None else None,
            status=status,
            status_at=at,
            status_history=[],
            reply_by=notice.reply_by,
            case_number=notice.case_number,
            booked_minor=0,
            pending_action=None,
            finalized_at=None,
            opened_at=ctx.now(),
            updated_at=ctx.now(),
        )
        session.add(row)
        session.flush()
        if problem is None:
            add_event(
                session,
                ctx,
                payment,
                EventKind.DISPUTE_OPENED,
                amount=dispute_amount(row),
                psp_reference=notice.id,
            )
    entry = {"status": status, "at": at.isoformat(), "source": source}
    if entry not in row.status_history:
        row.status_history = [*row.status_history, entry]
    moved = False
    if (at, _rank(status)) >= (as_utc(row.status_at), _rank(row.status)):
        moved = row.status != status or len(row.status_history) == 1
        row.status, row.status_at = status, at
        if notice.reply_by is not None:
            row.reply_by = notice.reply_by
    row.updated_at = ctx.now()
    case = open_case(
        session,
        ctx,
        kind="disputed",
        subject=f"dispute:{notice.id}",
        payment_id=payment.id,
        detail={},
        reopen=False,  # each notice of the dispute calls this; money moving reopens it
    )
    booked = _follow_money(session, ctx, payment, customer, row, problem)
    _update_case(session, ctx, case, row, problem, reopen=booked)
    if moved:
        _announce(session, ctx, payment, customer, row, source)
    return row


def _rank(status: str) -> int:
    # Notices of one second (Braintree's timestamps have no finer grain) are ordered by
    # how far along a dispute they are: an opening never undoes an outcome.
    if status in MONEY_GONE or status == "won":
        return 2
    return 0 if status == "open" else 1


def dispute_amount(row: Dispute) -> Money:
    assert row.amount_minor is not None and row.currency is not None
    return Money(row.amount_minor, row.currency)


def _amount_problem(payment: Payment, notice: PspDispute) -> str | None:
    """Reliability rule 3 for disputes: nothing is booked on an amount we cannot trust."""
    if notice.amount is None:
        return "the PSP sent no readable disputed amount"
    if notice.amount.currency != payment.currency:
        return f"the dispute is in {notice.amount.currency}, the payment in {payment.currency}"
    if not notice.amount.is_positive() or notice.amount.minor > payment.amount_minor:
        return f"the disputed amount {notice.amount} does not fit the payment"
    return None


def _follow_money(
    session: Session,
    ctx: Context,
    payment: Payment,
    customer: Customer,
    row: Dispute,
    problem: str | None,
) -> bool:
    """Book the chargeback or its reversal so ``booked_minor`` matches the status."""
    if problem is not None or row.kind == "retrieval":  # a retrieval asks, takes nothing
        return False
    if row.status in MONEY_GONE:
        target = row.amount_minor or 0
    elif row.status == "won":
        target = 0
    else:
        return False
    amount = dispute_amount(row)
    if target == row.booked_minor:
        # Won with nothing booked: the disputed amount is released once, unless a loss
        # already released it (a later win then reversed the chargeback instead).
        released = (EventKind.DISPUTE_WON, *set(_EVENT_FOR.values()))
        if row.status == "won" and not any(_has_event(session, row, k) for k in released):
            add_event(
                session,
                ctx,
                payment,
                EventKind.DISPUTE_WON,
                amount=amount,
                psp_reference=row.psp_dispute_id,
            )
        return False
    ledger = load_ledger(session, customer)
    memo = f"Chargeback {row.psp_dispute_id}"
    now = ctx.now()
    if target > row.booked_minor:
        try:
            entries = ledger.record_chargeback(payment.id, amount, memo=memo)
        except (ValidationError, NotFound) as exc:
            _mismatch(session, ctx, payment, row, exc.message)
            return False
        persist_entries(session, customer, entries, now)
        add_event(
            session,
            ctx,
            payment,
            _EVENT_FOR[row.status],
            amount=amount,
            psp_reference=row.psp_dispute_id,
            detail={"status": row.status},
        )
    else:
        amount = Money(row.booked_minor, amount.currency)  # give back what was booked
        back = ledger.record_chargeback_reversal(
            payment.id, amount, memo=f"Chargeback {row.psp_dispute_id} reversed (dispute won)"
        )
        persist_entries(session, customer, back, now)
        add_event(
            session,
            ctx,
            payment,
            EventKind.CHARGEBACK_REVERSED,
            amount=amount,
            psp_reference=row.psp_dispute_id,
        )
    row.booked_minor = target
    audit.record(
        session,
        ctx,
        actor="psp",
        action="dispute.chargeback" if target else "dispute.chargeback_reversed",
        subject=payment.id,
        data={"dispute": row.psp_dispute_id, "amount": amount.to_decimal_str()},
    )
    crm_sync_messages(
        session,
        ctx,
        payment,
        customer,
        f"dispute_{row.status}:{row.psp_dispute_id}:booked",
        balance_moved=True,
    )
    return True


def _has_event(session: Session, row: Dispute, kind: EventKind) -> bool:
    return (
        session.scalar(
            select(PaymentEventRow.id).where(
                PaymentEventRow.payment_id == row.payment_id,
                PaymentEventRow.kind == kind.value,
                PaymentEventRow.psp_reference == row.psp_dispute_id,
            )
        )
        is not None
    )


def _mismatch(session: Session, ctx: Context, payment: Payment, row: Dispute, reason: str) -> None:
    open_case(
        session,
        ctx,
        kind="amount_mismatch",
        subject=f"dispute:{row.psp_dispute_id}",
        payment_id=payment.id,
        detail={"dispute": row.psp_dispute_id, "reason": reason[:300]},
    )
    log.warning("dispute %s not booked: %s", row.psp_dispute_id, reason)


def _update_case(
    session: Session,
    ctx: Context,
    case: Case,
    row: Dispute,
    problem: str | None,
    *,
    reopen: bool,
) -> None:
    """The case follows the dispute; a person resolves it (the outcome is recorded)."""
    detail = dict(case.detail)
    detail.update(
        dispute=row.psp_dispute_id,
        status=row.status,
        amount=dispute_amount(row).to_decimal_str() if row.amount_minor is not None else None,
        currency=row.currency,
        reason=row.reason,
        reply_by=row.reply_by.isoformat() if row.reply_by else None,
        charged_back=row.booked_minor > 0,
    )
    if row.status in MONEY_GONE or row.status == "won":
        detail["outcome"] = row.status
    if problem is not None:
        detail["problem"] = problem
    case.detail = detail
    if reopen:
        reopen_case(session, ctx, case, reason="money moved after it was resolved")


def _announce(
    session: Session,
    ctx: Context,
    payment: Payment,
    customer: Customer,
    row: Dispute,
    source: str,
) -> None:
    amount = dispute_amount(row).format() if row.amount_minor is not None else "amount unknown"
    key = f"dispute:{row.psp_dispute_id}:{row.status}"
    crm_timeline_note(
        session,
        ctx,
        customer,
        key=key,
        text=f"Dispute {_WORDS.get(row.status, row.status)} on payment {payment.id} "
        f"({amount}, PSP reference {row.psp_dispute_id}).",
    )
    crm_sync_messages(session, ctx, payment, customer, f"dispute_{row.status}:{row.psp_dispute_id}")
    audit.record(
        session,
        ctx,
        actor="psp" if source.startswith("dispute_") else source,
        action=f"dispute.{row.status}",
        subject=payment.id,
        data={"dispute": row.psp_dispute_id, "amount": amount},
    )


def dispute_record_view(session: Session, row: Dispute, *, today: date) -> dict[str, Any]:
    """A dispute as pages and the API show it: its status, reply-by date (days left,
    overdue), the evidence sent (removed pieces marked) and its ``disputed`` case."""
    evidence = session.scalars(
        select(DisputeEvidence)
        .where(DisputeEvidence.dispute_id == row.id)
        .order_by(DisputeEvidence.id)
    ).all()
    case = session.scalars(
        select(Case).where(Case.kind == "disputed", Case.subject == f"dispute:{row.psp_dispute_id}")
    ).first()
    days_left = reply_days_left(row.reply_by, today)
    return {
        "id": row.id,
        "psp_dispute_id": row.psp_dispute_id,
        "payment_id": row.payment_id,
        "kind": row.kind,
        "reason": row.reason,
        "amount": dispute_amount(row).to_decimal_str() if row.amount_minor is not None else None,
        "currency": row.currency,
        "status": row.status,
        "status_history": list(row.status_history),
        "reply_by": row.reply_by.isoformat() if row.reply_by else None,
        "days_left": days_left,
        "overdue": row.status == "open" and days_left is not None and days_left < 0,
        "answerable": row.status == "open" and (days_left is None or days_left >= 0),
        "case_number": row.case_number,
        "case_id": case.id if case is not None else None,
        "case_status": case.status if case is not None else None,
        "evidence": [evidence_view(e) for e in evidence],
        "charged_back": row.booked_minor > 0,
        "finalized_at": as_utc(row.finalized_at).isoformat() if row.finalized_at else None,  # type: ignore[union-attr]
        "opened_at": as_utc(row.opened_at).isoformat(),  # type: ignore[union-attr]
        "updated_at": as_utc(row.updated_at).isoformat(),  # type: ignore[union-attr]
    }


def evidence_view(row: DisputeEvidence) -> dict[str, Any]:
    """One piece of evidence: a text as sent, a file by name, type, size and SHA-256."""
    return {
        "id": row.id,
        "kind": row.kind,
        "psp_id": row.psp_evidence_id,
        "category": row.category,
        "text": row.text,
        "name": row.file_name,
        "content_type": row.content_type,
        "size": row.size_bytes,
        "sha256": row.sha256,
        "by": row.added_by,
        "at": as_utc(row.added_at).isoformat(),  # type: ignore[union-attr]
        "removed_at": as_utc(row.removed_at).isoformat() if row.removed_at else None,  # type: ignore[union-attr]
        "removed_by": row.removed_by,
    }
