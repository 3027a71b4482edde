"""Entry points only: translate HTTP into service calls and results into JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge

from crm_pay.current import get_context
from crm_pay.domain.errors import (
    Forbidden,
    PspUnavailable,
    RateLimited,
    Unauthorized,
    ValidationError,
    WebhookRejected,
)
from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Receipt
from crm_pay.http_headers import no_store
from crm_pay.ports import WebhookRequest
from crm_pay.rate_limits import RateLimits
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from crm_pay.services import (
    access,
    customers,
    janitor,
    notifications,
    payments,
    policy,
    receipts,
    reconciliation,
    settlement,
    views,
    webhooks,
)
from crm_pay.services.access import Principal, authenticate_api_key, require_role
from crm_pay.services.context import Context

from . import route_policy
from .errors import _routes_without_fallback, error_response, register_error_handlers
from .openapi import openapi_document
from .request_body import (
    choice_field,
    install_body_limit,
    read_json_object,
    reject_unknown_fields,
    required_text,
    text_field,
)
from .routes_calls import register_call_routes
from .routes_cases import register_case_routes
from .routes_disputes import register_dispute_routes
from .routes_fraud import register_fraud_routes
from .routes_keypad import register_keypad_routes
from .routes_money import register_money_routes
from .routes_telephony import register_telephony_routes

__all__ = ["create_api_blueprint", "create_webhook_blueprint"]

F = TypeVar("F", bound=Callable[..., Any])


def _ctx() -> Context:
    return get_context()


def auth(role: str | None = "agent") -> Callable[[F], F]:
    """A valid key whose role is ``role`` or above, then the route table's action
    (``policy.require``). ``role=None``: the route table's action alone decides, for a
    route a key-only role (such as telephony, policy.KEY_ONLY_ACTIONS) may use."""

    def deco(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not secret:
                    raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
                principal = authenticate_api_key(_ctx(), secret.strip())
            except Unauthorized:
                _rate_limit(_ctx().config.api_unauthenticated_rate_limit, "api_ip", _client_ip())
                raise
            _rate_limit(_ctx().config.api_rate_limit, "api_key", str(principal.id))
            if role is not None:
                require_role(principal, role)
            _require_route_policy(principal)
            g.crm_pay_principal = principal
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def _require_route_policy(principal: Principal) -> None:
    """The endpoint's action from the route table, checked by policy (fail closed: an
    endpoint without an entry is refused and logged)."""
    needed = route_policy.action_for(request.endpoint)
    if needed is None:
        logging.getLogger("crm_pay.api").error(
            "no authorization policy for endpoint %s: refused", request.endpoint
        )
        raise Forbidden("this endpoint has no authorization policy, so it is refused")
    if needed not in route_policy.MARKERS:
        policy.require(principal, needed)
    payment_id = (request.view_args or {}).get("payment_id")
    if payment_id is not None and needed in policy.OWNED:
        access.require_payment_access(_ctx(), principal, needed, str(payment_id))


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _rate_limit(limit: str, scope: str, identifier: str) -> None:
    """Count this request against ``limit`` (``CRM_PAY_API_RATE_LIMIT`` or
    ``CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT``) (per key, or per IP without a
    valid key); 429 with Retry-After when it is used up (docs/security/throttling.md)."""
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    refusal = limits.hit(limit, scope, identifier)
    if refusal is not None:
        who = "this API key" if scope == "api_key" else "this address without a valid key"
        raise RateLimited(
            f"Too many requests from {who}. Nothing was done. Wait {refusal.retry_after} "
            "seconds, then send the request again (the same Idempotency-Key is safe).",
            retry_after=refusal.retry_after,
        )


def _principal() -> Principal:
    return g.crm_pay_principal  # type: ignore[no-any-return]


_CURRENCY = re.compile("[A-Za-z]{3}")  # normalize_currency then checks it is one we take
_PAYMENT_FIELDS = (
    "customer",
    "amount",
    "currency",
    "channel",
    "allocations",
    "description",
    "payment_method_token",
    "customer_consent",
)


def _payment_command(body: dict[str, Any]) -> payments.CreatePayment:
    """POST /payments' body, typed field by field as openapi.py describes it."""
    reject_unknown_fields(body, _PAYMENT_FIELDS)
    customer = required_text(body, "customer", max_length=100, example="CUST-0001")
    amount = required_text(body, "amount", max_length=40, example="12.34")
    currency = required_text(body, "currency", max_length=40, example="USD")
    if _CURRENCY.fullmatch(currency) is None:
        raise ValidationError("'currency' must be a three-letter ISO 4217 code such as 'USD'")
    allocations = body.get("allocations")
    if "allocations" in body and not (
        isinstance(allocations, dict) and all(isinstance(v, str) for v in allocations.values())
    ):
        raise ValidationError('allocations must look like {"INV-1001": "25.00"}')
    consent = body.get("customer_consent", False)
    if not isinstance(consent, bool):
        raise ValidationError(
            "customer_consent must be the JSON boolean true (the customer agreed) or false",
            code="consent_required",
        )
    return payments.CreatePayment(
        crm_ref=customer,
        amount=amount,
        currency=currency,
        channel=choice_field(body, "channel", ("link", "vaulted", "ivr"), default="link"),
        allocations=allocations,
        description=text_field(
            body, "description", min_length=0, max_length=payments.DESCRIPTION_MAX_LENGTH
        )
        or "",
        payment_method_token=text_field(body, "payment_method_token", max_length=100),
        customer_consent=consent,
    )


