"""The agent console's money pages: record a manual payment (money taken outside the PSP:
cheque, bank transfer, cash, card terminal) for a supervisor to approve, and "my payments
today" (``{prefix}/agent/payments``: the signed-in agent's payments of the current UTC
day).

Entry points only: the rules are in ``crm_pay.services.approvals`` and
``crm_pay.services.manual_payments``. A manual payment reaches the ledger, the receipts
and the CRM only when a supervisor approves it on ``{prefix}/supervisor/approvals``;
until then it is listed here as waiting. Each rendered form carries its own idempotency
key, so a double click or a reload records it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import approvals, money_history, views
from crm_pay.services.manual_payments import METHODS, ManualPayment

from .auth import signed_in_principal
from .console import bp
from .console_session import flash

__all__ = ["manual_payment_form", "record_manual_payment", "my_payments"]


def _render(crm_ref: str, *, form: Any = None, error: str = "", status: int = 200) -> Response:
    customer = views.customer_view(get_context(), crm_ref)
    values = {
        "amount": form.get("amount", "") if form else "",
        "method": form.get("method", "cheque") if form else "cheque",
        "reference": form.get("reference", "") if form else "",
        "note": form.get("note", "") if form else "",
        "invoices": form.getlist("invoice") if form else [],
        "key": (form.get("manual_key") if form else None) or uuid.uuid4().hex,
    }
    html = render_template(
        "crm_pay/console_manual.html",
        c=customer,
        values=values,
        methods=METHODS,
        error=error,
        open_invoices=[i for i in customer["invoices"] if i["status"] != "paid"],
    )
    return Response(html, status=status)


@bp.get("/customers/<crm_ref>/manual-payment")
def manual_payment_form(crm_ref: str) -> Response:
    return _render(crm_ref)


@bp.post("/customers/<crm_ref>/manual-payment")
def record_manual_payment(crm_ref: str) -> Response:
    form = request.form
    amount = (form.get("amount") or "").strip()
    key = form.get("manual_key", "")
    if not amount or not key:
        return _render(crm_ref, form=form, error="Type the amount received.", status=422)
    command = ManualPayment(
        crm_ref=crm_ref,
        amount=amount,
        currency=(form.get("currency") or "").strip(),
        method=form.get("method", ""),
        reference=form.get("reference", ""),
        note=form.get("note", ""),
        invoices=tuple(form.getlist("invoice")),
    )
    try:
        view, _ = approvals.request_manual_payment(
            get_context(),
            command,
            principal=signed_in_principal(),
            idempotency_key=key,
            body_hash=approvals.request_hash(
                {
                    "customer": crm_ref,
                    "amount": amount,
                    "currency": command.currency,
                    "method": command.method,
                    "reference": command.reference.strip(),
                    "note": command.note.strip(),
                    "invoices": sorted(command.invoices),
                }
            ),
        )
    except CrmPayError as exc:
        message = exc.message
        if exc.code == "idempotency_key_reused":
            message = "This form was already used for another manual payment; reload the page."
        return _render(crm_ref, form=form, error=message, status=exc.status)
    flash(
        f"Manual payment of {view['currency']} {view['amount']} recorded; a supervisor must "
        "approve it before it is booked and the receipt goes out. Nothing is on the "
        "customer's balance yet.",
        "notice",
    )
    return redirect(url_for(".my_payments"))  # type: ignore[return-value]


@bp.get("/payments")
def my_payments() -> str:
    ctx = get_context()
    principal = signed_in_principal()
    day = money_history.payments_of_day(ctx, principal=principal)
    waiting = [
        a
        for a in approvals.list_approvals(ctx, principal=principal, state="pending")
        if a["created_at"][:10] == day["day"] or a["kind"] == "manual_payment"
    ]
    return render_template("crm_pay/console_my_payments.html", day=day, waiting=waiting)
