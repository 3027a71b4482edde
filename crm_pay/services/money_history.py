"""Read models of money going back: refunds, voids, settlement reversals, disputes and
chargebacks of a payment, and the customer's ledger entries that are not payments
(refunds, chargebacks, reversals, write-offs and adjustments).

Layer: views (above the records; below every use case). Built from the append-only
payment events and ledger entries, with the refund receipts that go with them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, LedgerEntryRow, Payment, PaymentEventRow, Receipt

from .access import Principal, has_role
from .context import Context

__all__ = ["payment_history", "refund_history", "customer_history", "payments_of_day", "WORDS"]

#: The payment events shown as its money history, in the agent's words.
WORDS = {
    "refund_succeeded": "Refunded",
    "void_succeeded": "Voided",
    "refund_failed": "Refund refused by the bank",
    "settlement_declined": "Reversed at settlement",
    "dispute_opened": "Dispute opened",
    "dispute_won": "Dispute won",
    "dispute_lost": "Dispute lost",
    "dispute_accepted": "Dispute accepted",
    "dispute_expired": "Dispute expired",
    "chargeback": "Chargeback",
    "chargeback_reversed": "Chargeback reversed",
}
_REFUNDS = ("refund_succeeded", "void_succeeded", "refund_failed")
_LEDGER_KINDS = (
    "refund",
    "chargeback",
    "settlement_reversal",
    "chargeback_reversal",
    "adjustment",
)


def _stamp(value: Any) -> str:
    return as_utc(value).isoformat()  # type: ignore[union-attr]


def _events(session: Session, payment_ids: list[str]) -> list[PaymentEventRow]:
    if not payment_ids:
        return []
    return list(
        session.scalars(
            select(PaymentEventRow)
            .where(PaymentEventRow.payment_id.in_(payment_ids))
            .order_by(PaymentEventRow.id)
        )
    )


def _receipts(session: Session, payment_ids: list[str]) -> dict[tuple[str, str], str]:
    if not payment_ids:
        return {}
    rows = session.execute(
        select(Receipt.payment_id, Receipt.refund_ref, Receipt.number).where(
            Receipt.payment_id.in_(payment_ids), Receipt.kind.in_(("refund", "reversal"))
        )
    )
    return {(pid, ref): number for pid, ref, number in rows}


def _history(
    session: Session, payments: list[Payment], kinds: tuple[str, ...]
) -> list[dict[str, Any]]:
    ids = [p.id for p in payments]
    receipts = _receipts(session, ids)
    reason: dict[str, str] = {}
    by: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for e in _events(session, ids):
        if e.kind == "refund_requested":
            reason[e.payment_id] = str((e.detail or {}).get("reason") or "")
            by[e.payment_id] = str((e.detail or {}).get("by") or "")
            continue
        if e.kind not in kinds:
            continue
        refund_like = e.kind in _REFUNDS
        out.append(
            {
                "payment_id": e.payment_id,
                "kind": e.kind,
                "what": WORDS.get(e.kind, e.kind.replace("_", " ")),
                "amount": Money(e.amount_minor, e.currency).to_decimal_str(),
                "currency": e.currency,
                "at": _stamp(e.created_at),
                "psp_reference": e.psp_reference,
                "reason": reason.get(e.payment_id, "") if refund_like else "",
                "by": ":".join(by.get(e.payment_id, "").split(":")[2:]) if refund_like else "",
                "receipt_number": receipts.get((e.payment_id, e.psp_reference or "")),
            }
        )
    return out


def payment_history(ctx: Context, payment_id: str) -> list[dict[str, Any]]:
    """Refunds, voids, reversals and disputes of one payment, oldest first (the caller
    has checked who may see the payment)."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        return _history(s, [payment], tuple(WORDS))


