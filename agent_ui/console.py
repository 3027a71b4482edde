"""The agent console: screen-pop, customer panel, take payment, live status.

Entry points only: each view reads the request, calls a service and renders the answer.
Every page needs a signed-in user (any role); a payment's page, status and actions are
its creator's or a supervisor's (``access.may_view_payment``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import (
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from crm_pay.current import get_context
from crm_pay.domain.errors import (
    ConfigurationError,
    CrmPayError,
    CrmUnavailable,
    NotFound,
)
from crm_pay.domain.money import Money
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from crm_pay.services import (
    access,
    approvals,
    calls,
    charge_checks,
    crm_settings,
    keypad_requests,
    live_access,
    money_history,
    payments,
    receipts,
    views,
)
from crm_pay.services.access import Principal

from . import console_services as services
from .auth import protect, signed_in_principal
from .console_forms import FormError, TakePayment, parse_take_payment
from .console_sending import send_link
from .console_session import flash
from .static_files import VersionedStatic

__all__ = ["bp", "owned_payment", "closed_link_states"]

bp = VersionedStatic(
    "crm_pay_console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

_LIVE_STEPS = (
    ("sent", "Link sent"),
    ("opened", "Link opened"),
    ("number", "Card number"),
    ("expirationDate", "Expiry"),
    ("cvv", "CVV"),
    ("postalCode", "Postal code"),
    ("processing", "Processing"),
    ("result", "Result"),
)
_STATUS_WORDS = {
    "created": "Created",
    "awaiting_customer": "Waiting for the customer",
    "processing": "Processing",
    "authorized": "Approved",
    "submitted_for_settlement": "Approved",
    "settled": "Approved (settled)",
    "declined": "Declined",
    "failed": "Failed",
    "expired": "Link expired",
    "cancelled": "Cancelled",
    "voided": "Voided",
    "settlement_declined": "Reversed: the bank did not pay",
    "unknown": "Waiting for the bank's answer",
    "held": "On hold: a supervisor reviews it",
}


def _principal() -> Principal:
    return signed_in_principal()


protect(bp, "agent")


def _status_words(status: str) -> str:
    return _STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


@bp.context_processor
def _console_template_names() -> dict[str, Any]:
    # the console's own templates only: a filter or global on the app would reach the
    # host app's templates too
    return {"status_words": _status_words}


@bp.errorhandler(CrmPayError)
def _service_error(exc: CrmPayError) -> tuple[str, int]:
    title = {404: "Not found", 403: "Not allowed", 503: "CRM unavailable"}.get(
        exc.status, "Something needs attention"
    )
    return render_template("crm_pay/console_error.html", title=title, message=exc.message), (
        exc.status
    )


@bp.errorhandler(403)
@bp.errorhandler(404)
def _http_error(exc: Any) -> tuple[str, int]:
    code = getattr(exc, "code", 404)
    message = (
        "This payment belongs to another agent; a supervisor can open it."
        if code == 403
        else "There is nothing here; check the link or search again."
    )
    title = "Not allowed" if code == 403 else "Not found"
    return render_template("crm_pay/console_error.html", title=title, message=message), code


@bp.get("/")
def index() -> str:
    return render_template("crm_pay/console_index.html", query="")


def _render_customer(
    crm_ref: str,
    *,
    form: Any = None,
    errors: dict[str, str] | None = None,
    confirmations: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ctx = get_context()
    started = ctx.now()
    try:
        view = views.customer_view(ctx, crm_ref)
    except (CrmUnavailable, ConfigurationError) as exc:  # no CRM answer and no copy
        html = render_template(
            "crm_pay/console_error.html",
            title="The CRM is not answering",
            message=crm_settings.crm_down_message(ctx, exc),
        )
        return Response(html, status=503)
    crm_notice = crm_settings.stale_customer_notice(ctx, crm_ref, since=started)
    # The call the agent is on (the incoming-call banner's link carries ?call_sid=):
    # with keypad payments set up, the form offers taking the card on its keypad.
    call_sid = (form.get("call_sid", "") if form else request.args.get("call_sid", ""))[:64]
    keypad_ready = ctx.telephony is not None
    if keypad_ready and not form and not call_sid:
        call_sid = _remembered_call(ctx, crm_ref)
    values = {
        "invoices": form.getlist("invoice") if form else [],
        "amount": form.get("amount", "") if form else "",
        "channel": form.get("channel", "email")
        if form
        else ("keypad" if call_sid and keypad_ready else "email"),
        "call_sid": call_sid,
        "card": form.get("card", "") if form else "",
        # A consent is asked again on every new form: never carried into a page shown
        # for a confirmation (the customer consents to this charge, now).
        "consent": bool(form and form.get("consent") == "yes" and not confirmations),
        "idempotency_key": (form.get("idempotency_key") if form else None) or uuid.uuid4().hex,
    }
    # Receipts are linked only where the signed-in user may open them (their own
    # payments; supervisors any): the others would answer 404.
    viewable = {
        p["receipt_number"]
        for p in view["recent_payments"]
        if p.get("receipt_number") and access.may_view_receipt(_principal(), p["created_by"])
    }
    receipts_list = [
        {"number": p["receipt_number"], "amount": p["amount"], "currency": p["currency"]}
        for p in view["recent_payments"]
        if p.get("receipt_number") in viewable
    ]
    html = render_template(
        "crm_pay/console_customer.html",
        c=view,
        viewable_receipts=viewable,
        values=values,
        errors=errors or {},
        confirmations=confirmations or {},
        receipts=receipts_list,
        allow_agent_keyed=get_context().config.allow_agent_keyed,
        keypad_ready=keypad_ready,
        crm_notice=crm_notice,
        money_history=money_history.customer_history(get_context(), view["crm_ref"]),
    )
    return Response(html, status=status)


@bp.get("/customers/<crm_ref>")
def customer(crm_ref: str) -> Response:
    return _render_customer(crm_ref)


def _remembered_call(ctx: Any, crm_ref: str) -> str:
    """The Call SID of the agent's current call (the screen-pop remembers it) when that
    call matched this customer; else nothing, and the agent types it."""
    principal = _principal()
    if principal.kind != "user":
        return ""
    call = calls.current_call(ctx, principal.id)
    if call is None or crm_ref not in {m.crm_ref for m in call.matches}:
        return ""
    return call.call_sid


def _confirmations(order: TakePayment, principal: Principal) -> dict[str, str]:
    """What the agent must confirm before this payment is made, by the form's
    ``confirm`` value: a charge of the same card and amount just made, an amount above
    the open balance. Checked here, on the server: a form posted without the tick is
    shown again with the warning and nothing is charged or sent."""
    needed: dict[str, str] = {}
    cmd = order.command
    if cmd.channel == "vaulted" and cmd.payment_method_token:
        earlier = charge_checks.recent_card_charge(
            get_context(),
            crm_ref=cmd.crm_ref,
            card_token=cmd.payment_method_token,
            amount=Money.parse(cmd.amount, cmd.currency),
            idempotency_scope=f"user:{principal.id}",
            idempotency_key=order.idempotency_key,
        )
        if earlier is not None:
            when = (
                "less than a minute ago"
                if earlier["minutes_ago"] < 1
                else f"{earlier['minutes_ago']} minute(s) ago"
            )
            needed["duplicate"] = (
                f"This card was charged {cmd.currency} {cmd.amount} {when} (payment "
                f"{earlier['id']}, {_status_words(earlier['status']).lower()}). Charging it "
                "again takes the money a second time."
            )
    if order.over_balance:
        needed["over_balance"] = order.over_balance
    return needed


@bp.post("/customers/<crm_ref>/payments")
def take_payment(crm_ref: str) -> Response:
    ctx = get_context()
    principal = _principal()
    view = views.customer_view(ctx, crm_ref)
    try:
        order = parse_take_payment(view, request.form, keypad_ready=ctx.telephony is not None)
        needed = _confirmations(order, principal)
        confirmed = set(request.form.getlist("confirm"))
        if set(needed) - confirmed:
            return _render_customer(crm_ref, form=request.form, confirmations=needed, status=409)
        result, created = payments.create_payment(
            ctx,
            order.command,
            actor=principal.actor,
            idempotency_scope=f"user:{principal.id}",
            idempotency_key=order.idempotency_key,
            request_hash=order.request_hash,
        )
    except FormError as exc:
        return _render_customer(
            crm_ref, form=request.form, errors={exc.field: exc.message}, status=422
        )
    except CrmPayError as exc:
        field = "consent" if exc.code == "consent_required" else "form"
        message = exc.message
        if exc.code == "idempotency_key_reused":
            message = "This form was already used for another payment; reload the page."
        return _render_customer(
            crm_ref, form=request.form, errors={field: message}, status=exc.status
        )
    if created and order.send_by:
        send_link(result["id"], order.send_by, principal, first=True)
    if created and order.call_sid:
        try:  # the payment is made either way: its page can start the capture again
            keypad_requests.keypad_step(
                ctx,
                result["id"],
                "start",
                actor=principal.actor,
                call_sid=order.call_sid,
                idempotency_scope=f"user:{principal.id}",
            )
        except CrmPayError as exc:
            flash(f"The card entry on the call did not start: {exc.message}", "warning")
    return redirect(url_for(".payment", payment_id=result["id"]))


def owned_payment(payment_id: str) -> dict[str, Any]:
    """The payment's view, for its creator or a supervisor; 403 for anyone else."""
    view = payments.get_payment(get_context(), payment_id)
    if not access.may_view_payment(_principal(), view["created_by"]):
        abort(403)
    return view


