"""Supervisors answer disputes through the PSP's optional ``DisputeGateway``: accept the
chargeback, or contest it by sending evidence (texts, documents) and then finalizing.

Each action is recorded first (and refused when the dispute is not open or past its
reply-by date), the PSP is called with no transaction open, the result applied after
(reliability rule 6); every step is audited. Evidence is kept in ``DisputeEvidence``: a
text as sent (one holding a card number is refused, never sent), a file by name, type,
size and SHA-256 — its bytes go to the PSP only. Accepting resolves the dispute's
``disputed`` case with resolution ``dispute_accepted``, finalizing with
``evidence_submitted`` (``cases.resolve``); the money follows the PSP's notices
(``dispute_records``), and a loss after contesting opens the case again.

Accept and finalize take an optional Idempotency-Key: a retry with the same key answers
with the dispute as it is, without asking the PSP again. An answer lost on the way back
(the PSP accepted, we never heard) is found on the retry: the PSP then refuses, and the
dispute it reports is already in the state asked for.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, CrmPayError, Forbidden, NotFound, ValidationError
from crm_pay.domain.evidence import check_evidence_file, check_evidence_text
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Dispute, DisputeEvidence, Payment
from crm_pay.ports import DisputeGateway, PspDispute, capability
from vault import pan

from . import audit, cases, idempotency, inbound
from .access import Principal, has_role
from .context import Context
from .dispute_records import dispute_amount, dispute_record_view, record_dispute_notice

__all__ = [
    "EVIDENCE_CATEGORIES",
    "accept_dispute",
    "submit_text_evidence",
    "submit_file_evidence",
    "remove_evidence",
    "finalize_dispute",
    "list_disputes",
    "dispute_view",
]

log = logging.getLogger("crm_pay.disputes")

#: Evidence categories a supervisor may choose (braintree_python tests/integration/
#: test_disputes.py uses these; none means a general note or document).
EVIDENCE_CATEGORIES = (
    "GENERAL",
    "CARRIER_NAME",
    "TRACKING_NUMBER",
    "TRACKING_URL",
    "DEVICE_ID",
    "DOWNLOAD_DATE_TIME",
    "MERCHANT_WEBSITE_OR_APP_ACCESS",
)
# Ids are 32-bit on every database: a larger one is not there (and SQLite cannot bind it).
_MAX_ID = 2**31 - 1
# An action recorded but never applied (the process died mid-call) stops blocking after this.
_STALE_ACTION = timedelta(minutes=5)
# What a supervisor's answer makes of the dispute's case (crm_pay.services.cases
# RESOLUTIONS["disputed"]) and the note it is resolved with.
_RESOLUTION = {
    "accept": ("dispute_accepted", "Accepted the chargeback in the dispute panel."),
    "finalize": ("evidence_submitted", "Contested: evidence submitted in the dispute panel."),
}
# The PSP status each answer leads to (Braintree docs, Dispute: Accept / Finalize).
_STATUS_AFTER = {"accept": "accepted", "finalize": "disputed"}

T = TypeVar("T")


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
    if isinstance(dispute_id, int) and not 0 < dispute_id <= _MAX_ID:
        raise NotFound(f"no dispute {dispute_id}")
    stmt = select(Dispute).where(
        Dispute.id == dispute_id
        if isinstance(dispute_id, int)
        else Dispute.psp_dispute_id == str(dispute_id)
    )
    row = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    return row


class _Replay(Exception):
    """A retried request whose first answer is the dispute as it is now."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.view = view


def _scope(action: str, principal: Principal) -> str:
    return f"dispute_{action}:{principal.kind}:{principal.id}"


