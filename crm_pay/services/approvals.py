"""Four-eyes approvals: money one person asks to move, moved only once a second person
(a supervisor or admin) approves it.

Layer: top use case (beside :mod:`.payments`): it calls :mod:`.refunds`,
:mod:`.manual_payments` and :mod:`.adjustments` to run what was approved. The requests
as records (creating one, the view, who sees it, expiry, listing) are in
:mod:`.approval_records`.

An approval request has a ``kind`` (``refund``, ``manual_payment``, ``write_off``,
``adjustment``), the action's ``payload``, who asked and why, and an expiry
(``CRM_PAY_APPROVAL_TTL_HOURS``). Its state moves once: ``pending`` → ``approved`` |
``refused`` | ``expired``; an approved refund the bank declined may then be ``closed``.
Rules, each enforced here for the API and the console alike:

- Only a supervisor or admin decides, and never on their own request.
- A request past its expiry reads as ``expired`` at once; it is recorded so when
  someone tries to decide, or by the worker's pass
  (:func:`approval_records.expire_due_requests`), whichever comes first.
- Approving runs the action **exactly once**. A manual payment, write-off or adjustment
  is booked in the very transaction that marks the request approved, under its row lock.
  A refund must call the PSP with no transaction open: the request is marked approved
  first, then refunded through :func:`refunds.refund_payment` under the approval's own
  idempotency scope (``approval:<id>``), so whoever retries it, and however often, the
  PSP sees one request key and the ledger one refund. ``executed_at`` records that it ran.
- An approved refund the card's bank declined stays approved, not booked: it can be
  retried, or closed (:func:`close`) by a supervisor with a note; closing moves no money
  and keeps the bank's words. One whose outcome is not known (the PSP did not answer)
  can only be retried: it may have gone through.
- Every step is in the audit trail (``approval.requested``, ``approval.approved``,
  ``approval.refused``, ``approval.expired``, ``approval.executed``,
  ``approval.execution_failed``, ``approval.closed``).

:func:`refund_or_request` is the agent's refund: straight through when within the agent
limit (``CRM_PAY_AGENT_REFUND_LIMIT``) or asked by a supervisor, else an approval request
that moves no money.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, Forbidden
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ApprovalRequest

from . import adjustments, audit, idempotency, inbound, manual_payments, policy, refunds
from .access import Principal
from .approval_records import (
    KINDS,
    STATES,
    approval_view,
    create_request,
    expire_request,
    get_approval,
    list_approvals,
    locked_request,
    not_runnable_error,
    request_hash,
    require_approver,
)
from .approval_refunds import close, refund_or_request, run_approved_refund
from .context import Context

__all__ = [
    "KINDS",
    "STATES",
    "refund_or_request",
    "request_manual_payment",
    "request_adjustment",
    "approve",
    "refuse",
    "close",
    "get_approval",
    "list_approvals",
    "request_hash",
]


def request_manual_payment(
    ctx: Context,
    command: manual_payments.ManualPayment,
    *,
    principal: Principal,
    idempotency_key: str,
    body_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Record a manual payment as a pending approval request (nothing is booked)."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    payload = manual_payments.check_manual_payment(ctx, command)
    return create_request(
        ctx,
        kind="manual_payment",
        payload=payload,
        customer_ref=payload["crm_ref"],
        payment_id=None,
        reason=payload["note"] or f"{manual_payments.method_words(payload['method'])} received",
        principal=principal,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
    )


def request_adjustment(
    ctx: Context,
    *,
    kind: str,
    crm_ref: str,
    amount: str,
    direction: str,
    invoice: str | None,
    reason: str,
    principal: Principal,
    idempotency_key: str,
    body_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Ask for a write-off or an adjustment (a reason is required; nothing is booked)."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    clean = refunds.clean_reason(reason, required=True)
    payload = adjustments.check_adjustment(
        ctx, kind=kind, crm_ref=crm_ref, amount=amount, direction=direction, invoice=invoice
    )
    return create_request(
        ctx,
        kind=kind,
        payload=payload,
        customer_ref=payload["crm_ref"],
        payment_id=None,
        reason=clean,
        principal=principal,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
    )


def _expired_error(row: ApprovalRequest) -> Conflict:
    return Conflict(
        f"this request expired at {as_utc(row.expires_at).isoformat()} "  # type: ignore[union-attr]
        "and can no longer be approved; nothing was done. Ask for it again if it is "
        "still needed",
        code="approval_expired",
    )


def approve(
    ctx: Context,
    approval_id: str,
    *,
    principal: Principal,
    note: str = "",
    idempotency_key: str,
    body_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Approve a pending request and run it, exactly once. Returns ``(view, decided)``:
    ``decided`` is False when the request was already approved (a retry, a second
    click, another supervisor first) and nothing new happened."""
    require_approver(principal)
    idempotency_key = inbound.idempotency_key(idempotency_key)
    clean_note = refunds.clean_reason(note, what="note")
    scope = f"approval:{principal.kind}:{principal.id}"
    expired = False
    decided = False
    with ctx.db.transaction() as s:
        row = locked_request(s, ctx, principal, approval_id)
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:
            idempotency.check_same_request(record, body_hash)
        elif row.state == "pending":
            if policy.owns(principal, row.requested_by):
                raise Forbidden(
                    "you made this request yourself; a second person must approve it. "
                    "Nothing was done",
                    code="own_request",
                )
            now = ctx.now()
            if now >= as_utc(row.expires_at):  # type: ignore[operator]
                expire_request(s, ctx, row, actor=principal.actor)
                expired = True
            else:
                row.state = "approved"
                row.decided_by = principal.actor
                row.decided_at = now
                row.decision_note = clean_note or None
                audit.record(
                    s,
                    ctx,
                    actor=principal.actor,
                    action="approval.approved",
                    subject=row.id,
                    data={"kind": row.kind, "note": clean_note},
                )
                if row.kind != "refund":
                    # Booked in this transaction: it commits with the approval or not at all.
                    row.result = _book(s, ctx, row, principal)
                    row.executed_at = now
                    audit.record(
                        s,
                        ctx,
                        actor=principal.actor,
                        action="approval.executed",
                        subject=row.id,
                        data={k: str(v) for k, v in row.result.items()},
                    )
                idempotency.claim(
                    s,
                    scope=scope,
                    key=idempotency_key,
                    request_hash=body_hash,
                    payment_id=row.id,
                    now=now,
                    response_status=200,
                )
                decided = True
        elif row.state == "expired":
            raise _expired_error(row)
        elif row.state in ("refused", "closed"):
            raise not_runnable_error(row)
        kind, executed = row.kind, row.executed_at is not None
        approved = row.state == "approved"
    if expired:
        raise _expired_error(row)
    if approved and kind == "refund" and not executed:
        run_approved_refund(ctx, approval_id, principal)
    return get_approval(ctx, approval_id, principal=principal), decided


