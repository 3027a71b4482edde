"""Refunds under four eyes: an agent's refund above the limit asked for, run once a
supervisor approves it, and closed when the card's bank declined it.

Layer: just under :mod:`.approvals` (which runs :func:`run_approved_refund` when a
refund request is approved, and re-exports the rest): it calls :mod:`.refunds` for the
refund itself and :mod:`.approval_records` for the requests.

- :func:`refund_or_request`: every refund route comes here (``POST /refunds``,
  ``POST /payments/{id}/refund``, the console's refund panel): straight through when
  the refund service allows it, an approval request when it answers
  :class:`refunds.ApprovalNeeded` (the agent limit has one rule, in :mod:`.refunds`).
- :func:`run_approved_refund`: the refund under the approval's own idempotency scope
  (``approval:<id>``): whoever retries it, the PSP sees one request key.
- :func:`close`: an approved refund the bank declined is ended with a note, moving
  nothing; one whose outcome is not known can only be retried.
"""

from __future__ import annotations

from typing import Any

from crm_pay.domain.errors import Conflict, CrmPayError
from crm_pay.persistence.models import ApprovalRequest, Customer, Payment

from . import audit, idempotency, inbound, refunds
from .access import Principal
from .approval_records import (
    approval_view,
    closable,
    create_request,
    locked_request,
    not_runnable_error,
    require_approver,
)
from .context import Context

__all__ = ["refund_or_request", "run_approved_refund", "close"]


