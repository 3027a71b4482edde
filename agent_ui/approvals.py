"""The supervisor's approvals page: four-eyes requests waiting for a decision (an agent's
refund above the limit, a manual payment, a write-off or adjustment), approved or
refused with a note; an approved refund the card's bank declined retried or closed.

Entry points only: each view calls ``crm_pay.services.approvals``, which holds every
rule (supervisors and admins only, never one's own request, expiry, exactly once).
Approving moves money, so a supervisor with MFA confirms their second factor within
``CRM_PAY_MFA_STEP_UP_SECONDS`` first, as the refund panel asks above the agent limit.
Each approve form carries its own idempotency key: a double click approves once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import approvals

from .auth import protect, signed_in_principal
from .console_session import flash
from .mfa import step_up_refusal

__all__ = ["bp"]

bp = Blueprint("crm_pay_approvals", __name__, template_folder="templates")

protect(bp, "supervisor")

_KIND_WORDS = {
    "refund": "Refund",
    "manual_payment": "Manual payment",
    "write_off": "Write-off",
    "adjustment": "Adjustment",
}


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html",
        title="Not allowed",
        message="Approvals are decided by supervisors; ask one to look at your request.",
    ), 403


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@bp.get("/approvals")
def approvals_page() -> str:
    state = request.args.get("state", "pending")
    if state not in approvals.STATES:
        state = "pending"
    rows = approvals.list_approvals(get_context(), principal=signed_in_principal(), state=state)
    for row in rows:
        row["kind_words"] = _KIND_WORDS.get(row["kind"], row["kind"])
        row["age"] = _age(row["age_seconds"])
        row["form_key"] = uuid.uuid4().hex
    return render_template(
        "crm_pay/approvals_list.html", rows=rows, state=state, states=approvals.STATES
    )


def _back() -> Response:
    return redirect(url_for(".approvals_page"))  # type: ignore[return-value]


@bp.post("/approvals/<approval_id>/approve")
def approve(approval_id: str) -> Response:
    refused = step_up_refusal(
        url_for(".approvals_page"), "Nothing was approved; after confirming, approve again."
    )
    if refused is not None:
        return refused
    key = request.form.get("approval_key", "")
    note = request.form.get("note", "")
    try:
        view, _ = approvals.approve(
            get_context(),
            approval_id,
            principal=signed_in_principal(),
            note=note,
            idempotency_key=key,
            body_hash=approvals.request_hash({"approval": approval_id, "note": note.strip()}),
        )
    except CrmPayError as exc:
        flash(f"Not approved: {exc.message}", "warning")
        return _back()
    words = _KIND_WORDS.get(view["kind"], view["kind"])
    result = view.get("result") or {}
    detail = ""
    if result.get("receipt_number"):
        detail = f" Receipt {result['receipt_number']} is on its way to the customer."
    elif result.get("refund_receipts"):
        detail = f" Refund receipt {result['refund_receipts'][-1]}."
    flash(
        f"{words} of {view['currency']} {view['amount']} for {view['customer']} approved "
        f"and booked.{detail}",
        "notice",
    )
    return _back()


@bp.post("/approvals/<approval_id>/refuse")
def refuse(approval_id: str) -> Response:
    try:
        view = approvals.refuse(
            get_context(),
            approval_id,
            principal=signed_in_principal(),
            note=request.form.get("note", ""),
        )
    except CrmPayError as exc:
        flash(f"Not refused: {exc.message}", "warning")
        return _back()
    words = _KIND_WORDS.get(view["kind"], view["kind"])
    flash(f"{words} of {view['currency']} {view['amount']} refused; nothing moved.", "notice")
    return _back()


@bp.post("/approvals/<approval_id>/close")
def close(approval_id: str) -> Response:
    """End an approved refund the bank declined; moves nothing (no step-up needed)."""
    try:
        view = approvals.close(
            get_context(),
            approval_id,
            principal=signed_in_principal(),
            note=request.form.get("note", ""),
        )
    except CrmPayError as exc:
        flash(f"Not closed: {exc.message}", "warning")
        return _back()
    flash(
        f"Refund of {view['currency']} {view['amount']} for {view['customer']} closed; "
        "nothing was refunded. Give the money back another way if it is still owed.",
        "notice",
    )
    return redirect(url_for(".approvals_page", state="closed"))  # type: ignore[return-value]
