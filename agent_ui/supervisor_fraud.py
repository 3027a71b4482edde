"""The supervisor's Release and Decline of a payment the fraud rules held, on its
``fraud_review`` case page (added to ``agent_ui.supervisor.bp``).

Each form carries an idempotency key made when the page was drawn, so a second click
(or a reload that posts again) is the same decision, not a second one. Entry points
only: the views call ``crm_pay.services.fraud_review``.
"""

from __future__ import annotations

import hashlib

from flask import Response, redirect, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound, ValidationError
from crm_pay.services import case_views, fraud_review

from .auth import signed_in_principal
from .console_session import flash
from .supervisor import bp

__all__ = ["bp"]


def _decide(case_id: int, action: str) -> Response:
    ctx = get_context()
    note = request.form.get("note", "")
    key = request.form.get("idempotency_key", "")
    try:
        view = case_views.case_page(ctx, case_id)
        if view["payment"] is None:
            raise ValidationError("this case concerns no payment")
        use_case = fraud_review.release_held if action == "release" else fraud_review.decline_held
        result = use_case(
            ctx,
            view["payment"]["id"],
            principal=signed_in_principal(),
            note=note,
            idempotency_key=key,
            request_hash=hashlib.sha256(f"{action}\n{note}".encode()).hexdigest(),
        )
    except NotFound as exc:
        flash(exc.message, "warning")
    except CrmPayError as exc:
        flash(f"Not done: {exc.message}", "warning")
    else:
        done = "released: submitted for settlement" if action == "release" else "declined"
        flash(f"Payment {done}; it is now {result['status']}.", "notice")
    return redirect(url_for("crm_pay_supervisor.case", case_id=case_id))  # type: ignore[return-value]


@bp.post("/cases/<int:case_id>/release-payment")
def case_release_payment(case_id: int) -> Response:
    """Release a held payment: submitted for settlement, then booked."""
    return _decide(case_id, "release")


@bp.post("/cases/<int:case_id>/decline-payment")
def case_decline_payment(case_id: int) -> Response:
    """Decline a held payment: its authorization voided, the customer told."""
    return _decide(case_id, "decline")
