"""The payment page's actions on its pay link: cancel (confirmed), resend, ask the
customer again for one field, a new link with the same details, and resend the receipt.

Every action is a plain form POST that works without JavaScript and answers with the
payment page and a notice in words. Cancelling asks first: the POST without
``confirm=yes`` shows what will happen and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import live_access, payments
from crm_pay.services.payments import CreatePayment

from . import console_services as services
from .auth import signed_in_principal
from .console import bp, closed_link_states, owned_payment
from .console_sending import send_link
from .console_session import flash, wants_json

__all__ = ["cancel", "resend_link", "ask_again", "new_link", "resend_receipt"]

#: The field names an agent may ask for again, in the agent's words.
FIELD_WORDS = {
    "number": "the card number",
    "expirationDate": "the expiry date",
    "cvv": "the CVV",
    "postalCode": "the postal code",
}


def _back(payment_id: str) -> Response:
    return redirect(url_for(".payment", payment_id=payment_id))  # type: ignore[return-value]


@bp.post("/payments/<payment_id>/cancel")
def cancel(payment_id: str) -> Response:
    """Cancel after a confirmation: without ``confirm=yes`` the confirmation page."""
    view = owned_payment(payment_id)
    if request.form.get("confirm") != "yes":
        html = render_template("crm_pay/console_cancel_confirm.html", p=view)
        return Response(html)
    try:
        payments.cancel_payment(get_context(), payment_id, actor=signed_in_principal().actor)
    except CrmPayError as exc:
        flash(exc.message, "warning")
    else:
        flash("Payment cancelled; the link no longer works.", "notice")
    return _back(payment_id)


@bp.post("/payments/<payment_id>/resend")
def resend_link(payment_id: str) -> Response:
    view = owned_payment(payment_id)
    channel = request.form.get("channel", "")
    if channel not in ("email", "sms"):
        flash("Choose email or SMS to resend the link.", "warning")
    elif (view.get("pay_link") or {}).get("state") != "open":
        flash("This link can no longer be paid; send a new link instead.", "warning")
    else:
        send_link(payment_id, channel, signed_in_principal(), first=False)
    return _back(payment_id)


@bp.post("/payments/<payment_id>/ask-again")
def ask_again(payment_id: str) -> Response:
    """Ask the customer to enter one field again: their pay page clears it and says so."""
    owned_payment(payment_id)
    field = request.form.get("field", "")
    status, category = 200, "notice"
    if field not in FIELD_WORDS:
        status, category = 422, "warning"
        message = "Choose the field to ask the customer for again."
    else:
        try:
            live_access.ask_again(
                get_context(), payment_id, field, actor=signed_in_principal().actor
            )
        except CrmPayError as exc:
            status, category, message = exc.status, "warning", exc.message
        else:
            message = (
                f"Asked the customer to enter {FIELD_WORDS[field]} again: their pay page "
                "clears it and says so."
            )
    if wants_json():  # the live panel's button: it shows the answer in place
        resp = jsonify({"ok": status == 200, "message": message})
        resp.status_code = status
        return resp
    flash(message, category)
    return _back(payment_id)


def _sent_by(payment_id: str) -> str:
    """How this payment's link travelled last (the newest pay-link message), else email."""
    for message in services.message_views(get_context(), payment_id) or []:
        if message.get("kind") == "pay_link" and message.get("channel") in ("email", "sms"):
            return str(message["channel"])
    return "email"


@bp.post("/payments/<payment_id>/new-link")
def new_link(payment_id: str) -> Response:
    """One click on a closed link's page: a new payment with the same amount, invoices
    and channel (the form's own idempotency key, so a double click makes one), sent."""
    view = owned_payment(payment_id)
    link: dict[str, Any] = view.get("pay_link") or {}
    if link.get("state") not in closed_link_states():
        flash("This link can still be paid (or was paid); no new link was made.", "warning")
        return _back(payment_id)
    key = (request.form.get("idempotency_key") or "").strip()
    if not key or len(key) > 200:
        flash("This form is incomplete; reload the page and try again.", "warning")
        return _back(payment_id)
    channel = _sent_by(payment_id)
    command = CreatePayment(
        crm_ref=view["customer"],
        amount=view["amount"],
        currency=view["currency"],
        channel="link",
        allocations=dict(view.get("requested_allocations") or {}) or None,
        description=view.get("description") or "",
    )
    digest = hashlib.sha256(
        json.dumps({"new_link_for": payment_id, "channel": channel}, sort_keys=True).encode()
    ).hexdigest()
    principal = signed_in_principal()
    try:
        result, created = payments.create_payment(
            get_context(),
            command,
            actor=principal.actor,
            idempotency_scope=f"user:{principal.id}",
            idempotency_key=key,
            request_hash=digest,
        )
    except CrmPayError as exc:
        flash(f"No new link was made: {exc.message}", "warning")
        return _back(payment_id)
    if created:
        send_link(result["id"], channel, principal, first=True)
    return _back(result["id"])


@bp.post("/payments/<payment_id>/resend-receipt")
def resend_receipt(payment_id: str) -> Response:
    view = owned_payment(payment_id)
    number = view.get("receipt_number")
    if not number:
        flash("There is no receipt yet: the payment has not been approved.", "warning")
        return _back(payment_id)
    try:
        services.resend_receipt(get_context(), number, actor=signed_in_principal().actor)
    except services.Unavailable:
        flash("Resending receipts is not available in this installation yet.", "warning")
    except CrmPayError as exc:
        flash(f"The receipt could not be resent: {exc.message}", "warning")
    else:
        flash(f"Receipt {number} queued to the customer's email again.", "notice")
    return _back(payment_id)
