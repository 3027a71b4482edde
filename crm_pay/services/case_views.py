"""What a supervisor reads about cases: the queue and one case with everything around it.

Read models only (the changes are in :mod:`.cases`). The queue is sorted by SLA due time,
overdue first; the case page joins the case's history with its customer, its payment and
that payment's timeline: payment events, messages sent to the customer and the CRM sync
rows of the outbox with their delivery status. Free text from outside (CRM errors) is
PAN-redacted on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Case,
    CaseEvent,
    Customer,
    Dispute,
    Message,
    OutboxMessage,
    Payment,
    PaymentEventRow,
    User,
)
from vault import pan

from .cases import RESOLUTIONS, STATES, UNRESOLVED
from .context import Context
from .customers import load_ledger
from .partial_cases import KIND as PARTIAL
from .partial_cases import rest_owed

__all__ = ["QUEUE_STATES", "CaseFilter", "case_page", "case_queue", "supervisors"]

# What the queue's state filter accepts: a state, "unresolved" (open or assigned), "all".
QUEUE_STATES = ("unresolved", *STATES, "all")
_TIMELINE_LIMIT = 100


@dataclass(frozen=True)
class CaseFilter:
    """The queue's filters. ``assignee_id``: only that user's cases; ``older_than``:
    opened at least that long ago; ``snoozed``: include cases snoozed until later."""

    kind: str | None = None
    state: str = "unresolved"
    assignee_id: int | None = None
    older_than: timedelta | None = None
    snoozed: bool = False
    limit: int = 200

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in RESOLUTIONS:
            raise ValidationError(
                f"{self.kind!r} is not a case kind; use one of {', '.join(sorted(RESOLUTIONS))}",
                code="unknown_kind",
            )
        if self.state not in QUEUE_STATES:
            raise ValidationError(
                f"{self.state!r} is not a case state; use one of {', '.join(QUEUE_STATES)}",
                code="unknown_state",
            )
        if not 1 <= self.limit <= 500:
            raise ValidationError("limit must be between 1 and 500")


def case_queue(ctx: Context, filters: CaseFilter) -> list[dict[str, Any]]:
    """Cases matching ``filters``, the soonest SLA due first (overdue at the top)."""
    now = ctx.now()
    stmt: Select[Any] = (
        select(Case, User.email, Customer.name, Customer.crm_ref)
        .outerjoin(User, User.id == Case.assignee_id)
        .outerjoin(Payment, Payment.id == Case.payment_id)
        .outerjoin(Customer, Customer.id == Payment.customer_id)
    )
    if filters.state == "unresolved":
        stmt = stmt.where(Case.status.in_(UNRESOLVED))
    elif filters.state != "all":
        stmt = stmt.where(Case.status == filters.state)
    if filters.kind is not None:
        stmt = stmt.where(Case.kind == filters.kind)
    if filters.assignee_id is not None:
        stmt = stmt.where(Case.assignee_id == filters.assignee_id)
    if filters.older_than is not None:
        stmt = stmt.where(Case.opened_at <= now - filters.older_than)
    if not filters.snoozed:
        stmt = stmt.where(or_(Case.snoozed_until.is_(None), Case.snoozed_until <= now))
    stmt = stmt.order_by(Case.due_at, Case.id).limit(filters.limit)
    with ctx.db.transaction() as s:
        return [
            {
                **_case_fields(case, now),
                "assignee": email,
                "customer": {"name": name, "crm_ref": ref} if ref else None,
            }
            for case, email, name, ref in s.execute(stmt).all()
        ]


def supervisors(ctx: Context) -> list[dict[str, Any]]:
    """Active users a case may be assigned to (supervisors and admins)."""
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_(("supervisor", "admin")))
            .order_by(User.email)
        ).all()
        return [{"id": u.id, "email": u.email, "role": u.role} for u in rows]


def case_page(ctx: Context, case_id: int) -> dict[str, Any]:
    """One case: its fields, resolution codes, history, customer, payment, timeline."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        assignee = s.get(User, case.assignee_id) if case.assignee_id is not None else None
        payment = s.get(Payment, case.payment_id) if case.payment_id is not None else None
        customer = s.get(Customer, payment.customer_id) if payment is not None else None
        history = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ).all()
        return {
            **_case_fields(case, now),
            "detail": dict(case.detail),
            "note": case.note,
            "resolved_by": case.resolved_by,
            "assignee": assignee.email if assignee is not None else None,
            "resolutions": [
                {
                    "code": r.code,
                    "label": r.label,
                    "closes": r.closes,
                    "tells_customer": r.tells_customer,
                }
                for r in RESOLUTIONS.get(case.kind, ())
                if not r.by_action
            ],
            # "apply the credit to an invoice": the credit and what is still owed
            "credit_to_apply": _credit_to_apply(s, case, customer),
            # "a pay link for the rest": what a partial case's invoices still owe now
            "rest_to_pay": _rest_to_pay(s, case, customer),
            "history": [_event_fields(case, e) for e in history],
            "customer": _customer_fields(customer),
            "payment": _payment_fields(payment),
            "dispute": _dispute_of(s, case),
            "reconciliation_day": case.detail.get("day") if case.kind in _RECONCILED else None,
            "timeline": _timeline(s, payment, customer) if payment is not None else [],
        }


