"""Discrepancy cases for supervisors: opened automatically, worked by a person.

A case is opened by the code that finds the discrepancy, always through
:func:`open_case` (one case per kind and subject, ever: a unique constraint). Its states::

    open ──assign──> assigned ──resolve──> resolved | closed
      └────────────────resolve─────────────┘

``resolved``: a supervisor dealt with the cause. If the same cause shows up again (
:func:`open_case` is called again for that kind and subject), the case **reopens**: back
to ``open`` with a new SLA due time, its earlier resolution kept in its history.
``closed``: a supervisor decided there is nothing to do (the resolution code says so,
e.g. ``no_action``); the same cause seen again does not reopen it.

Every case has an SLA due time (:data:`SLA_HOURS` by kind), may be snoozed (hidden from
the queue until a time; the SLA does not move), and keeps an append-only history
(:class:`~crm_pay.persistence.models.CaseEvent`: assigned, note, snoozed, resolved,
closed, reopened; the opening is the case row's own ``opened_at``). Each event is also
written to the audit chain. Resolution time is ``resolution_seconds`` (resolved_at -
opened_at), stored so SQL can aggregate it.

A case that concerns a customer, resolved with a code that changes something for them
(:attr:`Resolution.tells_customer`), queues one outbox message of topic
:data:`CUSTOMER_UPDATE_TOPIC`; the customer notifications deliver it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, NotFound, ValidationError
from crm_pay.domain.roles import ROLES
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Case, CaseEvent, Payment, User
from vault import pan

from . import audit, outbox
from .context import Context

__all__ = [
    "ALERT_KINDS",
    "CASE_KINDS",
    "CUSTOMER_UPDATE_TOPIC",
    "MAX_SNOOZE",
    "NOTE_MAX_LENGTH",
    "RESOLUTIONS",
    "SLA_HOURS",
    "STATES",
    "UNRESOLVED",
    "Resolution",
    "add_note",
    "assign",
    "case_summary",
    "open_case",
    "open_cases",
    "reopen_case",
    "resolutions_for",
    "locked_case",
    "resolve",
    "require_unresolved",
    "resolve_in",
    "snooze",
]

log = logging.getLogger("crm_pay.cases")

CASE_KINDS = frozenset(
    {
        "failed",
        # a payment for named invoices that left one of them owed (paid less than asked
        # for; crm_pay.services.partial_cases). A payment on account opens none; a PSP
        # that took another amount than asked opens "amount_mismatch"
        "partial",
        "overpaid",
        "disputed",
        "amount_mismatch",
        "unknown_at_psp",
        "receipt_undeliverable",
        "webhook_rejected",
        "pan_in_payload",
        "settlement_declined",
        # a verified PSP notice that could not be applied (kept for replay)
        "webhook_failed",
        # a second successful PSP sale for one payment: the customer may be charged twice
        "duplicate_charge",
        # reconciliation differences (one case per difference)
        "missing_in_ledger",
        "missing_at_psp",
        "status_mismatch",
        "currency_mismatch",
        # a card number found in data from the CRM (redacted or left out on the way in)
        "crm_data_card_number",
        # a PSP notification that carried a card number (refused, kept only redacted)
        "webhook_card_number",
        # a pay page script whose served body no longer matches its pinned hash
        "pay_page_script_changed",
        # a Content-Security-Policy violation reported by a browser on the pay page
        "csp_violation",
        # a payment held by the fraud rules: authorized, not captured, until a
        # supervisor releases or declines it (crm_pay.services.fraud_review)
        "fraud_review",
    }
)


# Cases an admin must see at once (security and data-protection alerts).
ALERT_KINDS = frozenset(
    {
        "pan_in_payload",
        "webhook_rejected",
        "crm_data_card_number",
        "webhook_card_number",
        "pay_page_script_changed",
        "csp_violation",
    }
)

STATES = ("open", "assigned", "resolved", "closed")
# Not resolved yet: what the queue, the admin alerts and the SLA look at.
UNRESOLVED = ("open", "assigned")

# Hours from opening to the SLA due time. Money in doubt and card data first.
SLA_HOURS: dict[str, int] = {
    "failed": 24,
    "overpaid": 48,
    "partial": 72,  # the receipt told the customer; most pay the rest on their own
    "disputed": 24,  # the PSP's reply-by date is days away; the first look is not
    "amount_mismatch": 24,
    "unknown_at_psp": 1,
    "receipt_undeliverable": 24,
    "webhook_rejected": 4,
    "pan_in_payload": 1,
    "settlement_declined": 4,
    "webhook_failed": 4,
    "duplicate_charge": 2,
    "missing_in_ledger": 24,
    "missing_at_psp": 24,
    "status_mismatch": 24,
    "currency_mismatch": 24,
    "crm_data_card_number": 1,
    "webhook_card_number": 1,
    "pay_page_script_changed": 1,
    "csp_violation": 4,
    # the authorization expires at the bank after some days; the customer waits
    "fraud_review": 4,
}

NOTE_MAX_LENGTH = 2000
MAX_SNOOZE = timedelta(days=30)
CUSTOMER_UPDATE_TOPIC = "customer.case_update"


@dataclass(frozen=True)
class Resolution:
    """One way a case may end. ``closes``: nothing was to be done (state ``closed``,
    never reopened); ``tells_customer``: the customer is told (a case about a
    customer's payment queues :data:`CUSTOMER_UPDATE_TOPIC`); ``by_action``: only the
    action that does it resolves with it (applying a credit books it, then resolves),
    ``action`` says which, for the refusal of a supervisor who picks it by hand."""

    code: str
    label: str
    closes: bool = False
    tells_customer: bool = False
    by_action: bool = False
    action: str = ""


_NO_ACTION = Resolution("no_action", "Checked: nothing to do", closes=True)
_FALSE_ALARM = Resolution("false_positive", "Not a real problem", closes=True)
_REFUNDED = Resolution("refunded", "Refunded the customer", tells_customer=True)
_ADJUSTED = Resolution("adjusted", "Corrected our side (adjustment)")
_NEW_LINK = Resolution("new_link_sent", "Sent the customer a new pay link", tells_customer=True)
_CONTACTED = Resolution("customer_contacted", "Spoke to the customer")
_PAYMENT_RESOLVED = Resolution("payment_resolved", "Resolved the payment by hand")
_REPLAYED = Resolution("replayed", "Replayed the notice")
_DATA_PURGED = Resolution("data_purged", "Card data removed at the source")
_SOURCE_FIXED = Resolution("source_fixed", "The sender was fixed")
_RECONCILIATION = (_ADJUSTED, _PAYMENT_RESOLVED, _REFUNDED, _NO_ACTION)
_CARD_DATA = (_DATA_PURGED, _SOURCE_FIXED, _FALSE_ALARM)

RESOLUTIONS: dict[str, tuple[Resolution, ...]] = {
    "failed": (_NEW_LINK, _CONTACTED, _NO_ACTION),
    "overpaid": (
        Resolution("credit_kept", "Kept as credit on the account", tells_customer=True),
        # booked by crm_pay.services.credits.apply_case_credit, which resolves the case
        Resolution(
            "credit_applied",
            "Credit applied to an invoice",
            tells_customer=True,
            by_action=True,
            action="use Apply credit (POST /cases/<id>/apply-credit), which books it and "
            "resolves the case",
        ),
        _REFUNDED,
        _NO_ACTION,
    ),
    # No message of its own: the receipt told the customer what is still owed, and a new
    # link is a message itself (crm_pay.services.partial_cases)
    "partial": (
        Resolution(
            "new_link_sent",
            "Sent the customer a pay link for the rest",
            by_action=True,
            action="use Send the customer a pay link on the case page, which sends a link "
            "for what is still owed and resolves the case",
        ),
        Resolution("arranged", "Arranged with the customer (say how in the note)"),
        Resolution(
            "paid_in_full",
            "Paid in full by a later payment",
            by_action=True,
            action="a payment of what is still owed resolves the case by itself",
        ),
    ),
    "disputed": (
        Resolution("dispute_accepted", "Accepted the dispute", tells_customer=True),
        Resolution("evidence_submitted", "Contested with evidence"),
        Resolution("dispute_won", "Dispute won"),
        Resolution("dispute_lost", "Dispute lost", tells_customer=True),
    ),
    "amount_mismatch": _RECONCILIATION,
    "currency_mismatch": _RECONCILIATION,
    "missing_in_ledger": _RECONCILIATION,
    "missing_at_psp": _RECONCILIATION,
    "status_mismatch": _RECONCILIATION,
    "unknown_at_psp": (
        _PAYMENT_RESOLVED,
        Resolution("not_charged", "Not charged: the customer may pay again", tells_customer=True),
        _NEW_LINK,
    ),
    "receipt_undeliverable": (
        Resolution("receipt_resent", "Receipt sent again"),
        Resolution("contact_updated", "Customer's address corrected in the CRM"),
        _NO_ACTION,
    ),
    "settlement_declined": (_NEW_LINK, _CONTACTED, _NO_ACTION),
    "duplicate_charge": (
        _REFUNDED,
        Resolution("not_duplicate", "Not a second charge", closes=True),
    ),
    "webhook_rejected": (_SOURCE_FIXED, Resolution("not_ours", "Not from our PSP", closes=True)),
    "webhook_failed": (_REPLAYED, _NO_ACTION),
    "pan_in_payload": _CARD_DATA,
    "crm_data_card_number": _CARD_DATA,
    "webhook_card_number": _CARD_DATA,
    "pay_page_script_changed": (
        Resolution("script_approved", "Reviewed and pinned again"),
        Resolution("script_removed", "Script removed"),
    ),
    "csp_violation": (
        Resolution("policy_updated", "Policy or page corrected"),
        Resolution("browser_extension", "A browser extension, not our page", closes=True),
    ),
    # recorded by crm_pay.services.fraud_review, which submits or voids the payment
    "fraud_review": (
        Resolution(
            "released",
            "Released: submitted for settlement",
            by_action=True,
            action="use Release on the case page (POST /payments/{payment}/release), which "
            "submits the payment for settlement and resolves the case",
        ),
        Resolution(
            "declined",
            "Declined: the authorization voided, the customer told",
            by_action=True,
            action="use Decline on the case page (POST /payments/{payment}/decline), which "
            "voids the authorization and resolves the case",
        ),
    ),
}


def resolutions_for(kind: str) -> tuple[Resolution, ...]:
    """The resolution codes a case of ``kind`` may be resolved with."""
    return RESOLUTIONS[kind]


def open_cases(
    ctx: Context, *, kinds: frozenset[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Unresolved cases (open or assigned), newest first (optionally only some kinds)."""
    with ctx.db.transaction() as s:
        stmt = select(Case).where(Case.status.in_(UNRESOLVED))
        if kinds is not None:
            stmt = stmt.where(Case.kind.in_(sorted(kinds)))
        rows = s.scalars(stmt.order_by(Case.id.desc()).limit(limit)).all()
        return [
            {
                "id": c.id,
                "kind": c.kind,
                "subject": c.subject,
                "payment_id": c.payment_id,
                "status": c.status,
                "detail": dict(c.detail),
                "opened_at": c.opened_at.isoformat(),
            }
            for c in rows
        ]


def open_case(
    session: Session,
    ctx: Context,
    *,
    kind: str,
    subject: str,
    payment_id: str | None = None,
    detail: dict[str, Any] | None = None,
    reopen: bool = True,
) -> Case:
    """Open the case of ``kind`` for ``subject``, or return the one that exists.

    A resolved case whose cause is seen again reopens (``reopen=False`` leaves it as it
    is: for callers that see the same cause many times and decide themselves); a closed
    one stays closed."""
    if kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    existing = session.scalars(
        select(Case).where(Case.kind == kind, Case.subject == subject)
    ).first()
    if existing is not None:
        if reopen and existing.status == "resolved":
            reopen_case(session, ctx, existing, reason="the same cause was seen again")
        return existing
    now = ctx.now()
    case = Case(
        kind=kind,
        subject=subject,
        payment_id=payment_id,
        status="open",
        detail=detail or {},
        note=None,
        opened_at=now,
        resolved_at=None,
        due_at=now + timedelta(hours=SLA_HOURS[kind]),
        reopened=0,
    )
    session.add(case)
    # not flushed by the audit's reads: callers tell a new case by ``case in session.new``
    with session.no_autoflush:
        audit.record(
            session,
            ctx,
            actor="system",
            action="case.opened",
            subject=f"case:{kind}:{subject}",
            data={"kind": kind, "payment": payment_id},
        )
    log.warning("case opened: %s for %s", kind, subject)
    return case


def reopen_case(session: Session, ctx: Context, case: Case, *, reason: str) -> None:
    """Back to ``open`` with a new SLA; the earlier resolution stays in the history."""
    if case.status in UNRESOLVED:
        return
    previous = {"status": case.status, "resolution_code": case.resolution_code}
    now = ctx.now()
    case.status, case.assignee_id, case.snoozed_until = "open", None, None
    case.resolved_at = case.resolution_code = case.resolved_by = None
    case.resolution_seconds = None
    case.due_at = now + timedelta(hours=SLA_HOURS.get(case.kind, 24))
    case.reopened = (case.reopened or 0) + 1
    _event(session, ctx, case, "reopened", actor="system", note=reason, data=previous)
    log.warning("case reopened: %s for %s", case.kind, case.subject)


def case_summary(ctx: Context, case_id: int) -> dict[str, Any]:
    """The case's state in brief; ``NotFound`` for an unknown id."""
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}; nothing was changed")
        return _summary(case)


