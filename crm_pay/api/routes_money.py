"""Entry points only: the money operations of the JSON API (refunds with reasons and
four-eyes approvals, manual payments, write-offs and adjustments).

``register_money_routes(bp)`` adds them to the API blueprint (``create_api_blueprint``
calls it). Every request that can move money takes an ``Idempotency-Key``; the rules are
in :mod:`crm_pay.services.approvals`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from crm_pay.current import get_context
from crm_pay.domain.errors import ValidationError
from crm_pay.services import access, approvals, money_history
from crm_pay.services.access import Principal
from crm_pay.services.manual_payments import METHODS, ManualPayment

from .request_body import (
    choice_field,
    read_json_object,
    reject_unknown_fields,
    required_text,
    text_field,
)

__all__ = ["register_money_routes"]

F = TypeVar("F", bound=Callable[..., Any])

_MANUAL_FIELDS = ("customer", "amount", "currency", "method", "reference", "note", "invoices")
_ADJUSTMENT_FIELDS = ("customer", "kind", "amount", "direction", "invoice", "reason")


def _digest(body: dict[str, Any], **extra: str) -> str:
    return hashlib.sha256(
        json.dumps({**body, **extra}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _key() -> str:
    return request.headers.get("Idempotency-Key", "")


def _query(*allowed: str) -> None:
    """Refuse query parameters the route does not take (a typo must not list everything)."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ValidationError(
            f"unknown query parameter(s): {', '.join(unknown)}; this takes {', '.join(allowed)}"
        )


def _limit() -> int:
    text = request.args.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 500:
        raise ValidationError("limit must be a whole number from 1 to 500")
    return int(text)