_FIRST_DAY = date(2000, 1, 1)


def _reconciliation_day(text: str) -> date:
    """``parse_day``, and not before 2000: no card payment of ours is older, and the
    PSP's search cannot even be asked about a year below 1000 (found by schemathesis)."""
    day = reconciliation.parse_day(text)
    if day < _FIRST_DAY:
        raise ValidationError(
            f"{day.isoformat()} is before 2000-01-01; nothing to reconcile there, nothing was run",
            code="invalid_date",
        )
    return day


def create_api_blueprint() -> Blueprint:
    bp = Blueprint("crm_pay_api", __name__)
    register_error_handlers(bp)
    no_store(bp)
    install_body_limit(bp)

    @bp.before_request
    def _options_allow() -> Response | None:
        # Flask's automatic OPTIONS would advertise the JSON 404/405 catch-all's methods
        # (register_api_fallbacks) too; answer with this path's own routes only.
        if request.method != "OPTIONS":
            return None
        adapter = _routes_without_fallback(current_app).bind_to_environ(request.environ)
        allowed = adapter.allowed_methods(request.path)
        return Response(status=200, headers={"Allow": ", ".join(sorted(allowed))})

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(
            openapi_document(
                request.script_root + request.path.rsplit("/", 1)[0],
                currencies=tuple(_ctx().psp.currencies),
            )
        )

    @bp.get("/customers/<crm_ref>")
    @auth("agent")
    def customer(crm_ref: str) -> Response:
        return jsonify(views.customer_view(_ctx(), crm_ref))

    @bp.get("/customers")
    @auth("agent")
    def customer_search() -> Response:
        phone, email = request.args.get("phone"), request.args.get("email")
        if phone and phone[:1] == " " and phone[1:2].isdigit():
            phone = "+" + phone[1:]  # an unencoded "+" in a query string arrives as a space
        if bool(phone) == bool(email):
            raise ValidationError("give exactly one of ?phone=+15551234567 or ?email=...")
        found = (
            customers.find_by_phone(_ctx(), phone)
            if phone
            else customers.find_by_email(_ctx(), email or "")
        )
        return jsonify({"customers": found})

    @bp.post("/payments")
    @auth("agent")
    def create_payment() -> tuple[Response, int]:
        body = read_json_object()
        command = _payment_command(body)
        key = request.headers.get("Idempotency-Key", "")
        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        principal = _principal()
        view, created = payments.create_payment(
            _ctx(),
            command,
            actor=principal.actor,
            idempotency_scope=f"api_key:{principal.id}",
            idempotency_key=key,
            request_hash=digest,
            ip=request.remote_addr,
        )
        return jsonify(view), 201 if created else 200

    @bp.get("/payments/<payment_id>")
    @auth("agent")
    def get_payment(payment_id: str) -> Response:
        # An approved payment's settlement is learnt from the PSP on read (no webhook
        # says so for cards); a PSP that does not answer leaves the view as we know it.
        with contextlib.suppress(PspUnavailable):
            settlement.refresh_from_psp(_ctx(), payment_id, max_age_seconds=60)
        return jsonify(payments.get_payment(_ctx(), payment_id))

    @bp.post("/payments/<payment_id>/resolve")
    @auth("supervisor")
    def resolve_payment(payment_id: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("note",))
        # 'note' is checked again after trimming by the service: a blank reason is refused.
        note = required_text(body, "note", max_length=2000, example="why")
        return jsonify(
            janitor.resolve_unknown_by_hand(_ctx(), payment_id, principal=_principal(), note=note)
        )

    @bp.post("/payments/<payment_id>/cancel")
    @auth("agent")
    def cancel_payment(payment_id: str) -> Response:
        return jsonify(payments.cancel_payment(_ctx(), payment_id, actor=_principal().actor))

    @bp.post("/payments/<payment_id>/send-link")
    @auth("agent")
    def send_link(payment_id: str) -> tuple[Response, int]:
        body = read_json_object()
        reject_unknown_fields(body, ("channel",))
        channel = choice_field(body, "channel", ("email", "sms"))
        view = notifications.send_pay_link(
            _ctx(), payment_id, channel=channel, actor=_principal().actor
        )
        return jsonify(view), 202

    @bp.get("/payments/<payment_id>/messages")
    @auth("agent")
    def payment_messages(payment_id: str) -> Response:
        payments.get_payment(_ctx(), payment_id, resolve=False)  # 404 for an unknown id
        return jsonify({"messages": notifications.message_views(_ctx(), payment_id=payment_id)})

    @bp.post("/receipts/<number>/resend")
    @auth("agent")
    def resend_receipt(number: str) -> tuple[Response, int]:
        # No body at all: to the customer, as documented.
        body = read_json_object(empty_means={})
        reject_unknown_fields(body, ("to",))
        to = text_field(body, "to", max_length=254, example="someone@example.com")
        receipts.get_receipt(_ctx(), number, principal=_principal())  # 404 if not theirs
        view = notifications.resend_receipt(_ctx(), number, actor=_principal().actor, to=to)
        return jsonify(view), 202

    @bp.get("/receipts/<number>.pdf")
    @auth("agent")
    def receipt_pdf(number: str) -> Response:
        _, receipt = receipts.get_receipt(_ctx(), number, principal=_principal())
        return Response(
            render_receipt_pdf(receipt),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{number}.pdf"'},
        )

    @bp.get("/receipts/<number>")
    @auth("agent")
    def receipt(number: str) -> Response:
        _, found = receipts.get_receipt(_ctx(), number, principal=_principal())
        return jsonify(_receipt_json(found))

    @bp.get("/reconciliations/<day>")
    @auth("supervisor")
    def get_reconciliation(day: str) -> Response:
        return jsonify(reconciliation.reconciliation_view(_ctx(), _reconciliation_day(day)))

    @bp.post("/reconciliations/<day>")
    @auth("supervisor")
    def run_reconciliation(day: str) -> Response:
        # Runs in the request: a day of the embedded deployment takes seconds; the
        # worker runs yesterday on its own (crm_pay.worker).
        return jsonify(
            reconciliation.reconcile(_ctx(), _reconciliation_day(day), actor=_principal().actor)
        )

    register_dispute_routes(bp, auth=auth)
    register_case_routes(bp, auth=auth)
    register_money_routes(bp, auth=auth, principal_of=_principal)
    register_fraud_routes(bp, auth=auth, principal_of=_principal)
    register_call_routes(bp, auth=auth, principal_of=_principal)
    register_keypad_routes(bp, auth=auth, principal_of=_principal)
    return bp