def _begin(
    ctx: Context,
    dispute_id: int | str,
    action: str,
    principal: Principal,
    data: dict[str, Any],
    *,
    idempotency_key: str | None = None,
) -> tuple[int, str]:
    """Record the supervisor's action before the PSP call (refused when too late)."""
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        row = _find(s, dispute_id, lock=True)
        digest = hashlib.sha256(f"{action}:{row.psp_dispute_id}".encode()).hexdigest()
        if idempotency_key is not None:
            record = idempotency.find_record(s, _scope(action, principal), idempotency_key)
            if record is not None:
                idempotency.check_same_request(
                    record, digest, advice="use a new key for another dispute"
                )
                if record.response_status is None:
                    raise idempotency.in_progress()
                raise _Replay(dispute_record_view(s, row, today=ctx.now().date()))
        if row.status != "open":
            raise Conflict(
                f"dispute {row.psp_dispute_id} is {row.status.replace('_', ' ')}; only an "
                "open dispute can be answered. Nothing was sent",
                code="dispute_not_open",
            )
        if row.reply_by is not None and row.reply_by < ctx.now().date():
            raise Conflict(
                f"dispute {row.psp_dispute_id} had to be answered by "
                f"{row.reply_by.isoformat()}; it can no longer be answered. Nothing was sent",
                code="dispute_past_reply_by",
            )
        stale = as_utc(row.updated_at) < ctx.now() - _STALE_ACTION  # type: ignore[operator]
        if row.pending_action is not None and not stale:
            raise Conflict(
                f"dispute {row.psp_dispute_id}: {row.pending_action.replace('_', ' ')} is in "
                "progress; try again in a moment",
                code="dispute_busy",
            )
        if idempotency_key is not None:
            idempotency.claim(
                s,
                scope=_scope(action, principal),
                key=idempotency_key,
                request_hash=digest,
                payment_id=row.payment_id,
                now=ctx.now(),
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
    ctx: Context,
    row_id: int,
    action: str,
    principal: Principal,
    exc: CrmPayError,
    idempotency_key: str | None,
) -> None:
    """The PSP refused or did not answer: nothing changed, the key may be used again."""
    with ctx.db.transaction() as s:
        row = _find(s, row_id, lock=True)
        row.pending_action = None
        if idempotency_key is not None:
            record = idempotency.find_record(s, _scope(action, principal), idempotency_key)
            if record is not None:
                s.delete(record)
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action=f"dispute.{action}_failed",
            subject=row.payment_id,
            data={"dispute": row.psp_dispute_id, "error": exc.code},
        )
    log.warning("dispute %s: %s failed (%s)", row_id, action, exc.code)


def _call(
    ctx: Context,
    row_id: int,
    action: str,
    principal: Principal,
    call: Callable[[], T],
    *,
    idempotency_key: str | None = None,
    already_done: Callable[[], bool] | None = None,
) -> T | None:
    try:
        return call()
    except CrmPayError as exc:
        if exc.code == "dispute_refused" and already_done is not None and _safely(already_done):
            log.info("dispute %s: %s had already reached the PSP", row_id, action)
            return None
        _abandon(ctx, row_id, action, principal, exc, idempotency_key)
        raise


