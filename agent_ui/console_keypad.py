"""The console's keypad panel: the agent steers a keypad (DTMF) capture on the
customer's call for an ``ivr`` payment — start it on a call, ask for a field again,
complete, cancel — and reads its progress.

Entry points only (added to :data:`agent_ui.console.bp`): each POST (with the form's
CSRF token) calls :func:`crm_pay.services.keypad_requests.keypad_step` and answers JSON
to the panel's script (``keypad.js``) or, without JavaScript, redirects to the payment
page with the words of the outcome. The progress words arrive over the payment's live
status (``keypad`` in :mod:`crm_pay.live_publisher`); ``GET …/keypad`` is the panel's
fallback and its state after each step. Masked values only: the brand, the last 4 digits
and the expiry, never more.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.ports import KeypadField
from crm_pay.services import keypad_requests
from crm_pay.services.keypad_sessions import OPEN, KeypadSessionView
from crm_pay.services.keypad_words import FIELD_LABELS

from .auth import signed_in_principal
from .console import bp, owned_payment
from .console_session import flash, wants_json

__all__ = ["keypad_panel"]

# The panel's rows: each keypad field and the live-status field name its tick uses.
_ROWS = (
    (KeypadField.CARD_NUMBER.value, "number"),
    (KeypadField.EXPIRY.value, "expirationDate"),
    (KeypadField.SECURITY_CODE.value, "cvv"),
    (KeypadField.POSTAL_CODE.value, "postalCode"),
)
# What each step says when it went through (the live words follow it).
_DONE_WORDS = {
    "start": "The keypad capture started; the customer is asked for the card number.",
    "ask": "Asked the customer for it on the keypad.",
    "complete": "Sent the card to be checked; the result follows.",
    "cancel": "The card entry was ended; nothing entered was kept. The payment stays open.",
}


def _session_json(view: KeypadSessionView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "status": view.status,
        "call_sid": view.call_sid,
        "field": view.field,
        "fields_left": list(view.fields_left),
        "open": view.status in OPEN,
        "card_last4": view.card_last4,  # masked card only: never more than the last 4
        "card_brand": view.card_brand,
        "payment_status": view.payment_status,
    }


@bp.context_processor
def _keypad_template_names() -> dict[str, Any]:
    # the console's own templates only: a host app's templates never see the name
    return {"keypad_panel": keypad_panel}


def keypad_panel(payment: dict[str, Any]) -> dict[str, Any] | None:
    """What the payment page's keypad panel shows (an ``ivr`` payment only): the current
    capture and its rows, and whether keypad payments are set up."""
    if payment.get("channel") != "ivr":
        return None
    ctx = get_context()
    view = keypad_requests.current_session(ctx, str(payment["id"]))
    left = set(view.fields_left) if view is not None else set()
    asked = set(left) | ({view.field} if view is not None and view.field else set())
    # known once the provider reported a field (as keypad_sessions.live_event reads it)
    known = view is not None and bool(left or view.card_last4)
    rows = []
    for field, live in _ROWS:
        # the postal code only when the capture asked for it (KeypadCaptureRequest's default)
        shown = field != KeypadField.POSTAL_CODE.value or field in asked
        done = shown and known and field not in left
        rows.append(
            {
                "field": field,
                "live": live,
                "label": FIELD_LABELS[field],
                "done": done,
                "shown": shown,
            }
        )
    capturing = view is not None and view.status == "capturing"
    return {
        "ready": ctx.telephony is not None,
        "can_complete": capturing and known and not left,
        # a start the provider did not answer ("starting") is retried on the same call
        "can_start": view is None or view.status in ("starting", "cancelled", "failed", "declined"),
        "session": _session_json(view),
        "rows": rows,
        "missing": [FIELD_LABELS[f] for f, _ in _ROWS if f in left],
    }


def _answer(payment_id: str, step: str, **args: str) -> Response:
    owned_payment(payment_id)
    principal = signed_in_principal()
    ctx = get_context()
    status, ok = 200, True
    view: KeypadSessionView | None
    try:
        view, _ = keypad_requests.keypad_step(
            ctx,
            payment_id,
            step,
            actor=principal.actor,
            idempotency_scope=f"user:{principal.id}",
            **args,
        )
        message = _DONE_WORDS[step]
    except CrmPayError as exc:
        status, ok, message = exc.status, False, exc.message
        view = keypad_requests.current_session(ctx, payment_id)
    if wants_json():
        resp = jsonify({"ok": ok, "message": message, "session": _session_json(view)})
        resp.status_code = status
        return resp
    flash(message, "notice" if ok else "warning")
    return redirect(url_for(".payment", payment_id=payment_id))  # type: ignore[return-value]


@bp.get("/payments/<payment_id>/keypad")
def keypad_session(payment_id: str) -> Response:
    """The current capture (masked), for the panel after a step or without live status."""
    owned_payment(payment_id)
    view = keypad_requests.current_session(get_context(), payment_id)
    return jsonify({"payment_id": payment_id, "session": _session_json(view)})


@bp.post("/payments/<payment_id>/keypad/start")
def keypad_start(payment_id: str) -> Response:
    """Start a capture on the call (again, after one was cancelled or failed)."""
    return _answer(payment_id, "start", call_sid=request.form.get("call_sid", ""))


@bp.post("/payments/<payment_id>/keypad/ask")
def keypad_ask(payment_id: str) -> Response:
    return _answer(payment_id, "ask", field=request.form.get("field", ""))


@bp.post("/payments/<payment_id>/keypad/complete")
def keypad_complete(payment_id: str) -> Response:
    return _answer(payment_id, "complete")


@bp.post("/payments/<payment_id>/keypad/cancel")
def keypad_cancel(payment_id: str) -> Response:
    """End the capture after a confirmation: without ``confirm=yes`` the question."""
    view = owned_payment(payment_id)
    if request.form.get("confirm") != "yes":
        html = render_template("crm_pay/console_keypad_cancel_confirm.html", p=view)
        return Response(html, status=200)
    return _answer(payment_id, "cancel")