def add_note(ctx: Context, case_id: int, *, actor: str, note: str) -> dict[str, Any]:
    """Append a note (PAN-redacted) to the case's history; any state."""
    text = _note(note, required=True)
    with ctx.db.transaction() as s:
        case = _locked(s, ctx, case_id)
        _event(s, ctx, case, "note", actor=actor, note=text)
        return _summary(case)


def assign(ctx: Context, case_id: int, *, actor: str, assignee_id: int) -> dict[str, Any]:
    """Give an unresolved case to an active supervisor (or admin): state ``assigned``."""
    with ctx.db.transaction() as s:
        user = s.get(User, assignee_id)
        if user is None or not user.active:
            raise ValidationError(
                f"there is no active user {assignee_id}; the case was not assigned",
                code="unknown_assignee",
            )
        if ROLES.index(user.role) < ROLES.index("supervisor"):
            raise ValidationError(
                f"{user.email} is an {user.role}; cases go to supervisors. The case was "
                "not assigned",
                code="assignee_not_supervisor",
            )
        case = _locked(s, ctx, case_id)
        _require_unresolved(case, "assigned")
        before = case.assignee_id
        case.status, case.assignee_id = "assigned", user.id
        _event(s, ctx, case, "assigned", actor=actor, data={"to": user.email, "from_user": before})
        return _summary(case)


