"""Refunds from the agent console's payment page.

The same service as ``POST /payments/{id}/refund`` (crm_pay/services/refunds.py): the
PSP's state decides void or refund, the ledger and receipts follow, and a retried form
(double click, reload) refunds once, keyed by the form's own idempotency key.

Who may: the payment's creator or a supervisor (the route table's ``payment.refund``);
an agent up to ``CRM_PAY_AGENT_REFUND_LIMIT``. An agent's refund above it becomes an
approval request (``crm_pay.services.approvals``; a reason is required): nothing goes
back until a supervisor approves it on ``{prefix}/supervisor/approvals``. Above that limit
a supervisor must have confirmed their second factor within
``CRM_PAY_MFA_STEP_UP_SECONDS`` (step-up): a refund is money leaving, and a stolen
supervisor session must not be enough. The form's ``reason`` is kept with the refund.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation

from flask import Response, redirect, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.domain.money import Money
from crm_pay.services import access, approvals

from .auth import signed_in_principal
from .console import _owned_payment, bp
from .console_session import flash
from .mfa import step_up_refusal

__all__ = ["refund"]


def _wanted(view: dict[str, object], scope: str, amount: str) -> Decimal | None:
    """The amount the form asks for, as a decimal; None when it is not a number."""
    try:
        if scope == "full":
            return Decimal(str(view["amount"])) - Decimal(str(view.get("refunded") or "0"))
        return Decimal(amount)
    except InvalidOperation:
        return None


@bp.post("/payments/<payment_id>/refund")
def refund(payment_id: str) -> Response:
    view = _owned_payment(payment_id)
    back = redirect(url_for(".payment", payment_id=payment_id))
    scope = request.form.get("scope", "")
    amount = request.form.get("amount", "").strip()
    key = request.form.get("refund_key", "")
    if scope not in ("full", "part") or (scope == "part" and not amount) or not key:
        flash("Type the amount to refund, or choose to refund everything left.", "warning")
        return back  # type: ignore[return-value]
    principal = signed_in_principal()
    limit = get_context().config.agent_refund_limit
    wanted = _wanted(view, scope, amount)
    if (
        wanted is not None
        and access.has_role(principal, "supervisor")
        and wanted > Decimal(Money.parse(limit, str(view["currency"])).to_decimal_str())
    ):
        refused = step_up_refusal(
            url_for(".payment", payment_id=payment_id),
            "Nothing was refunded; after confirming, refund again.",
        )
        if refused is not None:
            return refused
    reason = request.form.get("reason", "")
    digest = hashlib.sha256(
        f"{scope}:{amount if scope == 'part' else ''}:{reason.strip()}".encode()
    ).hexdigest()
    try:
        answer, _ = approvals.refund_or_request(
            get_context(),
            payment_id,
            amount=amount if scope == "part" else None,
            reason=reason,
            principal=principal,
            idempotency_key=key,
            body_hash=digest,
        )
    except CrmPayError as exc:
        words = exc.message
        if exc.code == "reason_required":
            words = (
                f"refunds above {limit} need a supervisor's approval: say why in the reason "
                "field, then send it again for approval"
            )
        flash(f"Nothing was refunded: {words}", "warning")
        return back  # type: ignore[return-value]
    if answer["outcome"] == "pending_approval":
        request_view = answer["approval"]
        flash(
            f"Refund of {request_view['currency']} {request_view['amount']} sent to a "
            "supervisor for approval. Nothing was refunded yet; it goes back to the card "
            "once a supervisor approves it.",
            "notice",
        )
        return back  # type: ignore[return-value]
    result = answer["payment"]
    if result["status"] == "voided":
        message = (
            f"Payment voided: the charge of {result['currency']} {result['amount']} is "
            "cancelled before it settled; the customer is not charged."
        )
    else:
        message = (
            f"Payment refunded: {result['currency']} {result['refunded']} back to the "
            "customer's card in all; the refund receipt is on its way to them."
        )
    flash(message, "notice")
    return back  # type: ignore[return-value]