def _book(s: Session, ctx: Context, row: ApprovalRequest, principal: Principal) -> dict[str, Any]:
    if row.kind == "manual_payment":
        return manual_payments.book_manual_payment(
            s,
            ctx,
            dict(row.payload),
            approval_id=row.id,
            requested_by=row.requested_by,
            approved_by=principal.actor,
        )
    return adjustments.book_adjustment(
        s,
        ctx,
        row.kind,
        dict(row.payload),
        approval_id=row.id,
        reason=row.reason,
        approved_by=principal.actor,
    )


def refuse(ctx: Context, approval_id: str, *, principal: Principal, note: str) -> dict[str, Any]:
    """Refuse a pending request, with a note saying why (required). Nothing moves."""
    require_approver(principal)
    clean_note = refunds.clean_reason(note, required=True, what="note")
    expired = False
    with ctx.db.transaction() as s:
        row = locked_request(s, ctx, principal, approval_id)
        if row.state == "refused":
            return approval_view(row, ctx.now())  # refused already: the same answer
        if row.state != "pending":
            raise Conflict(
                f"this request is {row.state} already; nothing was changed",
                code=f"approval_{row.state}",
            )
        now = ctx.now()
        if now >= as_utc(row.expires_at):  # type: ignore[operator]
            expire_request(s, ctx, row, actor=principal.actor)
            expired = True
        else:
            row.state = "refused"
            row.decided_by = principal.actor
            row.decided_at = now
            row.decision_note = clean_note
            audit.record(
                s,
                ctx,
                actor=principal.actor,
                action="approval.refused",
                subject=row.id,
                data={"kind": row.kind, "note": clean_note},
            )
        view = approval_view(row, now)
    if expired:
        raise _expired_error(row)
    return view
