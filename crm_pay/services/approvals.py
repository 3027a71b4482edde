"""Four-eyes approvals: money one person asks to move, moved only once a second person
(a supervisor or admin) approves it.

Layer: top use case (beside :mod:`.payments`): it calls :mod:`.refunds`,
:mod:`.manual_payments` and :mod:`.adjustments` to run what was approved.

An approval request has a ``kind`` (``refund``, ``manual_payment``, ``write_off``,
``adjustment``), the action's ``payload``, who asked and why, and an expiry
(``CRM_PAY_APPROVAL_TTL_HOURS``). Its state moves once: ``pending`` → ``approved`` |
``refused`` | ``expired``. Rules, each enforced here for the API and the console alike:

- Only a supervisor or admin decides, and never on their own request.
- Expiry is checked when someone decides: a request past it becomes ``expired`` (and is
  listed as expired from that moment on, decided or not).
- Approving runs the action **exactly once**. A manual payment, write-off or adjustment
  is booked in the very transaction that marks the request approved, under its row lock.
  A refund must call the PSP with no transaction open: the request is marked approved
  first, then refunded through :func:`refunds.refund_payment` under the approval's own
  idempotency scope (``approval:<id>``), so whoever retries it, and however often, the
  PSP sees one request key and the ledger one refund. ``executed_at`` records that it ran.
- Every step is in the audit trail (``approval.requested``, ``approval.approved``,
  ``approval.refused``, ``approval.expired``, ``approval.executed``,
  ``approval.execution_failed``).

:func:`refund_or_request` is the agent's refund: straight through when within the agent
limit (``CRM_PAY_AGENT_REFUND_LIMIT``) or asked by a supervisor, else an approval request
that moves no money.
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

from crm_pay.domain.errors import Conflict, CrmPayError, Forbidden, NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ApprovalRequest, Customer, Payment

from . import adjustments, audit, idempotency, inbound, manual_payments, policy, refunds
from .access import Principal, has_role
from .context import Context
from .customers import load_ledger

__all__ = [
    "KINDS",
    "STATES",
    "refund_or_request",
    "request_manual_payment",
    "request_adjustment",
    "approve",
    "refuse",
    "get_approval",
    "list_approvals",
    "request_hash",
]

KINDS = ("refund", "manual_payment", "write_off", "adjustment")
STATES = ("pending", "approved", "refused", "expired")
_REFUNDABLE = ("authorized", "submitted_for_settlement", "settled")


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


def _state(row: ApprovalRequest, now: datetime) -> str:
    if row.state == "pending" and now >= as_utc(row.expires_at):  # type: ignore[operator]
        return "expired"
    return row.state


def _view(row: ApprovalRequest, now: datetime) -> dict[str, Any]:
    money = Money(row.amount_minor, row.currency)
    created = as_utc(row.created_at)
    expires = as_utc(row.expires_at)
    assert created is not None and expires is not None
    payload = dict(row.payload)
    return {
        "id": row.id,
        "kind": row.kind,
        "state": _state(row, now),
        "amount": money.to_decimal_str(),
        "currency": row.currency,
        "customer": row.customer_ref,
        "payment_id": row.payment_id,
        "requested_by": _name(row.requested_by),
        "requested_by_actor": row.requested_by,
        "reason": row.reason,
        "created_at": created.isoformat(),
        "expires_at": expires.isoformat(),
        "age_seconds": max(0, int((now - created).total_seconds())),
        "decided_by": _name(row.decided_by) if row.decided_by else None,
        "decided_at": as_utc(row.decided_at).isoformat() if row.decided_at else None,  # type: ignore[union-attr]
        "decision_note": row.decision_note,
        "executed": row.executed_at is not None,
        "result": dict(row.result) if row.result else None,
        "error": row.error,
        "details": {
            k: payload[k]
            for k in ("method", "reference", "note", "invoices", "invoice", "direction")
            if k in payload
        },
    }


def _may_see(principal: Principal, row: ApprovalRequest) -> bool:
    return has_role(principal, "supervisor") or policy.owns(principal, row.requested_by)


def _create(
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
            return _view(found, now), False
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
        return _view(row, now), True


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

    An agent's refund above ``CRM_PAY_AGENT_REFUND_LIMIT`` (in the payment's currency)
    becomes an approval request: nothing is sent to the PSP and the ledger is unchanged
    until a supervisor approves it. A supervisor's refund, or one within the limit, goes
    straight through :func:`refunds.refund_payment`. A reason is required for a request
    (the approver reads it); it is optional for a refund made at once."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    scope = f"approval_request:{principal.kind}:{principal.id}"
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:  # this key already made an approval request: the same answer
            idempotency.check_same_request(record, body_hash)
            found = s.get(ApprovalRequest, (record.response_body or {}).get("payment_id"))
            assert found is not None
            return {"outcome": "pending_approval", "approval": _view(found, ctx.now())}, False
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        currency = payment.currency
        left = (
            load_ledger(s, customer).refundable(payment.id)
            if payment.status in _REFUNDABLE
            else Money.zero(currency)
        )
        wanted = Money.parse(amount, currency) if amount is not None else left
        channel = payment.channel
    limit = Money.parse(ctx.config.agent_refund_limit, currency)
    if has_role(principal, "supervisor") or wanted <= limit or channel == "manual":
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
        return {"outcome": "refunded", "payment": view}, created
    # Above the agent's limit: checked as the refund itself would be, then asked for.
    if not left.is_positive():
        raise Conflict("there is nothing left to refund on this payment", code="nothing_to_refund")
    if not wanted.is_positive():
        raise ValidationError("a refund must be more than zero")
    if wanted > left:
        raise ValidationError(f"at most {left.format()} can be refunded on this payment")
    clean = refunds.clean_reason(reason, required=True)
    view, created = _create(
        ctx,
        kind="refund",
        payload={
            "payment_id": payment_id,
            "amount": wanted.to_decimal_str(),
            "amount_minor": wanted.minor,
            "currency": currency,
        },
        customer_ref=customer.crm_ref,
        payment_id=payment_id,
        reason=clean,
        principal=principal,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
    )
    return {"outcome": "pending_approval", "approval": view}, created


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
    return _create(
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
    return _create(
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


def _require_approver(principal: Principal) -> None:
    if not has_role(principal, "supervisor"):
        raise Forbidden(
            "only a supervisor or admin can decide on an approval request; nothing was done"
        )


def _locked(s: Session, ctx: Context, principal: Principal, approval_id: str) -> ApprovalRequest:
    row = ctx.db.lock(s, ApprovalRequest, approval_id)
    if row is None or not _may_see(principal, row):
        raise NotFound(f"no approval request {approval_id!r}")
    return row


def _expire(s: Session, ctx: Context, row: ApprovalRequest, principal: Principal) -> None:
    row.state = "expired"
    row.decided_at = ctx.now()
    audit.record(
        s,
        ctx,
        actor=principal.actor,
        action="approval.expired",
        subject=row.id,
        data={"expired_at": as_utc(row.expires_at).isoformat()},  # type: ignore[union-attr]
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
    _require_approver(principal)
    idempotency_key = inbound.idempotency_key(idempotency_key)
    clean_note = refunds.clean_reason(note, what="note")
    scope = f"approval:{principal.kind}:{principal.id}"
    expired = False
    decided = False
    with ctx.db.transaction() as s:
        row = _locked(s, ctx, principal, approval_id)
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
                _expire(s, ctx, row, principal)
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
        elif row.state == "refused":
            raise Conflict(
                "this request was refused and can no longer be approved; nothing was done",
                code="approval_refused",
            )
        kind, executed = row.kind, row.executed_at is not None
        approved = row.state == "approved"
    if expired:
        raise _expired_error(row)
    if approved and kind == "refund" and not executed:
        _run_refund(ctx, approval_id, principal)
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


def _run_refund(ctx: Context, approval_id: str, principal: Principal) -> None:
    """Refund an approved request through the refund service, keyed by the approval (the
    same PSP request key on every retry, whoever sends it)."""
    with ctx.db.transaction() as s:
        row = s.get(ApprovalRequest, approval_id)
        assert row is not None
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


def refuse(ctx: Context, approval_id: str, *, principal: Principal, note: str) -> dict[str, Any]:
    """Refuse a pending request, with a note saying why (required). Nothing moves."""
    _require_approver(principal)
    clean_note = refunds.clean_reason(note, required=True, what="note")
    expired = False
    with ctx.db.transaction() as s:
        row = _locked(s, ctx, principal, approval_id)
        if row.state == "refused":
            return _view(row, ctx.now())  # refused already: the same answer
        if row.state != "pending":
            raise Conflict(
                f"this request is {row.state} already; nothing was changed",
                code=f"approval_{row.state}",
            )
        now = ctx.now()
        if now >= as_utc(row.expires_at):  # type: ignore[operator]
            _expire(s, ctx, row, principal)
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
        view = _view(row, now)
    if expired:
        raise _expired_error(row)
    return view


def get_approval(ctx: Context, approval_id: str, *, principal: Principal) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = s.get(ApprovalRequest, approval_id)
        if row is None or not _may_see(principal, row):
            raise NotFound(f"no approval request {approval_id!r}")
        return _view(row, ctx.now())


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
        return [_view(r, now) for r in rows]
