"""The one error hierarchy of crm-pay.

Every error carries a machine-readable ``code`` and the HTTP status the API answers with.
Messages are written for the person who reads them: they say what is wrong and, where it
helps, how to fix it. They never contain card data or secrets.
"""

from __future__ import annotations

__all__ = [
    "CrmPayError",
    "ValidationError",
    "NotFound",
    "Conflict",
    "IdempotencyConflict",
    "IllegalTransition",
    "Unauthorized",
    "Forbidden",
    "Gone",
    "PspUnavailable",
    "PspProtocolError",
    "WebhookRejected",
    "ConfigurationError",
    "CrmUnavailable",
    "TelephonyUnavailable",
]


class CrmPayError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``status`` is the HTTP status."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ValidationError(CrmPayError):
    code = "invalid_request"
    status = 422


class NotFound(CrmPayError):
    code = "not_found"
    status = 404


class Conflict(CrmPayError):
    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with another request body."""

    code = "idempotency_key_reused"
    status = 422


class IllegalTransition(Conflict):
    code = "illegal_transition"
    status = 409


class Unauthorized(CrmPayError):
    code = "unauthorized"
    status = 401


class RateLimited(CrmPayError):
    """Too many requests in a short time; nothing was done. ``retry_after`` is the number
    of seconds to wait (sent as the ``Retry-After`` header)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(CrmPayError):
    code = "forbidden"
    status = 403


class Gone(CrmPayError):
    code = "gone"
    status = 410


class PspUnavailable(CrmPayError):
    """The PSP did not give an answer we can trust (timeout, 5xx, 429, connection lost).

    The outcome of the call is *unknown*: money may or may not have moved.
    """

    code = "psp_unavailable"
    status = 502


class PspProtocolError(PspUnavailable):
    """The PSP answered with something we cannot read (malformed XML, wrong amount...)."""

    code = "psp_protocol_error"


class WebhookRejected(CrmPayError):
    code = "webhook_rejected"
    status = 400


class ConfigurationError(CrmPayError):
    code = "configuration_error"
    status = 500


class CrmUnavailable(CrmPayError):
    """The CRM did not answer or did not take a write; nothing changed, retry later."""

    code = "crm_unavailable"
    status = 503


class TelephonyUnavailable(CrmPayError):
    """Keypad payments cannot reach a telephony provider: none is set up, or it did not
    answer. Nothing was charged; the agent can retry or send a pay link instead."""

    code = "telephony_unavailable"
    status = 503
