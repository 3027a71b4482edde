"""Approval requests as records: creating one, how one reads, who sees it, and its
expiry. The decisions that move money (approve, refuse, close) are in :mod:`.approvals`.

Layer: read models (beside :mod:`.money_history`): records, idempotency and the audit
trail only, so the decisions above and the worker's expiry pass share one view and one
expiry rule.

Expiry: a pending request past ``expires_at`` reads as ``expired`` at once, decided or
not (:func:`approval_state`); :func:`expire_request` records it (state, audit entry
``approval.expired``) when someone tries to decide, and :func:`expire_due_requests`, the
worker's pass, records it for every request that ran out unread.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PspProtocolError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ApprovalRequest

from . import audit, idempotency, policy
from .access import Principal, has_role
from .context import Context

__all__ = [
    "KINDS",
    "STATES",
    "EXPIRY_ACTOR",
    "request_hash",
    "approval_state",
    "approval_view",
    "may_see",
    "closable",
    "require_approver",
    "locked_request",
    "not_runnable_error",
    "create_request",
    "expire_request",
    "expire_due_requests",
    "get_approval",
    "list_approvals",
]

KINDS = ("refund", "manual_payment", "write_off", "adjustment")
STATES = ("pending", "approved", "refused", "expired", "closed")
#: Who the audit trail says expired a request nobody decided on (the worker's pass).
EXPIRY_ACTOR = "approvals-expiry"
_EXPIRY_BATCH = 200
# Why an approved refund did not go through, when that leaves its outcome unknown.
_OUTCOME_UNKNOWN = (PspUnavailable.code, PspProtocolError.code)


def request_hash(body: dict[str, Any]) -> str:
    """The request's fingerprint for its Idempotency-Key (same key, other body: 422)."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _new_id() -> str:
    # base32 like payment ids: never a run of decimal digits the PAN detector would flag
    return "apr_" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def _name(actor: str | None) -> str:
    return ":".join((actor or "").split(":")[2:]) or (actor or "")


def _iso(at: datetime | None) -> str | None:
    found = as_utc(at)
    return found.isoformat() if found is not None else None


def approval_state(row: ApprovalRequest, now: datetime) -> str:
    """The state as people read it: a pending request past its expiry is ``expired``."""
    if row.state == "pending" and now >= as_utc(row.expires_at):  # type: ignore[operator]
        return "expired"
    return row.state


def closable(row: ApprovalRequest) -> bool:
    """Whether a supervisor may close the request: an approved refund, not booked, whose
    last attempt the PSP definitely refused (the bank declined it). One whose outcome is
    not known (the PSP did not answer, or an attempt is under way: no code yet) may have
    reached the card, so it is retried, never closed."""
    return (
        row.kind == "refund"
        and row.state == "approved"
        and row.executed_at is None
        and row.error_code is not None
        and row.error_code not in _OUTCOME_UNKNOWN
    )


def approval_view(row: ApprovalRequest, now: datetime) -> dict[str, Any]:
    """One request as the API answers and the console lists it."""
    money = Money(row.amount_minor, row.currency)
    created = as_utc(row.created_at)
    assert created is not None
    payload = dict(row.payload)
    return {
        "id": row.id,
        "kind": row.kind,
        "state": approval_state(row, now),
        "amount": money.to_decimal_str(),
        "currency": row.currency,
        "customer": row.customer_ref,
        "payment_id": row.payment_id,
        "requested_by": _name(row.requested_by),
        "requested_by_actor": row.requested_by,
        "reason": row.reason,
        "created_at": created.isoformat(),
        "expires_at": _iso(row.expires_at),
        "age_seconds": max(0, int((now - created).total_seconds())),
        "decided_by": _name(row.decided_by) if row.decided_by else None,
        "decided_at": _iso(row.decided_at),
        "decision_note": row.decision_note,
        "executed": row.executed_at is not None,
        "result": dict(row.result) if row.result else None,
        "error": row.error,
        "closable": closable(row),
        "closed_by": _name(row.closed_by) if row.closed_by else None,
        "closed_at": _iso(row.closed_at),
        "close_note": row.close_note,
        "details": {
            k: payload[k]
            for k in ("method", "reference", "note", "invoices", "invoice", "direction")
            if k in payload
        },
    }


def may_see(principal: Principal, row: ApprovalRequest) -> bool:
    """Supervisors and admins see every request; anyone else only their own."""
    return has_role(principal, "supervisor") or policy.owns(principal, row.requested_by)


def require_approver(principal: Principal) -> None:
    """Only a supervisor or admin decides on a request (approve, refuse, close)."""
    if not has_role(principal, "supervisor"):
        raise Forbidden(
            "only a supervisor or admin can decide on an approval request; nothing was done"
        )


def locked_request(
    s: Session, ctx: Context, principal: Principal, approval_id: str
) -> ApprovalRequest:
    """The request, row-locked in ``s``; 404 for one the principal may not see."""
    row = ctx.db.lock(s, ApprovalRequest, approval_id)
    if row is None or not may_see(principal, row):
        raise NotFound(f"no approval request {approval_id!r}")
    return row


def not_runnable_error(row: ApprovalRequest) -> Conflict:
    """Why a request that is no longer pending cannot be run (approved or retried)."""
    if row.state == "closed":
        return Conflict(
            "this request was closed: the refund was not made and will not be; nothing "
            "was done. Ask for a new refund if it is still owed",
            code="approval_closed",
        )
    if row.state == "refused":
        return Conflict(
            "this request was refused and can no longer be approved; nothing was done",
            code="approval_refused",
        )
    return Conflict(f"this request is {row.state} already; nothing was done")