_RECEIPT_AMOUNT = {"refund": "amount_refunded", "reversal": "amount_reversed"}


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    """The API's receipt document (``Receipt`` in the OpenAPI document), from the one
    reading of a stored receipt (:func:`receipts.receipt_from_row`, which also redacts
    card numbers from receipts stored before the guard existed)."""

    def m(money: Money) -> str:
        return money.to_decimal_str()

    return {
        "number": receipt.number,
        "kind": receipt.kind,
        "issued_at": receipt.issued_at.isoformat(),
        "merchant": dataclasses.asdict(receipt.merchant),
        "customer": {"crm_ref": receipt.customer_ref, "name": receipt.customer_name},
        "payment_id": receipt.payment_id,
        "currency": receipt.amount_paid.currency,
        "lines": [
            {
                "description": x.description,
                "quantity": x.quantity,
                "unit_price": m(x.unit_price),
                "tax": m(x.tax),
                "invoice": x.invoice_ref,
            }
            for x in receipt.lines
        ],
        "tax_breakdown": [{"label": label, "amount": m(v)} for label, v in receipt.tax_breakdown],
        "shipping": m(receipt.shipping),
        "allocations": [{"invoice": ref, "amount": m(v)} for ref, v in receipt.allocations],
        "credit": m(receipt.credit),
        # a refund receipt states what went back to the card, a reversal what the bank
        # took back at settlement; neither is what was paid
        _RECEIPT_AMOUNT.get(receipt.kind, "amount_paid"): m(receipt.amount_paid),
        "method": receipt.method,
        "psp_reference": receipt.psp_reference,
        "pdf_url": f"{request.script_root}{request.path.rstrip('/')}.pdf",
    }