def _safely(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except CrmPayError:
        return False


def _finish(
    ctx: Context,
    row_id: int,
    action: str,
    principal: Principal,
    *,
    evidence: DisputeEvidence | None = None,
    removed: int | None = None,
    idempotency_key: str | None = None,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        row = _find(s, row_id, lock=True)
        row.pending_action = None
        now = ctx.now()
        if evidence is not None:
            evidence.dispute_id, evidence.added_by, evidence.added_at = row.id, principal.actor, now
            s.add(evidence)
        if removed is not None:
            gone = s.get(DisputeEvidence, removed)
            assert gone is not None
            gone.removed_at, gone.removed_by = now, principal.actor
        if action == "finalize":
            row.finalized_at = now
        audit.record(
            s,
            ctx,
            actor=principal.actor,
            action=f"dispute.{action}",
            subject=row.payment_id,
            data={"dispute": row.psp_dispute_id, **(summary or {})},
        )
        if action in _STATUS_AFTER:
            row = _apply_answer(s, ctx, row, action, principal)
        if idempotency_key is not None:
            record = idempotency.find_record(s, _scope(action, principal), idempotency_key)
            if record is not None:
                record.response_status = 200
        s.flush()
        return dispute_record_view(s, row, today=now.date())


def _apply_answer(
    s: Session, ctx: Context, row: Dispute, action: str, principal: Principal
) -> Dispute:
    """The dispute takes the status the PSP now reports (the ledger follows), and its
    case is resolved with the supervisor's answer."""
    status = _STATUS_AFTER[action]
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
    # To the second, as the PSP stamps its notices: one of the same second that goes
    # further (won, lost) is then not taken for an older one; and never before the
    # status it answers (ties are ordered by how far along a dispute each status is).
    at = max(ctx.now().replace(microsecond=0), as_utc(row.status_at))  # type: ignore[type-var]
    return record_dispute_notice(
        s, ctx, payment, notice, status=status, at=at, source=principal.actor
    )


def _resolve_case(ctx: Context, view: dict[str, Any], action: str, principal: Principal) -> None:
    """Resolve the dispute's case with the supervisor's answer (its own transaction,
    after the answer is applied: a case a person already resolved stays as they left it)."""
    if view["case_id"] is None or view["case_status"] not in cases.UNRESOLVED:
        return
    code, note = _RESOLUTION[action]
    try:
        cases.resolve(ctx, view["case_id"], actor=principal.actor, code=code, note=note)
    except (Conflict, NotFound) as exc:  # resolved meanwhile by someone else
        log.info("dispute %s: case %s not resolved (%s)", view["id"], view["case_id"], exc.code)


def accept_dispute(
    ctx: Context,
    dispute_id: int | str,
    principal: Principal,
    *,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Accept the chargeback at the PSP: the customer keeps the money, booked at once."""
    return _answer(ctx, dispute_id, principal, "accept", idempotency_key)


def finalize_dispute(
    ctx: Context,
    dispute_id: int | str,
    principal: Principal,
    *,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Contest: submit the evidence sent so far to the issuer; Braintree then reports the
    dispute "disputed" (Braintree docs, Dispute: Finalize) and no more can be added."""
    return _answer(ctx, dispute_id, principal, "finalize", idempotency_key)


def _answer(
    ctx: Context,
    dispute_id: int | str,
    principal: Principal,
    action: str,
    idempotency_key: str | None,
) -> dict[str, Any]:
    gateway = _gateway(ctx, principal)
    if idempotency_key is not None:
        idempotency_key = inbound.idempotency_key(idempotency_key)
    if action == "finalize":
        _require_evidence(ctx, dispute_id)
    try:
        row_id, psp_id = _begin(
            ctx, dispute_id, action, principal, {}, idempotency_key=idempotency_key
        )
    except _Replay as replay:
        return replay.view
    call = gateway.accept_dispute if action == "accept" else gateway.finalize_dispute

    def already_done() -> bool:
        found = gateway.find_dispute(psp_id)
        return found is not None and found.status == _STATUS_AFTER[action]

    _call(
        ctx,
        row_id,
        action,
        principal,
        lambda: call(psp_id),
        idempotency_key=idempotency_key,
        already_done=already_done,
    )
    view = _finish(ctx, row_id, action, principal, idempotency_key=idempotency_key)
    _resolve_case(ctx, view, action, principal)
    return dispute_view(ctx, row_id, principal)


def _require_evidence(ctx: Context, dispute_id: int | str) -> None:
    """Contesting without evidence only loses the dispute: refused before the PSP call."""
    with ctx.db.transaction() as s:
        row = _find(s, dispute_id)
        late = row.reply_by is not None and row.reply_by < ctx.now().date()
        if row.status != "open" or late:
            return  # _begin says why (or answers a retry)
        sent = s.scalar(
            select(DisputeEvidence.id).where(
                DisputeEvidence.dispute_id == row.id, DisputeEvidence.removed_at.is_(None)
            )
        )
    if sent is None:
        raise ValidationError(
            "add evidence (a text or a document) before submitting; nothing was submitted",
            code="evidence_required",
        )


def _require_dispute(ctx: Context, dispute_id: int | str) -> None:
    """An unknown dispute is a 404 before anything about the evidence is said."""
    with ctx.db.transaction() as s:
        _find(s, dispute_id)


def _category(category: str | None) -> str | None:
    if category in (None, ""):
        return None
    if category not in EVIDENCE_CATEGORIES:
        raise ValidationError(
            f"category must be one of {', '.join(EVIDENCE_CATEGORIES)}; nothing was sent",
            code="evidence_category",
        )
    return category


def submit_text_evidence(
    ctx: Context,
    dispute_id: int | str,
    text: str,
    principal: Principal,
    *,
    category: str | None = None,
) -> dict[str, Any]:
    """Send text evidence (a tracking number, a note). A text holding a card number is
    refused: evidence goes to the card issuer and is kept here."""
    gateway = _gateway(ctx, principal)
    _require_dispute(ctx, dispute_id)
    content = check_evidence_text(text)
    if pan.contains_pan(content):
        raise ValidationError(
            "the evidence text holds what looks like a card number; remove it (the issuer "
            "knows the card). Nothing was sent or kept",
            code="card_number_in_evidence",
        )
    category = _category(category)
    summary = {"kind": "text", "length": len(content), "category": category}
    row_id, psp_id = _begin(ctx, dispute_id, "text_evidence", principal, summary)
    evidence_id = _call(
        ctx,
        row_id,
        "text_evidence",
        principal,
        lambda: gateway.add_text_evidence(psp_id, content, category=category),
    )
    row = DisputeEvidence(
        kind="text", psp_evidence_id=str(evidence_id), category=category, text=content
    )
    return _finish(ctx, row_id, "text_evidence", principal, evidence=row, summary=summary)


def submit_file_evidence(
    ctx: Context,
    dispute_id: int | str,
    filename: str,
    content: bytes,
    principal: Principal,
    *,
    content_type: str = "",
    category: str | None = None,
) -> dict[str, Any]:
    """Upload a document (PDF, PNG, JPG up to 4 MB) as evidence. Only its name, type,
    size and SHA-256 are kept; ``content_type`` (what the browser said) must agree with
    what the bytes are."""
    gateway = _gateway(ctx, principal)
    _require_dispute(ctx, dispute_id)
    checked = check_evidence_file(filename, content, content_type)
    if pan.contains_pan(checked.name):
        raise ValidationError(
            "the file name holds what looks like a card number; rename the file. Nothing was sent",
            code="card_number_in_evidence",
        )
    category = _category(category)
    sha256 = hashlib.sha256(content).hexdigest()
    summary = {
        "kind": "file",
        "name": checked.name,
        "content_type": checked.content_type,
        "size": checked.size,
        "sha256": sha256,
        "category": category,
    }
    row_id, psp_id = _begin(ctx, dispute_id, "file_evidence", principal, summary)
    evidence_id = _call(
        ctx,
        row_id,
        "file_evidence",
        principal,
        lambda: gateway.add_file_evidence(
            psp_id, checked.name, content, content_type=checked.content_type, category=category
        ),
    )
    row = DisputeEvidence(
        kind="file",
        psp_evidence_id=str(evidence_id),
        category=category,
        file_name=checked.name,
        content_type=checked.content_type,
        size_bytes=checked.size,
        sha256=sha256,
    )
    return _finish(ctx, row_id, "file_evidence", principal, evidence=row, summary=summary)


def remove_evidence(
    ctx: Context, dispute_id: int | str, evidence_id: int, principal: Principal
) -> dict[str, Any]:
    """Withdraw a piece of evidence while the dispute is open (its row stays, marked)."""
    gateway = _gateway(ctx, principal)
    with ctx.db.transaction() as s:
        row = _find(s, dispute_id)
        piece = s.get(DisputeEvidence, evidence_id) if 0 < evidence_id <= _MAX_ID else None
        if piece is None or piece.dispute_id != row.id:
            raise NotFound(f"dispute {row.psp_dispute_id} has no evidence {evidence_id}")
        if piece.removed_at is not None:
            raise Conflict("this evidence was already removed", code="evidence_removed")
        psp_evidence_id = piece.psp_evidence_id
    summary = {"evidence": evidence_id, "psp_id": psp_evidence_id}
    row_id, psp_id = _begin(ctx, dispute_id, "remove_evidence", principal, summary)
    _call(
        ctx,
        row_id,
        "remove_evidence",
        principal,
        lambda: gateway.remove_evidence(psp_id, psp_evidence_id),
    )
    return _finish(ctx, row_id, "remove_evidence", principal, removed=evidence_id, summary=summary)


def list_disputes(
    ctx: Context, principal: Principal, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Disputes, open ones first by reply-by date, then the others newest first
    (optionally one status); supervisors only."""
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        stmt = select(Dispute)
        if status is not None:
            stmt = stmt.where(Dispute.status == status)
        rows = s.scalars(
            stmt.order_by(
                (Dispute.status != "open"),
                Dispute.reply_by.is_(None),
                Dispute.reply_by,
                Dispute.id.desc(),
            ).limit(max(1, min(limit, 500)))
        ).all()
        today = ctx.now().date()
        return [dispute_record_view(s, r, today=today) for r in rows]


def dispute_view(ctx: Context, dispute_id: int | str, principal: Principal) -> dict[str, Any]:
    _require_supervisor(principal)
    with ctx.db.transaction() as s:
        return dispute_record_view(s, _find(s, dispute_id), today=ctx.now().date())