_RECONCILED = frozenset(
    {
        "missing_in_ledger",
        "missing_at_psp",
        "status_mismatch",
        "currency_mismatch",
        "amount_mismatch",
    }
)


def _case_fields(case: Case, now: datetime) -> dict[str, Any]:
    due = as_utc(case.due_at)
    opened = as_utc(case.opened_at)
    snoozed = as_utc(case.snoozed_until)
    assert due is not None and opened is not None
    unresolved = case.status in UNRESOLVED
    return {
        "id": case.id,
        "kind": case.kind,
        "subject": case.subject,
        "status": case.status,
        "payment_id": case.payment_id,
        "assignee_id": case.assignee_id,
        "opened_at": opened.isoformat(),
        "due_at": due.isoformat(),
        "overdue": unresolved and due < now,
        "age_hours": int((now - opened).total_seconds() // 3600),
        "snoozed_until": snoozed.isoformat() if snoozed and snoozed > now else None,
        "resolution_code": case.resolution_code,
        "resolved_at": _iso(case.resolved_at),
        "resolution_seconds": case.resolution_seconds,
        "reopened": case.reopened,
    }


def _event_fields(case: Case, event: CaseEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "actor": event.actor,
        "note": event.note,
        "data": dict(event.data),
        "at": _iso(event.at),
    }


def _credit_to_apply(
    session: Session, case: Case, customer: Customer | None
) -> dict[str, Any] | None:
    """For an unresolved overpaid case: the customer's credit and open invoices (what
    "Apply credit" may pay); None for any other case."""
    if case.kind != "overpaid" or case.status not in UNRESOLVED or customer is None:
        return None
    ledger = load_ledger(session, customer)
    return {
        "credit": ledger.credit().to_decimal_str(),
        "currency": customer.currency,
        "invoices": [
            {"ref": inv.ref, "outstanding": inv.outstanding.to_decimal_str()}
            for inv in ledger.open_invoices()
        ],
    }


def _rest_to_pay(session: Session, case: Case, customer: Customer | None) -> dict[str, Any] | None:
    """For an unresolved partial case: what its invoices still owe (None otherwise)."""
    if customer is None or case.kind != PARTIAL or case.status not in UNRESOLVED:
        return None
    return rest_owed(case, load_ledger(session, customer))


def _customer_fields(customer: Customer | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "crm_ref": customer.crm_ref,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
    }


def _payment_fields(payment: Payment | None) -> dict[str, Any] | None:
    if payment is None:
        return None
    return {
        "id": payment.id,
        "status": payment.status,
        "amount": Money(payment.amount_minor, payment.currency).format(),
        "amount_decimal": Money(payment.amount_minor, payment.currency).to_decimal_str(),
        "currency": payment.currency,
        "channel": payment.channel,
        "created_by": payment.created_by,
        "card": f"{payment.card_brand} ending {payment.card_last4}" if payment.card_last4 else None,
    }


def _dispute_of(session: Session, case: Case) -> dict[str, Any] | None:
    if not case.subject.startswith("dispute:"):
        return None
    row = session.scalars(
        select(Dispute).where(Dispute.psp_dispute_id == case.subject.removeprefix("dispute:"))
    ).first()
    if row is None:
        return None
    return {
        "id": row.psp_dispute_id,
        "status": row.status,
        "reason": row.reason,
        "reply_by": row.reply_by.isoformat() if row.reply_by else None,
    }


def _timeline(
    session: Session, payment: Payment, customer: Customer | None
) -> list[dict[str, Any]]:
    """The payment's events, its messages and its customer's CRM sync rows, by time."""
    items: list[dict[str, Any]] = []
    for ev in session.scalars(
        select(PaymentEventRow)
        .where(PaymentEventRow.payment_id == payment.id)
        .order_by(PaymentEventRow.id)
        .limit(_TIMELINE_LIMIT)
    ):
        amount = Money(ev.amount_minor, ev.currency).format()
        items.append(
            {
                "at": _iso(ev.created_at),
                "source": "payment",
                "what": ev.kind.replace("_", " "),
                "amount": amount,
                "status": None,
                "error": None,
            }
        )
    for msg in session.scalars(
        select(Message)
        .where(Message.payment_id == payment.id)
        .order_by(Message.id)
        .limit(_TIMELINE_LIMIT)
    ):
        items.append(
            {
                "at": _iso(msg.created_at),
                "source": "message",
                "what": f"{msg.kind.replace('_', ' ')} by {msg.channel}",
                "amount": None,
                "status": msg.status,
                "error": _safe(msg.last_error),
            }
        )
    if customer is not None:
        for row in session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.ordering_key == f"crm:{customer.crm_ref}",
                OutboxMessage.created_at >= payment.created_at,
            )
            .order_by(OutboxMessage.id)
            .limit(_TIMELINE_LIMIT)
        ):
            items.append(
                {
                    "at": _iso(row.created_at),
                    "source": "crm_sync",
                    "what": row.topic.removeprefix("crm.").replace("_", " "),
                    "amount": None,
                    "status": row.status,
                    "error": _safe(row.last_error),
                }
            )
    return sorted(items, key=lambda item: item["at"] or "")


def _safe(text: str | None) -> str | None:
    return pan.redact(text)[:300] if text else None


def _iso(value: datetime | None) -> str | None:
    stamp = as_utc(value)
    return stamp.isoformat() if stamp is not None else None