# A valid notice is at most 256 KiB decoded (services.webhooks); percent-encoding at
# most triples it, plus the field names. No genuine PSP webhook is larger.
_WEBHOOK_FORM_BYTES = 3 * 256 * 1024 + 1024


def _webhook_too_large() -> tuple[Response, int]:
    return error_response(
        413,
        "request_too_large",
        f"the webhook body is larger than {_WEBHOOK_FORM_BYTES} bytes; it was not read "
        "or stored, and no genuine PSP notice is that large",
    )


def create_webhook_blueprint() -> Blueprint:
    bp = Blueprint("crm_pay_webhooks", __name__)
    register_error_handlers(bp)

    @bp.before_request
    def _bound_webhook_form() -> tuple[Response, int] | None:
        # werkzeug would parse (and buffer) the whole form before the service's own
        # 256 KiB check; refuse an oversized body before a byte of it is read or stored.
        if request.endpoint != "crm_pay_webhooks.psp_webhook":
            return None
        request.max_content_length = _WEBHOOK_FORM_BYTES  # bounds a chunked body too
        request.max_form_memory_size = _WEBHOOK_FORM_BYTES
        if request.content_length is not None:
            if request.content_length > _WEBHOOK_FORM_BYTES:
                return _webhook_too_large()
            return None
        # Chunked: the bounded stream ends at the limit without an error, so a body that
        # reaches it is refused; the form is then parsed from this (bounded) copy.
        try:
            data = request.get_data(cache=True, parse_form_data=False)
        except RequestEntityTooLarge:
            return _webhook_too_large()
        return _webhook_too_large() if len(data) >= _WEBHOOK_FORM_BYTES else None

    @bp.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with _ctx().db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - health reports, never raises
            return jsonify({"status": "unavailable", "database": "unreachable"}), 503
        return jsonify({"status": "ok"}), 200

    @bp.post("/webhooks/<psp>")
    def psp_webhook(psp: str) -> tuple[Response, int]:
        """A notice from the configured PSP (``/webhooks/braintree`` for Braintree): the
        adapter reads and verifies its own request; this only bounds and hands it on."""
        ctx = _ctx()
        if psp != ctx.psp.name:
            return error_response(
                404, "not_found", f"no webhook for {psp[:40]!r} here; the PSP is {ctx.psp.name}"
            )
        try:
            # The body first, kept: the form is then parsed from that (bounded) copy.
            body = request.get_data(cache=True, parse_form_data=False)
            incoming = WebhookRequest(
                form=request.form.to_dict(),
                body=body,
                headers={k.lower(): v for k, v in request.headers.items()},
            )
        except RequestEntityTooLarge:  # a chunked body that ran past the bound
            return _webhook_too_large()
        try:
            envelope = ctx.psp.webhook_envelope(incoming)
        except WebhookRejected as exc:  # its fields are missing: nothing was stored
            return error_response(exc.status, exc.code, exc.message)
        try:
            result = webhooks.receive_envelope(ctx, envelope, remote_addr=request.remote_addr)
        except WebhookRejected as exc:
            return error_response(exc.status, exc.code, f"{exc.message}; stored, not processed")
        # Stored and verified: whatever became of it (processed, ignored, pending, failed
        # with its reason for replay), Braintree must not resend it.
        return jsonify({"status": result.status, "id": result.webhook_id}), 200

    register_telephony_routes(bp)  # keypad captures' status callbacks
    return bp