def refund_or_request(
    ctx: Context,
    payment_id: str,
    *,
    amount: str | None,
    reason: str,
    principal: Principal,
    idempotency_key: str,
    body_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Refund now, or ask a supervisor. Returns ``({"outcome": "refunded", "payment":
    view} | {"outcome": "pending_approval", "approval": view}, created)``.

    Every refund route (``POST /refunds``, ``POST /payments/{id}/refund``, the console's
    refund panel) comes here. The refund is checked by :func:`refunds.refund_payment`
    as it would be made (the PSP's state of the sale, what is left, void in full); an
    agent's refund above ``CRM_PAY_AGENT_REFUND_LIMIT`` (in the payment's currency) is
    refused there with :class:`refunds.ApprovalNeeded` before anything is sent, and
    becomes an approval request instead: the PSP sees nothing and the ledger is
    unchanged until a supervisor approves it. A reason is required for a request (the
    approver reads it); it is optional for a refund made at once."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    scope = f"approval_request:{principal.kind}:{principal.id}"
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:  # this key already made an approval request: the same answer
            idempotency.check_same_request(record, body_hash)
            found = s.get(ApprovalRequest, (record.response_body or {}).get("payment_id"))
            assert found is not None
            return {
                "outcome": "pending_approval",
                "approval": approval_view(found, ctx.now()),
            }, False
    try:
        view, created = refunds.refund_payment(
            ctx,
            payment_id,
            amount=amount,
            principal=principal,
            idempotency_key=idempotency_key,
            request_hash=body_hash,
            agent_limit=ctx.config.agent_refund_limit,
            reason=reason,
        )
    except refunds.ApprovalNeeded as above:
        wanted = above.amount
    else:
        return {"outcome": "refunded", "payment": view}, created
    clean = refunds.clean_reason(reason, required=True)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None  # refund_payment found it
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        customer_ref = customer.crm_ref
    view, created = create_request(
        ctx,
        kind="refund",
        payload={
            "payment_id": payment_id,
            "amount": wanted.to_decimal_str(),
            "amount_minor": wanted.minor,
            "currency": wanted.currency,
        },
        customer_ref=customer_ref,
        payment_id=payment_id,
        reason=clean,
        principal=principal,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
    )
    return {"outcome": "pending_approval", "approval": view}, created


def run_approved_refund(ctx: Context, approval_id: str, principal: Principal) -> None:
    """Refund an approved request through the refund service, keyed by the approval (the
    same PSP request key on every retry, whoever sends it)."""
    with ctx.db.transaction() as s:
        row = ctx.db.lock(s, ApprovalRequest, approval_id)
        assert row is not None
        if row.state != "approved" or row.executed_at is not None:
            raise not_runnable_error(row)  # closed (or done) by someone else meanwhile
        # An attempt is under way: until it answers, its outcome is not known, so the
        # request cannot be closed (the refund may be reaching the card right now).
        row.error_code = None
        payload, reason = dict(row.payload), row.reason
    try:
        view, _ = refunds.refund_payment(
            ctx,
            payload["payment_id"],
            amount=payload["amount"],
            principal=principal,
            idempotency_key="refund",
            request_hash=f"approval:{approval_id}",
            reason=reason,
            idempotency_scope=f"approval:{approval_id}",
        )
    except CrmPayError as exc:
        with ctx.db.transaction() as s:
            row = ctx.db.lock(s, ApprovalRequest, approval_id)
            assert row is not None
            if row.executed_at is None:
                row.error = exc.message
                row.error_code = exc.code[:40]
                audit.record(
                    s,
                    ctx,
                    actor=principal.actor,
                    action="approval.execution_failed",
                    subject=approval_id,
                    data={"code": exc.code, "message": exc.message},
                )
        raise Conflict(
            f"the request is approved, but the refund did not go through: {exc.message} "
            "Approve it again to retry; it will never refund twice",
            code="approval_not_executed",
        ) from None
    with ctx.db.transaction() as s:
        row = ctx.db.lock(s, ApprovalRequest, approval_id)
        assert row is not None
        if row.executed_at is None:
            row.executed_at = ctx.now()
            row.error = None
            row.error_code = None
            row.result = {
                "payment_id": view["id"],
                "status": view["status"],
                "refunded": view["refunded"],
                "refund_receipts": list(view["refund_receipts"]),
            }
            audit.record(
                s,
                ctx,
                actor=principal.actor,
                action="approval.executed",
                subject=approval_id,
                data={"payment": view["id"], "status": view["status"]},
            )


def close(ctx: Context, approval_id: str, *, principal: Principal, note: str) -> dict[str, Any]:
    """End an approved refund that the card's bank declined, without refunding: the
    request becomes ``closed`` with the closer, the time and their note (required), next
    to the bank's words (``error``). Nothing moves and nothing is sent to the PSP; the
    money is owed to the customer still, to give back another way (a note says how).

    Only a definite refusal can be closed. A refund whose outcome is not known (the PSP
    did not answer, or an attempt is under way) may have reached the card: it must be
    retried until the PSP answers (it never refunds twice). Closing twice answers the
    same; a supervisor may close a request they asked for themselves (it moves nothing)."""
    require_approver(principal)
    clean_note = refunds.clean_reason(note, required=True, what="note")
    with ctx.db.transaction() as s:
        row = locked_request(s, ctx, principal, approval_id)
        now = ctx.now()
        if row.state == "closed":
            return approval_view(row, now)  # closed already: the same answer
        if not closable(row):
            booked = row.executed_at is not None
            if row.kind == "refund" and row.state == "approved" and not booked:
                raise Conflict(
                    "the payment provider has not said no to this refund: it did not "
                    "answer, so the money may have gone back already. Retry it (it never "
                    "refunds twice) until the provider answers; only a declined refund "
                    "can be closed. Nothing was changed",
                    code="refund_outcome_unknown",
                )
            raise Conflict(
                "only an approved refund that the bank declined can be closed; this request "
                f"is {approval_view(row, now)['state']}"
                + (" and booked" if booked else "")
                + ". Nothing was changed",
                code="approval_not_closable",
            )
        row.state = "closed"
        row.closed_by = principal.actor
        row.closed_at = now
        row.close_note = clean_note
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action="approval.closed",
            subject=row.id,
            data={
                "kind": row.kind,
                "payment": row.payment_id or "",
                "note": clean_note,
                "declined": row.error or "",
                "code": row.error_code,
            },
        )
        return approval_view(row, now)
