"""Discrepancy cases for supervisors, opened automatically."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.persistence.models import Case

from .context import Context

__all__ = ["open_case", "open_cases", "CASE_KINDS", "ALERT_KINDS"]

log = logging.getLogger("crm_pay.cases")

CASE_KINDS = frozenset(
    {
        "failed",
        # (no "partial": paying part of a balance is an ordinary payment, and a PSP that
        # took less than asked opens "amount_mismatch")
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


def open_cases(
    ctx: Context, *, kinds: frozenset[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Open cases, newest first (optionally only some kinds)."""
    with ctx.db.transaction() as s:
        stmt = select(Case).where(Case.status == "open")
        if kinds is not None:
            stmt = stmt.where(Case.kind.in_(sorted(kinds)))
        rows = s.scalars(stmt.order_by(Case.id.desc()).limit(limit)).all()
        return [
            {
                "id": c.id,
                "kind": c.kind,
                "subject": c.subject,
                "payment_id": c.payment_id,
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
) -> Case:
    """Open (or return the already open) case of ``kind`` for ``subject``."""
    if kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    existing = session.scalars(
        select(Case).where(Case.kind == kind, Case.subject == subject)
    ).first()
    if existing is not None:
        return existing
    case = Case(
        kind=kind,
        subject=subject,
        payment_id=payment_id,
        status="open",
        detail=detail or {},
        note=None,
        opened_at=ctx.now(),
        resolved_at=None,
    )
    session.add(case)
    log.warning("case opened: %s for %s", kind, subject)
    return case
