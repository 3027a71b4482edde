"""The JSON API of disputes (supervisor keys): list and read them, accept, send or
withdraw evidence, finalize (contest). Entry points only: HTTP in, ``services.disputes``
calls, JSON out; errors take the blueprint's one shape.

Accept and finalize move money or decide who keeps it, so they need an Idempotency-Key.
Evidence is a JSON body ``{"text": ..., "category": ...}`` or a ``multipart/form-data``
upload (``file``, optional ``category``); an upload is bounded by the API's body limit
(``CRM_PAY_MAX_BODY_BYTES``; the supervisor console takes files up to 4 MB).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from crm_pay.current import get_context
from crm_pay.domain.errors import ValidationError
from crm_pay.services import disputes
from crm_pay.services.access import Principal

from .request_body import read_json_object, reject_unknown_fields, text_field

__all__ = ["register_dispute_routes", "DISPUTE_STATUSES"]

#: What ``?status=`` may ask for (Braintree's dispute statuses, crm_pay.ports.PspDispute).
DISPUTE_STATUSES = (
    "open",
    "under_review",
    "disputed",
    "won",
    "lost",
    "accepted",
    "auto_accepted",
    "expired",
)
_MAX_LIST = 500


Guard = Callable[[str], Callable[[Callable[..., Any]], Callable[..., Any]]]


def register_dispute_routes(bp: Blueprint, *, auth: Guard) -> None:
    """Add the dispute routes to the API blueprint ``bp``. ``auth`` is the blueprint's
    key check (``routes.auth``: role, route policy, rate limit), which leaves the key's
    principal in ``g.crm_pay_principal``."""
    guard = auth

    def who() -> Principal:
        return g.crm_pay_principal  # type: ignore[no-any-return]

    @bp.get("/disputes")
    @guard("supervisor")
    def list_disputes() -> Response:
        unknown = set(request.args) - {"status", "limit"}
        if unknown:
            raise ValidationError(
                f"unknown query parameter {sorted(unknown)[0]!r}; this list takes status and limit"
            )
        status = request.args.get("status") or None
        if status is not None and status not in DISPUTE_STATUSES:
            raise ValidationError(
                f"status must be one of {', '.join(DISPUTE_STATUSES)}", code="invalid_status"
            )
        limit_text = request.args.get("limit", "50")
        if (
            not limit_text.isascii()
            or not limit_text.isdigit()
            or not 1 <= int(limit_text) <= _MAX_LIST
        ):
            raise ValidationError(f"limit must be a whole number from 1 to {_MAX_LIST}")
        found = disputes.list_disputes(get_context(), who(), status=status, limit=int(limit_text))
        return jsonify({"disputes": found})

    @bp.get("/disputes/<int:dispute_id>")
    @guard("supervisor")
    def get_dispute(dispute_id: int) -> Response:
        return jsonify(disputes.dispute_view(get_context(), dispute_id, who()))

    @bp.post("/disputes/<int:dispute_id>/accept")
    @guard("supervisor")
    def accept_dispute(dispute_id: int) -> Response:
        _empty_body()
        view = disputes.accept_dispute(
            get_context(),
            dispute_id,
            who(),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        return jsonify(view)

    @bp.post("/disputes/<int:dispute_id>/finalize")
    @guard("supervisor")
    def finalize_dispute(dispute_id: int) -> Response:
        _empty_body()
        view = disputes.finalize_dispute(
            get_context(),
            dispute_id,
            who(),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        return jsonify(view)

    @bp.post("/disputes/<int:dispute_id>/evidence")
    @guard("supervisor")
    def add_dispute_evidence(dispute_id: int) -> tuple[Response, int]:
        ctx = get_context()
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            unknown = set(request.form) - {"category"} | set(request.files) - {"file"}
            if unknown:
                raise ValidationError(
                    f"unknown field {sorted(unknown)[0]!r}; send file and category"
                )
            if upload is None:
                raise ValidationError("send the document as the form field 'file'")
            try:  # a large upload is a temporary file: closed whatever happens
                content = upload.read()
            finally:
                upload.close()
            view = disputes.submit_file_evidence(
                ctx,
                dispute_id,
                upload.filename or "",
                content,
                who(),
                content_type=upload.mimetype or "",
                category=request.form.get("category") or None,
            )
            return jsonify(view), 201
        body = read_json_object()
        reject_unknown_fields(body, ("text", "category"))
        text = text_field(body, "text", max_length=10_000, example="Delivered, signed by J. Doe")
        if text is None:
            raise ValidationError(
                'send {"text": "..."} as JSON, or a multipart/form-data upload with the field '
                "'file'"
            )
        category = text_field(body, "category", max_length=60, example="TRACKING_NUMBER")
        view = disputes.submit_text_evidence(ctx, dispute_id, text, who(), category=category)
        return jsonify(view), 201

    @bp.delete("/disputes/<int:dispute_id>/evidence/<int:evidence_id>")
    @guard("supervisor")
    def remove_dispute_evidence(dispute_id: int, evidence_id: int) -> Response:
        return jsonify(disputes.remove_evidence(get_context(), dispute_id, evidence_id, who()))


def _empty_body() -> None:
    """Accept and finalize take no fields: an empty body or ``{}``."""
    body = read_json_object(empty_means={})
    reject_unknown_fields(body, ())