def snooze(
    ctx: Context, case_id: int, *, actor: str, until: datetime, note: str = ""
) -> dict[str, Any]:
    """Hide an unresolved case from the queue until ``until`` (future, at most 30
    days). The SLA due time does not move: a snoozed case can still be overdue."""
    now = ctx.now()
    if until.tzinfo is None:
        raise ValidationError("give the snooze time with its time zone, e.g. 2026-01-31T09:00Z")
    if until <= now:
        raise ValidationError(
            f"{until.isoformat()} is not in the future; the case was not snoozed",
            code="snooze_in_past",
        )
    if until - now > MAX_SNOOZE:
        raise ValidationError(
            f"a case can be snoozed for at most {MAX_SNOOZE.days} days; it was not snoozed",
            code="snooze_too_long",
        )
    text = _note(note, required=False)
    with ctx.db.transaction() as s:
        case = _locked(s, ctx, case_id)
        _require_unresolved(case, "snoozed")
        case.snoozed_until = until
        _event(s, ctx, case, "snoozed", actor=actor, note=text, data={"until": until.isoformat()})
        return _summary(case)


def resolve(ctx: Context, case_id: int, *, actor: str, code: str, note: str) -> dict[str, Any]:
    """End an unresolved case with one of its kind's resolution codes and a note."""
    with ctx.db.transaction() as s:
        kind = _locked(s, ctx, case_id).kind
        chosen = next((r for r in RESOLUTIONS.get(kind, ()) if r.code == code), None)
        if chosen is not None and chosen.by_action:
            raise ValidationError(
                f"{code!r} is recorded by its action, not chosen: "
                f"{chosen.action.replace('<id>', str(case_id))}. The "
                "case was not resolved",
                code="resolution_by_action",
            )
        return resolve_in(s, ctx, case_id, actor=actor, code=code, note=note)


