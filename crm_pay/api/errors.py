"""One error handler: every failure of the JSON API is ``{"error": {"code", "message"}}``
with the right HTTP status. Internal errors say nothing about internals."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from crm_pay.domain.errors import CrmPayError
from vault.pan import redact

__all__ = ["error_response", "register_error_handlers", "register_api_fallbacks"]

log = logging.getLogger("crm_pay.api")


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    # A card number typed into the wrong field must not be echoed back in an error.
    return jsonify({"error": {"code": code, "message": redact(message)}}), status


def register_error_handlers(bp: Blueprint) -> None:
    @bp.errorhandler(CrmPayError)
    def _domain(exc: CrmPayError) -> tuple[Response, int]:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unexpected error in the API")
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side. It is safe to retry: a payment request "
            "retried with the same Idempotency-Key is never charged twice.",
        )


def register_api_fallbacks(app: Flask, api_prefix: str) -> None:
    """404/405 under the API prefix happen before any blueprint is chosen; answer them
    with the JSON envelope too, not Flask's HTML page."""

    def handler(exc: HTTPException) -> Any:
        if request.path.startswith(api_prefix + "/") or request.path == api_prefix:
            code = (exc.name or "error").lower().replace(" ", "_")
            return error_response(exc.code or 500, code, exc.description or exc.name)
        return exc

    app.register_error_handler(404, handler)
    app.register_error_handler(405, handler)