def refund_history(
    ctx: Context, *, principal: Principal, payment_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Refunds and voids done (or refused by the bank), newest first: an agent's own
    payments', every payment's for supervisors."""
    with ctx.db.transaction() as s:
        # IN (subquery), not JOIN + DISTINCT: PostgreSQL has no equality for json columns
        stmt = select(Payment).where(
            Payment.id.in_(
                select(PaymentEventRow.payment_id).where(PaymentEventRow.kind.in_(_REFUNDS))
            )
        )
        if payment_id is not None:
            stmt = stmt.where(Payment.id == payment_id)
        if not has_role(principal, "supervisor"):
            stmt = stmt.where(
                Payment.created_by.startswith(f"{principal.kind}:{principal.id}:", autoescape=True)
            )
        payments = list(s.scalars(stmt))
        found = _history(s, payments, _REFUNDS)
    found.sort(key=lambda r: r["at"], reverse=True)
    return found[:limit]


def customer_history(ctx: Context, crm_ref: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The customer's ledger entries that are not invoices or payments, newest first:
    refunds, chargebacks (and their reversals), settlement reversals, write-offs and
    adjustments, each with its memo."""
    with ctx.db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.crm_ref == crm_ref)).first()
        if customer is None:
            return []
        rows = s.scalars(
            select(LedgerEntryRow)
            .where(
                LedgerEntryRow.customer_id == customer.id,
                LedgerEntryRow.kind.in_(_LEDGER_KINDS),
            )
            .order_by(LedgerEntryRow.id.desc())
            .limit(limit)
        )
        out = []
        for r in rows:
            kind = r.kind
            if kind == "adjustment" and r.memo.startswith("Write-off"):
                kind = "write_off"
            out.append(
                {
                    "kind": kind,
                    "what": kind.replace("_", " ").capitalize(),
                    "amount": Money(r.amount_minor, r.currency).to_decimal_str(),
                    "currency": r.currency,
                    "invoice": r.invoice_ref,
                    "payment_id": r.payment_id,
                    "memo": r.memo,
                    "at": _stamp(r.created_at),
                }
            )
        return out


def payments_of_day(
    ctx: Context, *, principal: Principal, day_start: datetime | None = None
) -> dict[str, Any]:
    """The payments ``principal`` created during one UTC day (default: today), newest
    first, with the day's totals of approved money per currency."""
    now = ctx.now()
    start = day_start or datetime(now.year, now.month, now.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(Payment, Customer.crm_ref, Customer.name)
            .join(Customer, Customer.id == Payment.customer_id)
            .where(
                Payment.created_by.startswith(f"{principal.kind}:{principal.id}:", autoescape=True),
                Payment.created_at >= start,
                Payment.created_at < end,
            )
            .order_by(Payment.created_at.desc(), Payment.id)
        ).all()
        ids = [p.id for p, _, _ in rows]
        numbers = {
            pid: number
            for pid, number in (
                s.execute(
                    select(Receipt.payment_id, Receipt.number).where(
                        Receipt.payment_id.in_(ids), Receipt.kind == "payment"
                    )
                )
                if ids
                else ()
            )
        }
        taken: dict[str, int] = {}
        out = []
        for p, crm_ref, name in rows:
            if p.status in ("authorized", "submitted_for_settlement", "settled"):
                taken[p.currency] = taken.get(p.currency, 0) + p.amount_minor
            out.append(
                {
                    "id": p.id,
                    "customer": crm_ref,
                    "customer_name": name,
                    "amount": Money(p.amount_minor, p.currency).to_decimal_str(),
                    "currency": p.currency,
                    "channel": p.channel,
                    "status": p.status,
                    "created_at": _stamp(p.created_at),
                    "receipt_number": numbers.get(p.id),
                }
            )
    return {
        "day": start.date().isoformat(),
        "timezone": "UTC",
        "payments": out,
        "taken": [
            {"currency": cur, "amount": Money(minor, cur).to_decimal_str()}
            for cur, minor in sorted(taken.items())
        ],
    }
