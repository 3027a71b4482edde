"""The agent console's write-off and adjustment request: a form on the customer's page
that asks a supervisor to write off what an invoice still owes (or part of it), or to
adjust the balance (credit: the customer owes less; debit: owes more), with a reason.

Entry point only: the rules are in ``crm_pay.services.approvals`` and
``crm_pay.services.adjustments``. Nothing is booked until a second person approves the
request on ``{prefix}/supervisor/approvals``. Each rendered form carries its own
idempotency key, so a double click or a reload asks once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import approvals, views

from .auth import signed_in_principal
from .console import bp
from .console_session import flash

__all__ = ["adjustment_form", "request_adjustment"]


def _render(crm_ref: str, *, form: Any = None, error: str = "", status: int = 200) -> Response:
    customer = views.customer_view(get_context(), crm_ref)
    values = {
        "kind": (form.get("kind") if form else None) or "write_off",
        "invoice": form.get("invoice", "") if form else "",
        "amount": form.get("amount", "") if form else "",
        "direction": (form.get("direction") if form else None) or "credit",
        "reason": form.get("reason", "") if form else "",
        "key": (form.get("adjustment_key") if form else None) or uuid.uuid4().hex,
    }
    html = render_template(
        "crm_pay/console_adjustment.html",
        c=customer,
        values=values,
        error=error,
        open_invoices=[i for i in customer["invoices"] if i["status"] != "paid"],
    )
    return Response(html, status=status)


@bp.get("/customers/<crm_ref>/adjustment")
def adjustment_form(crm_ref: str) -> Response:
    return _render(crm_ref)


@bp.post("/customers/<crm_ref>/adjustment")
def request_adjustment(crm_ref: str) -> Response:
    form = request.form
    kind = form.get("kind", "")
    amount = (form.get("amount") or "").strip()
    invoice = (form.get("invoice") or "").strip() or None
    direction = "credit" if kind == "write_off" else form.get("direction", "")
    reason = form.get("reason", "")
    key = form.get("adjustment_key", "")
    if kind not in ("write_off", "adjustment"):
        return _render(crm_ref, form=form, error="Choose a write-off or an adjustment.", status=422)
    if not amount or not key:
        return _render(crm_ref, form=form, error="Type the amount.", status=422)
    try:
        view, _ = approvals.request_adjustment(
            get_context(),
            kind=kind,
            crm_ref=crm_ref,
            amount=amount,
            direction=direction,
            invoice=invoice,
            reason=reason,
            principal=signed_in_principal(),
            idempotency_key=key,
            body_hash=approvals.request_hash(
                {
                    "kind": kind,
                    "customer": crm_ref,
                    "amount": amount,
                    "direction": direction,
                    "invoice": invoice,
                    "reason": reason.strip(),
                }
            ),
        )
    except CrmPayError as exc:
        message = exc.message
        if exc.code == "idempotency_key_reused":
            message = "This form was already used for another request; reload the page."
        return _render(crm_ref, form=form, error=message, status=exc.status)
    what = "Write-off" if kind == "write_off" else "Adjustment"
    flash(
        f"{what} of {view['currency']} {view['amount']} requested; a supervisor must approve "
        "it before it is booked. The balance has not changed yet.",
        "notice",
    )
    return redirect(url_for(".customer", crm_ref=crm_ref))  # type: ignore[return-value]
