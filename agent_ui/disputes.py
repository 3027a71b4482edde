"""The supervisor console's dispute panel: every dispute with its reply-by date (overdue
ones marked), and one dispute's page to send evidence (a text, a document), withdraw
it, accept the chargeback or submit the evidence (contest).

Entry points only: each view reads the form, calls ``crm_pay.services.disputes`` and
renders or redirects with a notice in plain words. Every page needs the supervisor role
(agents get 403); every POST carries the session's CSRF token (checked app-wide by
``agent_ui.auth``). Accepting and submitting ask for a ticked confirmation and carry an
idempotency key of the page, so a double click does it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound, ValidationError
from crm_pay.domain.evidence import MAX_EVIDENCE_BYTES
from crm_pay.services import disputes
from crm_pay.services.access import Principal

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["bp"]

bp = Blueprint("crm_pay_disputes", __name__, template_folder="templates")

protect(bp, "supervisor")

_STATUSES = ("open", "disputed", "under_review", "won", "lost", "accepted", "expired")
# The form around an upload (category, CSRF token) on top of the largest document.
_UPLOAD_MARGIN = 64 * 1024


def _principal() -> Principal:
    return signed_in_principal()


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html",
        title="Not allowed",
        message="Disputes are answered by supervisors; ask one for access.",
    ), 403


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html", title="No such dispute", message=exc.message
    ), 404


@bp.get("/")
def list_page() -> str:
    status = request.args.get("status") or None
    if status not in (None, *_STATUSES):
        status = None
    found = disputes.list_disputes(get_context(), _principal(), status=status, limit=200)
    return render_template(
        "crm_pay/disputes_list.html", disputes=found, status=status, statuses=_STATUSES
    )


@bp.get("/<int:dispute_id>")
def detail(dispute_id: int) -> tuple[str, int]:
    return _detail_page(dispute_id)


def _detail_page(
    dispute_id: int, *, error: str | None = None, status: int = 200, text: str = ""
) -> tuple[str, int]:
    view = disputes.dispute_view(get_context(), dispute_id, _principal())
    html = render_template(
        "crm_pay/disputes_detail.html",
        dispute=view,
        categories=disputes.EVIDENCE_CATEGORIES,
        idempotency_key=uuid.uuid4().hex,
        max_mb=MAX_EVIDENCE_BYTES // (1024 * 1024),
        error=error,
        text=text,
    )
    return html, status


def _back(dispute_id: int) -> Response:
    return redirect(url_for(".detail", dispute_id=dispute_id))  # type: ignore[return-value]


@bp.post("/<int:dispute_id>/text")
def add_text(dispute_id: int) -> Response | tuple[str, int]:
    try:
        disputes.submit_text_evidence(
            get_context(),
            dispute_id,
            request.form.get("text", ""),
            _principal(),
            category=request.form.get("category") or None,
        )
    except CrmPayError as exc:
        # The page again, with the text still typed in (nothing lost), unless it was refused
        # for a card number: that is not shown back.
        kept = "" if exc.code == "card_number_in_evidence" else request.form.get("text", "")
        return _detail_page(
            dispute_id, error=f"Not sent: {exc.message}", status=exc.status, text=kept
        )
    flash("Text evidence sent to the payment provider.", "notice")
    return _back(dispute_id)


@bp.post("/<int:dispute_id>/file")
def upload(dispute_id: int) -> Response | tuple[str, int]:
    # Above the API's body limit: the console takes a whole 4 MB document.
    request.max_content_length = MAX_EVIDENCE_BYTES + _UPLOAD_MARGIN
    document = request.files.get("file")
    try:
        if document is None or not document.filename:
            raise ValidationError("choose a PDF, PNG or JPG file to upload", code="evidence_empty")
        try:  # a large upload is a temporary file: closed whatever happens
            content = document.read()
        finally:
            document.close()
        disputes.submit_file_evidence(
            get_context(),
            dispute_id,
            document.filename,
            content,
            _principal(),
            content_type=document.mimetype or "",
            category=request.form.get("category") or None,
        )
    except CrmPayError as exc:
        return _detail_page(dispute_id, error=f"Not uploaded: {exc.message}", status=exc.status)
    flash(f"{document.filename} uploaded and attached to the dispute.", "notice")
    return _back(dispute_id)


@bp.post("/<int:dispute_id>/evidence/<int:evidence_id>/remove")
def remove(dispute_id: int, evidence_id: int) -> Response:
    try:
        disputes.remove_evidence(get_context(), dispute_id, evidence_id, _principal())
    except CrmPayError as exc:
        flash(f"Not removed: {exc.message}", "warning")
        return _back(dispute_id)
    flash("Evidence withdrawn.", "notice")
    return _back(dispute_id)


@bp.post("/<int:dispute_id>/accept")
def accept(dispute_id: int) -> Response:
    return _answer(dispute_id, "accept")


@bp.post("/<int:dispute_id>/finalize")
def finalize(dispute_id: int) -> Response:
    return _answer(dispute_id, "finalize")


def _answer(dispute_id: int, action: str) -> Response:
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm first; nothing was sent.", "warning")
        return _back(dispute_id)
    answer = disputes.accept_dispute if action == "accept" else disputes.finalize_dispute
    try:
        view = answer(
            get_context(),
            dispute_id,
            _principal(),
            idempotency_key=request.form.get("idempotency_key") or uuid.uuid4().hex,
        )
    except CrmPayError as exc:
        flash(f"Not done: {exc.message}", "warning")
        return _back(dispute_id)
    if action == "accept":
        flash(
            f"Dispute accepted: {view['amount']} {view['currency']} stays with the customer "
            "and is booked as a chargeback.",
            "notice",
        )
    else:
        flash(
            "Evidence submitted: the card issuer decides now; the outcome arrives from the "
            "payment provider.",
            "notice",
        )
    return _back(dispute_id)
