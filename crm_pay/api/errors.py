"""One error handler: every failure of the JSON API is ``{"error": {"code", "message"}}``
with the right HTTP status. Internal errors say nothing about internals."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, default_exceptions
from werkzeug.routing import Map

from crm_pay.domain.errors import CrmPayError, RateLimited
from crm_pay.http_headers import no_store
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
        resp, status = error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, RateLimited):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp, status

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        return _http_error_response(exc)

    # Flask prefers a handler for the status code, even the host app's, over a handler
    # for the class: register ours by code too, so a host's own 404/405 pages never
    # answer for the API.
    for code in default_exceptions:
        bp.register_error_handler(code, _http)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unexpected error in the API")
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side. It is safe to retry: a payment request "
            "retried with the same Idempotency-Key is never charged twice.",
        )


_FALLBACK = "crm_pay_api_fallback"
# Every method a client may try; OPTIONS stays Flask's automatic answer of real routes.
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _routes_without_fallback(app: Flask) -> Map:
    """The app's URL map minus the fallback's own rules (cached until rules change): what
    the path would have matched, to name its methods in ``Allow``."""
    rules = [r for r in app.url_map.iter_rules() if not r.endpoint.startswith(_FALLBACK + ".")]
    cached = app.extensions.get(_FALLBACK)
    if cached is not None and cached[0] == len(rules):
        found: Map = cached[1]
        return found
    shadow = Map(
        [r.empty() for r in rules],
        converters=app.url_map.converters,
        strict_slashes=app.url_map.strict_slashes,
        merge_slashes=app.url_map.merge_slashes,
        host_matching=app.url_map.host_matching,
    )
    app.extensions[_FALLBACK] = (len(rules), shadow)
    return shadow


def register_api_fallbacks(app: Flask, api_prefix: str) -> None:
    """JSON 404/405 for every path under ``api_prefix`` that no API route answers (a 405
    with the ``Allow`` of the route the path belongs to), not Flask's HTML page.

    A catch-all blueprint of crm-pay's own, not app-level error handlers: werkzeug
    prefers every specific rule over a ``<path:>`` catch-all, and the host
    application's 404 and 405 handlers stay in charge of every other path."""
    bp = Blueprint(_FALLBACK, __name__)
    register_error_handlers(bp)
    no_store(bp)

    def fallback(rest: str = "") -> Any:
        adapter = _routes_without_fallback(app).bind_to_environ(request.environ)
        allowed = adapter.allowed_methods(request.path)
        if allowed:
            raise MethodNotAllowed(valid_methods=sorted(allowed))
        raise NotFound()

    for rule in ("", "/", "/<path:rest>"):
        bp.add_url_rule(
            rule,
            "fallback",
            fallback,
            methods=_ANY_METHOD,
            provide_automatic_options=False,
            strict_slashes=False,
        )
    app.register_blueprint(bp, url_prefix=api_prefix)