_owned_payment = owned_payment  # the name console_refunds/_manual/_adjustments import


def closed_link_states() -> frozenset[str]:
    """Link states in which the customer can no longer pay, so the agent is offered a
    new link with the same details (``used``/``processing`` are not: money moved)."""
    return frozenset({"expired", "cancelled", "locked"})


def _expires_in(view: dict[str, Any]) -> int | None:
    link = view.get("pay_link")
    if not link or link.get("state") != "open":
        return None
    left = datetime.fromisoformat(link["expires_at"]) - get_context().now()
    return max(0, int(left.total_seconds()))


@bp.get("/payments/<payment_id>")
def payment(payment_id: str) -> Response:
    ctx = get_context()
    view = _owned_payment(payment_id)
    prefix = get_context().config.prefix
    html = render_template(
        "crm_pay/console_payment.html",
        p=view,
        live=services.live_snapshot(ctx, payment_id),
        steps=_LIVE_STEPS,
        expires_in=_expires_in(view),
        messages=services.message_views(ctx, payment_id),
        socket_path=f"{request.script_root}{prefix}/socket.io",
        status_url=url_for(".payment_status", payment_id=payment_id),
        refund_key=uuid.uuid4().hex,  # one refund per rendered form, however often sent
        new_link_key=uuid.uuid4().hex,  # "new link, same details": one per rendered form
        ask_again_fields=live_access.HOSTED_FIELDS,
        link_closed=(view.get("pay_link") or {}).get("state") in closed_link_states(),
        history=money_history.payment_history(ctx, payment_id),
        refund_requests=approvals.list_approvals(
            ctx, principal=_principal(), kind="refund", payment_id=payment_id
        ),
    )
    return Response(html)


@bp.get("/payments/<payment_id>/status")
def payment_status(payment_id: str) -> Response:
    """The live panel's fallback when Socket.IO is unavailable: polled as JSON."""
    view = _owned_payment(payment_id)
    event: dict[str, Any] = {"payment_id": view["id"], "status": view["status"]}
    if view.get("receipt_number"):
        event["receipt_number"] = view["receipt_number"]
    if view.get("decline"):
        event["decline"] = {
            "message": view["decline"]["message"],
            "next_step": view["decline"]["next_step"],
        }
    if view.get("pay_link"):
        event["attempts_left"] = view["pay_link"]["attempts_left"]
        event["link_state"] = view["pay_link"]["state"]
    return jsonify(event)


@bp.get("/receipts/<number>.pdf")
def receipt_pdf(number: str) -> Response:
    try:
        # Only the payment's creator or a supervisor; 404 for the rest (numbers are
        # sequential: a 403 would confirm which exist).
        _, receipt = receipts.get_receipt(get_context(), number, principal=_principal())
    except NotFound:
        abort(404)
    return Response(
        render_receipt_pdf(receipt),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
    )