def _invoices(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("invoices", [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= 100 for v in value
    ):
        raise ValidationError('invoices must be a list of invoice numbers, e.g. ["INV-1001"]')
    if len(value) > 50:
        raise ValidationError("at most 50 invoices per manual payment")
    return tuple(value)


def register_money_routes(
    bp: Blueprint,
    *,
    auth: Callable[[str], Callable[[F], F]],
    principal_of: Callable[[], Principal],
) -> None:
    """Add the money-operations routes to the API blueprint ``bp``. ``auth`` and
    ``principal_of`` are the API's key check and its signed-in principal
    (``crm_pay.api.routes``, which imports this module: handed over, not imported back)."""

    @bp.post("/refunds")
    @auth("agent")
    def create_refund() -> tuple[Response, int]:
        body = read_json_object()
        reject_unknown_fields(body, ("payment_id", "amount", "reason"))
        payment_id = required_text(body, "payment_id", max_length=40, example="pay_...")
        amount = text_field(body, "amount", max_length=40, example="10.00")
        reason = text_field(body, "reason", min_length=0, max_length=500) or ""
        principal = principal_of()
        ctx = get_context()
        access.require_payment_access(ctx, principal, "payment.refund", payment_id)
        result, created = approvals.refund_or_request(
            ctx,
            payment_id,
            amount=amount,
            reason=reason,
            principal=principal,
            idempotency_key=_key(),
            body_hash=_digest(body),
        )
        if result["outcome"] == "pending_approval":
            return jsonify(result), 202 if created else 200
        return jsonify(result), 201 if created else 200

    @bp.post("/payments/<payment_id>/refund")
    @auth("agent")
    def refund_payment(payment_id: str) -> tuple[Response, int]:
        # The older route to the same refund as POST /refunds (same rule, same
        # Idempotency-Key handling). Money goes back only on an explicit request: {} (a
        # JSON object) for all that is left, {"amount": "10.00"} for part; no body, [],
        # 0, "" or null are refused. Refunded: the payment, as this route always
        # answered; above an agent's limit: the approval request, as /refunds answers.
        body = read_json_object()
        reject_unknown_fields(body, ("amount", "reason"))
        amount = text_field(body, "amount", max_length=40, example="10.00")
        reason = text_field(body, "reason", min_length=0, max_length=500) or ""
        result, created = approvals.refund_or_request(
            get_context(),
            payment_id,
            amount=amount,
            reason=reason,
            principal=principal_of(),
            idempotency_key=_key(),
            body_hash=_digest(body, payment=payment_id),
        )
        if result["outcome"] == "pending_approval":
            return jsonify(result), 202 if created else 200
        return jsonify(result["payment"]), 201 if created else 200

    @bp.get("/refunds")
    @auth("agent")
    def list_refunds() -> Response:
        _query("payment_id", "limit")
        principal = principal_of()
        payment_id = request.args.get("payment_id") or None
        ctx = get_context()
        limit = _limit()
        done = money_history.refund_history(
            ctx, principal=principal, payment_id=payment_id, limit=limit
        )
        waiting = approvals.list_approvals(
            ctx, principal=principal, kind="refund", payment_id=payment_id, limit=limit
        )
        return jsonify(
            {
                "refunds": done,
                "requests": [a for a in waiting if not a["executed"]],
            }
        )

    @bp.post("/manual-payments")
    @auth("agent")
    def create_manual_payment() -> tuple[Response, int]:
        body = read_json_object()
        reject_unknown_fields(body, _MANUAL_FIELDS)
        command = ManualPayment(
            crm_ref=required_text(body, "customer", max_length=100, example="CUST-0001"),
            amount=required_text(body, "amount", max_length=40, example="40.00"),
            currency=required_text(body, "currency", max_length=3, example="USD"),
            method=choice_field(body, "method", tuple(METHODS)),
            reference=required_text(body, "reference", max_length=100, example="CHQ-000778"),
            note=text_field(body, "note", min_length=0, max_length=500) or "",
            invoices=_invoices(body),
        )
        view, created = approvals.request_manual_payment(
            get_context(),
            command,
            principal=principal_of(),
            idempotency_key=_key(),
            body_hash=_digest(body),
        )
        return jsonify(view), 202 if created else 200

    @bp.get("/manual-payments")
    @auth("agent")
    def list_manual_payments() -> Response:
        _query("state", "limit")
        state = request.args.get("state") or None
        return jsonify(
            {
                "manual_payments": approvals.list_approvals(
                    get_context(),
                    principal=principal_of(),
                    kind="manual_payment",
                    state=state,
                    limit=_limit(),
                )
            }
        )

    @bp.post("/adjustments")
    @auth("agent")
    def create_adjustment() -> tuple[Response, int]:
        body = read_json_object()
        reject_unknown_fields(body, _ADJUSTMENT_FIELDS)
        view, created = approvals.request_adjustment(
            get_context(),
            kind=choice_field(body, "kind", ("write_off", "adjustment")),
            crm_ref=required_text(body, "customer", max_length=100, example="CUST-0001"),
            amount=required_text(body, "amount", max_length=40, example="20.00"),
            direction=choice_field(body, "direction", ("credit", "debit"), default="credit"),
            invoice=text_field(body, "invoice", max_length=100, example="INV-1001"),
            reason=required_text(body, "reason", max_length=500, example="goodwill"),
            principal=principal_of(),
            idempotency_key=_key(),
            body_hash=_digest(body),
        )
        return jsonify(view), 202 if created else 200

    @bp.get("/approvals")
    @auth("agent")
    def list_approvals() -> Response:
        _query("state", "kind", "limit")
        return jsonify(
            {
                "approvals": approvals.list_approvals(
                    get_context(),
                    principal=principal_of(),
                    state=request.args.get("state") or None,
                    kind=request.args.get("kind") or None,
                    limit=_limit(),
                )
            }
        )

    @bp.get("/approvals/<approval_id>")
    @auth("agent")
    def get_approval(approval_id: str) -> Response:
        _query()
        return jsonify(approvals.get_approval(get_context(), approval_id, principal=principal_of()))

    @bp.post("/approvals/<approval_id>/approve")
    @auth("supervisor")
    def approve(approval_id: str) -> Response:
        body = read_json_object(empty_means={})
        reject_unknown_fields(body, ("note",))
        note = text_field(body, "note", min_length=0, max_length=500) or ""
        view, _ = approvals.approve(
            get_context(),
            approval_id,
            principal=principal_of(),
            note=note,
            idempotency_key=_key(),
            body_hash=_digest(body, approval=approval_id),
        )
        return jsonify(view)

    @bp.post("/approvals/<approval_id>/refuse")
    @auth("supervisor")
    def refuse(approval_id: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("note",))
        note = required_text(body, "note", max_length=500, example="no cheque received")
        return jsonify(
            approvals.refuse(get_context(), approval_id, principal=principal_of(), note=note)
        )

    @bp.post("/approvals/<approval_id>/close")
    @auth("supervisor")
    def close_approval(approval_id: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("note",))
        note = required_text(body, "note", max_length=500, example="refunded by bank transfer")
        return jsonify(
            approvals.close(get_context(), approval_id, principal=principal_of(), note=note)
        )
