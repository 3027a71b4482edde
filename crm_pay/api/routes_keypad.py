"""Entry points only: keypad (DTMF) payments of the JSON API, the agent's steps on a
customer's call for an ``ivr`` payment.

``POST /payments/<id>/keypad`` ``{"call_sid": "CA…"}`` starts the capture on the call
(and asks for the card number); ``POST …/keypad/ask`` ``{"field": "expiration-date"}``
prompts for a field (again); ``POST …/keypad/complete`` sends the entered card to the
provider's Pay Connector (the token that comes back is charged); ``POST …/keypad/cancel``
ends the capture (the payment stays open); ``GET …/keypad`` is the current capture
(``session``, null before one was started), masked card only. Each POST takes an
optional ``Idempotency-Key`` (:mod:`crm_pay.services.keypad_requests`). Answers: 422
an unknown field (``invalid_field``), as for every bad value of the API; 409 a step the
capture's state does not allow, 503 keypad payments are not set up; nothing changes on
any refusal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from crm_pay.current import get_context
from crm_pay.domain.errors import ValidationError
from crm_pay.ports import KEYPAD_FIELDS
from crm_pay.services import keypad_requests
from crm_pay.services.access import Principal

from .request_body import read_json_object, reject_unknown_fields, required_text

__all__ = ["register_keypad_routes"]

F = TypeVar("F", bound=Callable[..., Any])


def _digest(payment_id: str, step: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(
            {**body, "payment": payment_id, "step": step}, sort_keys=True, separators=(",", ":")
        ).encode()
    ).hexdigest()


def _field(body: dict[str, Any]) -> str:
    field = required_text(body, "field", max_length=40, example="expiration-date")
    if field not in KEYPAD_FIELDS:
        raise ValidationError(
            f"'field' must be one of {', '.join(sorted(KEYPAD_FIELDS))}; nothing was asked",
            code="invalid_field",
        )
    return field


def register_keypad_routes(
    bp: Blueprint,
    *,
    auth: Callable[[str], Callable[[F], F]],
    principal_of: Callable[[], Principal],
) -> None:
    """Add the keypad routes to the API blueprint ``bp`` (``auth`` and ``principal_of``
    handed over by ``crm_pay.api.routes``, which imports this module)."""

    def step(payment_id: str, name: str, body: dict[str, Any], **args: str) -> Response:
        principal = principal_of()
        view, _ = keypad_requests.keypad_step(
            get_context(),
            payment_id,
            name,
            actor=principal.actor,
            idempotency_scope=f"api_key:{principal.id}",
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            request_hash=_digest(payment_id, name, body),
            **args,
        )
        return jsonify(view.as_dict())

    @bp.get("/payments/<payment_id>/keypad")
    @auth("agent")
    def keypad_capture(payment_id: str) -> Response:
        view = keypad_requests.current_session(get_context(), payment_id)
        return jsonify({"payment_id": payment_id, "session": view and view.as_dict()})

    @bp.post("/payments/<payment_id>/keypad")
    @auth("agent")
    def start_keypad_capture(payment_id: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("call_sid",))
        call_sid = required_text(body, "call_sid", max_length=64, example="CA…")
        return step(payment_id, "start", body, call_sid=call_sid)

    @bp.post("/payments/<payment_id>/keypad/ask")
    @auth("agent")
    def ask_keypad_field(payment_id: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("field",))
        return step(payment_id, "ask", body, field=_field(body))

    @bp.post("/payments/<payment_id>/keypad/complete")
    @auth("agent")
    def complete_keypad_capture(payment_id: str) -> Response:
        body = read_json_object(empty_means={})
        reject_unknown_fields(body, ())
        return step(payment_id, "complete", body)

    @bp.post("/payments/<payment_id>/keypad/cancel")
    @auth("agent")
    def cancel_keypad_capture(payment_id: str) -> Response:
        body = read_json_object(empty_means={})
        reject_unknown_fields(body, ())
        return step(payment_id, "cancel", body)