def locked_case(session: Session, ctx: Context, case_id: int) -> Case:
    """The case, locked in the caller's transaction (``NotFound`` for none)."""
    return _locked(session, ctx, case_id)


def resolve_in(
    session: Session, ctx: Context, case_id: int, *, actor: str, code: str, note: str
) -> dict[str, Any]:
    """:func:`resolve` in the caller's transaction: for an action that changes something
    (applying a credit) and resolves its case at once, or neither."""
    text = _note(note, required=True)
    s = session
    case = _locked(s, ctx, case_id)
    known = {r.code: r for r in RESOLUTIONS.get(case.kind, ())}
    resolution = known.get(code)
    if resolution is None:
        raise ValidationError(
            f"{code!r} is not a resolution of a {case.kind} case; use one of "
            f"{', '.join(sorted(known))}. The case was not resolved",
            code="unknown_resolution",
        )
    _require_unresolved(case, "resolved")
    now = ctx.now()
    opened = as_utc(case.opened_at)
    assert opened is not None
    case.status = "closed" if resolution.closes else "resolved"
    case.resolution_code, case.resolved_by, case.note = code, actor, text
    case.resolved_at, case.snoozed_until = now, None
    case.resolution_seconds = max(0, int((now - opened).total_seconds()))
    _event(s, ctx, case, case.status, actor=actor, note=text, data={"code": code})
    if resolution.tells_customer:
        _tell_customer(s, ctx, case, code)
    return _summary(case)


