"""One error handler: every failure of the JSON API is ``{"error": {"code", "message"}}``
with the right HTTP status. Internal errors say nothing about internals."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from crm_pay.domain.errors import CrmPayError
from vault.pan import redact

__all__ = ["error_response", "register_error_handlers", "register_api_fallbacks"]

log = logging.getLogger("crm_pay.api")


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    # A card number typed into the wrong field must not be echoed back in an error.
    return jsonify({"error": {"code": code, "message": redact(message)}}), status


def _http_error_response(exc: HTTPException) -> tuple[Response, int]:
    """An HTTP error in the envelope, with the headers the status needs: a 405 names the
    methods the resource has (RFC 9110 15.5.6: ``Allow`` is required there)."""
    code = (exc.name or "error").lower().replace(" ", "_")
    resp, status = error_response(exc.code or 500, code, exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp, status


def register_error_handlers(bp: Blueprint) -> None:
    @bp.errorhandler(CrmPayError)
    def _domain(exc: CrmPayError) -> tuple[Response, int]:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        return _http_error_response(exc)

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
    with the JSON envelope too (a 405 with its ``Allow``), not Flask's HTML page.

    Flask routes these errors to app-level handlers only, so these are app-level; every
    other path is passed on untouched: to the handler the host application registered
    before crm-pay, else Flask's own answer (which already carries ``Allow``)."""
    host_handlers = app.error_handler_spec.get(None, {})
    previous = {
        404: host_handlers.get(404, {}).get(NotFound),
        405: host_handlers.get(405, {}).get(MethodNotAllowed),
    }

    def handler(exc: HTTPException) -> Any:
        if request.path.startswith(api_prefix + "/") or request.path == api_prefix:
            return _http_error_response(exc)
        host = previous.get(exc.code or 0)
        return host(exc) if host is not None else exc

    app.register_error_handler(404, handler)
    app.register_error_handler(405, handler)
