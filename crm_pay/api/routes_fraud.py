"""The API's fraud review routes: a supervisor releases or declines a held payment.

``POST /payments/{id}/release`` and ``POST /payments/{id}/decline`` (supervisor key,
``Idempotency-Key``, body ``{"note": "..."}``) call :mod:`crm_pay.services.fraud_review`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from crm_pay.current import get_context
from crm_pay.services import fraud_review
from crm_pay.services.access import Principal

from .request_body import read_json_object, reject_unknown_fields, required_text

__all__ = ["register_fraud_routes"]

F = TypeVar("F", bound=Callable[..., Any])


def _digest(action: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps({**body, "action": action}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def register_fraud_routes(
    bp: Blueprint,
    *,
    auth: Callable[[str], Callable[[F], F]],
    principal_of: Callable[[], Principal],
) -> None:
    """Add the fraud review routes to the API blueprint ``bp`` (``auth`` and
    ``principal_of`` handed over by ``crm_pay.api.routes``)."""

    def decide(payment_id: str, action: str) -> Response:
        body = read_json_object()
        reject_unknown_fields(body, ("note",))
        note = required_text(body, "note", max_length=500, example="checked with the customer")
        use_case = fraud_review.release_held if action == "release" else fraud_review.decline_held
        view = use_case(
            get_context(),
            payment_id,
            principal=principal_of(),
            note=note,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            request_hash=_digest(action, body),
        )
        return jsonify(view)

    @bp.post("/payments/<payment_id>/release")
    @auth("supervisor")
    def release_payment(payment_id: str) -> Response:
        return decide(payment_id, "release")

    @bp.post("/payments/<payment_id>/decline")
    @auth("supervisor")
    def decline_payment(payment_id: str) -> Response:
        return decide(payment_id, "decline")