def _tell_customer(session: Session, ctx: Context, case: Case, code: str) -> None:
    """The hook of the customer notifications: one message per resolution of a case
    that concerns a customer's payment (a reopened and resolved again case sends again)."""
    if case.payment_id is None:
        return
    payment = session.get(Payment, case.payment_id)
    if payment is None:
        return
    outbox.enqueue(
        session,
        topic=CUSTOMER_UPDATE_TOPIC,
        ordering_key=f"customer:{payment.customer_id}",
        dedupe_key=f"case:{case.id}:resolved:{case.reopened}",
        payload={
            "case_id": case.id,
            "payment_id": payment.id,
            "customer_id": payment.customer_id,
            "resolution_code": code,
        },
        now=ctx.now(),
    )


def _note(note: str, *, required: bool) -> str:
    text = pan.redact(str(note or "")).strip()
    if required and not text:
        raise ValidationError("write a note: what was found or done. Nothing was changed")
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            f"the note is {len(text)} characters; at most {NOTE_MAX_LENGTH}. Nothing was changed"
        )
    return text


def _locked(session: Session, ctx: Context, case_id: int) -> Case:
    case = ctx.db.lock(session, Case, case_id)
    if case is None:
        raise NotFound(f"there is no case {case_id}; nothing was changed")
    return case


def require_unresolved(case: Case, what: str) -> None:
    """``Conflict`` (``case_resolved``) unless the case is open or assigned."""
    _require_unresolved(case, what)


def _require_unresolved(case: Case, what: str) -> None:
    if case.status not in UNRESOLVED:
        raise Conflict(
            f"case {case.id} is already {case.status} (code {case.resolution_code}); it "
            f"cannot be {what}. Nothing was changed",
            code="case_resolved",
        )


def _event(
    session: Session,
    ctx: Context,
    case: Case,
    action: str,
    *,
    actor: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    values = dict(data or {})
    session.add(
        CaseEvent(case_id=case.id, action=action, actor=actor, note=note, data=values, at=ctx.now())
    )
    audit.record(
        session,
        ctx,
        actor=actor,
        action=f"case.{action}",
        subject=f"case:{case.id}",
        data={"kind": case.kind, **values, **({"note": note[:500]} if note else {})},
    )


def _summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "kind": case.kind,
        "status": case.status,
        "assignee_id": case.assignee_id,
        "resolution_code": case.resolution_code,
        "snoozed_until": _iso(case.snoozed_until),
        "resolved_at": _iso(case.resolved_at),
        "resolution_seconds": case.resolution_seconds,
    }


def _iso(value: datetime | None) -> str | None:
    stamp = as_utc(value)
    return stamp.isoformat() if stamp is not None else None
