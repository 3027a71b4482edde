"""Supervisors answer disputes through the PSP's optional ``DisputeGateway``: the
action is recorded first (and refused when the dispute is not open or past its reply-by
date), the PSP is called with no transaction open, the result applied after (DESIGN.md
rule 6); every step is audited. Evidence is kept as a list of what was sent — a text's
length, a file's name, size and SHA-256 — never the file's bytes.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, CrmPayError, Forbidden, NotFound, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Dispute, Payment
from crm_pay.ports import DisputeGateway, PspDispute, capability
from vault import pan

from . import audit
from .access import Principal, has_role
from .context import Context
from .dispute_records import dispute_amount, dispute_record_view, record_dispute_notice

__all__ = [
    "accept_dispute",
    "submit_text_evidence",
    "submit_file_evidence",
    "finalize_dispute",
    "list_disputes",
    "dispute_view",
]

log = logging.getLogger("crm_pay.disputes")

# Braintree docs, Document Upload: Create — PDF, PNG, JPG/JPEG, under 4 MB.
_FILE_TYPES = (".pdf", ".png", ".jpg", ".jpeg")
_MAX_FILE = 4 * 1024 * 1024
_MAX_TEXT = 4000
# An action recorded but never applied (the process died mid-call) stops blocking after this.
_STALE_ACTION = timedelta(minutes=5)


# --------------------------------------------------------------------------- actions
def _require_supervisor(principal: Principal) -> None:
    if not has_role(principal, "supervisor"):
        raise Forbidden("only a supervisor may answer a dispute")


def _gateway(ctx: Context, principal: Principal) -> DisputeGateway:
    """The PSP's dispute capability, checked before anything is recorded."""
    _require_supervisor(principal)
    psp = capability(ctx.psp, DisputeGateway)
    if psp is None:
        raise Conflict(
            "this payment provider does not let crm-pay answer disputes; answer it in "
            "the provider's control panel",
            code="disputes_unsupported",
        )
    return psp


def _find(session: Session, dispute_id: int | str, *, lock: bool = False) -> Dispute:
    stmt = select(Dispute).where(
        Dispute.id == dispute_id
        if isinstance(dispute_id, int)
        else Dispute.psp_dispute_id == str(dispute_id)
    )
    row = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    return row


def _begin(
    ctx: Context, dispute_id: int | str, action: str, principal: Principal, data: dict[str, Any]
) -> tuple[int, str]:
    """Record the supervisor's action before the PSP call (refused when too late)."""
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        row = _find(s, dispute_id, lock=True)
        if row.status != "open":
            raise Conflict(
                f"dispute {row.psp_dispute_id} is {row.status}; only an open dispute can "
                "be answered",
                code="dispute_not_open",
            )
        if row.reply_by is not None and row.reply_by < ctx.now().date():
            raise Conflict(
                f"dispute {row.psp_dispute_id} had to be answered by "
                f"{row.reply_by.isoformat()}; it can no longer be answered",
                code="dispute_past_reply_by",
            )
        stale = as_utc(row.updated_at) < ctx.now() - _STALE_ACTION  # type: ignore[operator]
        if row.pending_action is not None and not stale:
            raise Conflict(
                f"dispute {row.psp_dispute_id}: {row.pending_action} is in progress; "
                "try again in a moment",
                code="dispute_busy",
            )
        row.pending_action = action
        row.updated_at = ctx.now()
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action=f"dispute.{action}_requested",
            subject=row.payment_id,
            data={"dispute": row.psp_dispute_id, **data},
        )
        return row.id, row.psp_dispute_id


def _abandon(
    ctx: Context, row_id: int, action: str, principal: Principal, exc: CrmPayError
) -> None:
    with ctx.db.transaction() as s:
        row = _find(s, row_id, lock=True)
        row.pending_action = None
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action=f"dispute.{action}_failed",
            subject=row.payment_id,
            data={"dispute": row.psp_dispute_id, "error": exc.code},
        )
    log.warning("dispute %s: %s failed (%s)", row_id, action, exc.code)


def _call(ctx: Context, row_id: int, action: str, principal: Principal, call: Any) -> Any:
    try:
        return call()
    except CrmPayError as exc:
        _abandon(ctx, row_id, action, principal, exc)
        raise