def create_request(
    ctx: Context,
    *,
    kind: str,
    payload: dict[str, Any],
    customer_ref: str,
    payment_id: str | None,
    reason: str,
    principal: Principal,
    idempotency_key: str,
    body_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Store a pending request, keyed by the requester's Idempotency-Key (a retry returns
    the first request; the same key for another request is refused)."""
    scope = f"approval_request:{principal.kind}:{principal.id}"
    now = ctx.now()
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:
            idempotency.check_same_request(record, body_hash)
            found = s.get(ApprovalRequest, (record.response_body or {}).get("payment_id"))
            assert found is not None
            return approval_view(found, now), False
        row = ApprovalRequest(
            id=_new_id(),
            kind=kind,
            state="pending",
            payload=payload,
            amount_minor=int(payload["amount_minor"]),
            currency=payload["currency"],
            customer_ref=customer_ref,
            payment_id=payment_id,
            requested_by=principal.actor,
            reason=reason,
            created_at=now,
            expires_at=now + timedelta(hours=ctx.config.approval_ttl_hours),
        )
        s.add(row)
        idempotency.claim(
            s,
            scope=scope,
            key=idempotency_key,
            request_hash=body_hash,
            payment_id=row.id,
            now=now,
            response_status=201,
        )
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action="approval.requested",
            subject=row.id,
            data={
                "kind": kind,
                "amount": Money(row.amount_minor, row.currency).to_decimal_str(),
                "currency": row.currency,
                "customer": customer_ref,
                "payment": payment_id or "",
                "reason": reason,
            },
        )
        return approval_view(row, now), True


def expire_request(s: Session, ctx: Context, row: ApprovalRequest, *, actor: str) -> None:
    """Record that a pending request ran out (in the caller's transaction, row locked)."""
    row.state = "expired"
    row.decided_at = ctx.now()
    audit.record(
        s,
        ctx,
        actor=actor,
        action="approval.expired",
        subject=row.id,
        data={
            "expired_at": _iso(row.expires_at) or "",
            "kind": row.kind,
            "requested_by": row.requested_by,
        },
    )


def expire_due_requests(ctx: Context) -> list[str]:
    """The worker's pass: every pending request past its expiry becomes ``expired``,
    audited (``approval.expired`` naming the requester), so the requester's list says
    so and the request leaves the supervisors' queue whether or not anyone opened it.
    Each row is locked and checked again first: a supervisor deciding at the same
    moment wins or loses cleanly. Returns the ids expired."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        due = list(
            s.scalars(
                select(ApprovalRequest.id)
                .where(ApprovalRequest.state == "pending", ApprovalRequest.expires_at <= now)
                .order_by(ApprovalRequest.expires_at)
                .limit(_EXPIRY_BATCH)
            )
        )
    expired = []
    for approval_id in due:
        with ctx.db.transaction() as s:
            row = ctx.db.lock(s, ApprovalRequest, approval_id)
            if row is None or approval_state(row, ctx.now()) != "expired":
                continue
            if row.state == "pending":
                expire_request(s, ctx, row, actor=EXPIRY_ACTOR)
                expired.append(approval_id)
    return expired


def get_approval(ctx: Context, approval_id: str, *, principal: Principal) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = s.get(ApprovalRequest, approval_id)
        if row is None or not may_see(principal, row):
            raise NotFound(f"no approval request {approval_id!r}")
        return approval_view(row, ctx.now())


def list_approvals(
    ctx: Context,
    *,
    principal: Principal,
    state: str | None = None,
    kind: str | None = None,
    payment_id: str | None = None,
    customer_ref: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Requests newest first; an agent sees their own, supervisors everyone's. ``state``
    as listed: ``pending`` leaves out the expired ones, ``expired`` includes those that
    ran out without a decision."""
    if state is not None and state not in STATES:
        raise ValidationError(f"state must be one of {', '.join(STATES)}")
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}")
    now = ctx.now()
    with ctx.db.transaction() as s:
        stmt = select(ApprovalRequest)
        if not has_role(principal, "supervisor"):
            stmt = stmt.where(
                ApprovalRequest.requested_by.startswith(
                    f"{principal.kind}:{principal.id}:", autoescape=True
                )
            )
        if state == "pending":
            stmt = stmt.where(ApprovalRequest.state == "pending", ApprovalRequest.expires_at > now)
        elif state == "expired":
            stmt = stmt.where(
                or_(
                    ApprovalRequest.state == "expired",
                    (ApprovalRequest.state == "pending") & (ApprovalRequest.expires_at <= now),
                )
            )
        elif state is not None:
            stmt = stmt.where(ApprovalRequest.state == state)
        if kind is not None:
            stmt = stmt.where(ApprovalRequest.kind == kind)
        if payment_id is not None:
            stmt = stmt.where(ApprovalRequest.payment_id == payment_id)
        if customer_ref is not None:
            stmt = stmt.where(ApprovalRequest.customer_ref == customer_ref)
        rows = s.scalars(
            stmt.order_by(ApprovalRequest.created_at.desc(), ApprovalRequest.id).limit(limit)
        )
        return [approval_view(r, now) for r in rows]