def _finish(
    ctx: Context,
    row_id: int,
    action: str,
    principal: Principal,
    *,
    status: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = _find(s, row_id, lock=True)
        row.pending_action = None
        now = ctx.now()
        if evidence is not None:
            row.evidence = [
                *row.evidence,
                {**evidence, "by": principal.actor, "at": now.isoformat()},
            ]
        if action == "finalize":
            row.finalized_at = now
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action=f"dispute.{action}",
            subject=row.payment_id,
            data={"dispute": row.psp_dispute_id, **(evidence or {})},
        )
        if status is not None:
            payment = ctx.db.lock(s, Payment, row.payment_id)
            assert payment is not None
            notice = PspDispute(
                id=row.psp_dispute_id,
                status=status,
                kind=row.kind,
                reason=row.reason,
                amount=dispute_amount(row) if row.amount_minor is not None else None,
                transaction_id=payment.psp_transaction_id,
            )
            row = record_dispute_notice(
                s, ctx, payment, notice, status=status, at=now, source=principal.actor
            )
        return dispute_record_view(row)


def accept_dispute(ctx: Context, dispute_id: int | str, principal: Principal) -> dict[str, Any]:
    """Accept the chargeback at the PSP: the customer keeps the money, booked at once."""
    gateway = _gateway(ctx, principal)
    row_id, psp_id = _begin(ctx, dispute_id, "accept", principal, {})
    _call(ctx, row_id, "accept", principal, lambda: gateway.accept_dispute(psp_id))
    return _finish(ctx, row_id, "accept", principal, status="accepted")


def submit_text_evidence(
    ctx: Context,
    dispute_id: int | str,
    text: str,
    principal: Principal,
    *,
    category: str | None = None,
) -> dict[str, Any]:
    """Send text evidence (a tracking number, a note); card numbers are redacted first."""
    gateway = _gateway(ctx, principal)
    content = pan.redact((text or "").strip())
    if not content:
        raise ValidationError("the evidence text is empty")
    if len(content) > _MAX_TEXT:
        raise ValidationError(f"the evidence text is longer than {_MAX_TEXT} characters")
    summary = {"kind": "text", "length": len(content), "category": category}
    row_id, psp_id = _begin(ctx, dispute_id, "text_evidence", principal, summary)
    evidence_id = _call(
        ctx,
        row_id,
        "text_evidence",
        principal,
        lambda: gateway.add_text_evidence(psp_id, content, category=category),
    )
    summary["psp_id"] = evidence_id
    return _finish(ctx, row_id, "text_evidence", principal, evidence=summary)


def submit_file_evidence(
    ctx: Context,
    dispute_id: int | str,
    filename: str,
    content: bytes,
    principal: Principal,
    *,
    category: str | None = None,
) -> dict[str, Any]:
    """Upload a document as evidence. Only its name, size and SHA-256 are kept."""
    gateway = _gateway(ctx, principal)
    name = pan.redact((filename or "").strip().replace("/", "_").replace("\\", "_"))[:200]
    if not name.lower().endswith(_FILE_TYPES):
        raise ValidationError("evidence files must be PDF, PNG or JPG")
    if not content:
        raise ValidationError("the evidence file is empty")
    if len(content) > _MAX_FILE:
        raise ValidationError("the evidence file is larger than 4 MB")
    summary = {
        "kind": "file",
        "name": name,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "category": category,
    }
    row_id, psp_id = _begin(ctx, dispute_id, "file_evidence", principal, summary)
    evidence_id = _call(
        ctx,
        row_id,
        "file_evidence",
        principal,
        lambda: gateway.add_file_evidence(psp_id, name, content, category=category),
    )
    summary["psp_id"] = evidence_id
    return _finish(ctx, row_id, "file_evidence", principal, evidence=summary)


def finalize_dispute(ctx: Context, dispute_id: int | str, principal: Principal) -> dict[str, Any]:
    """Submit the evidence to the issuer; Braintree then reports the dispute "disputed"
    (Braintree docs, Dispute: Finalize)."""
    gateway = _gateway(ctx, principal)
    row_id, psp_id = _begin(ctx, dispute_id, "finalize", principal, {})
    _call(ctx, row_id, "finalize", principal, lambda: gateway.finalize_dispute(psp_id))
    return _finish(ctx, row_id, "finalize", principal, status="disputed")


def list_disputes(
    ctx: Context, principal: Principal, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Disputes, newest first (optionally one status); supervisors only."""
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        stmt = select(Dispute)
        if status is not None:
            stmt = stmt.where(Dispute.status == status)
        rows = s.scalars(stmt.order_by(Dispute.id.desc()).limit(max(1, min(limit, 500))))
        return [dispute_record_view(r) for r in rows]


def dispute_view(ctx: Context, dispute_id: int | str, principal: Principal) -> dict[str, Any]:
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        return dispute_record_view(_find(s, dispute_id))
