"""The OpenAPI paths of keypad (DTMF) payments (crm_pay/api/routes_keypad.py): start a
capture on the customer's call, ask for a field, complete, cancel, read it. Merged into
the document by :func:`crm_pay.api.openapi.openapi_document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_pay.ports import KEYPAD_FIELDS

__all__ = ["keypad_paths"]

_FIELD = {"enum": sorted(KEYPAD_FIELDS)}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_SESSION = {
    "type": "object",
    "description": "A keypad capture as the agent sees it: masked card only (brand, last 4 "
    "digits, expiry), never the number or the security code.",
    "required": ["id", "payment_id", "call_sid", "status", "fields_left", "card"],
    "properties": {
        "id": {"type": "integer"},
        "payment_id": {"type": "string"},
        "call_sid": {"type": "string"},
        "capture_sid": _NULLABLE_TEXT,
        "status": {
            "enum": [
                "starting",
                "capturing",
                "completing",
                "charging",
                "charged",
                "declined",
                "cancelled",
                "failed",
            ]
        },
        "field": {"type": ["string", "null"], "description": "the field asked for last"},
        "fields_left": {"type": "array", "items": _FIELD},
        "error": _NULLABLE_TEXT,
        "result": _NULLABLE_TEXT,
        "card": {
            "type": "object",
            "properties": {
                "brand": _NULLABLE_TEXT,
                "last4": {"type": ["string", "null"], "pattern": "^[0-9]{4}$"},
                "exp": _NULLABLE_TEXT,
            },
        },
        "payment_status": {"type": "string"},
    },
}
_NO_FIELDS = {"type": "object", "additionalProperties": False, "properties": {}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Optional. Same key + same body: the capture as it is now, the step not "
    "sent to the provider again; same key + another body is a 422. A refused step frees "
    "its key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def keypad_paths(
    *, op: Callable[..., dict[str, Any]], path_param: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """Agent keys, on their own ``ivr`` payments (docs/guides/twilio-keypad-payments.md)."""
    payment_id = path_param("payment_id", "Payment id (channel ivr)")
    params = [payment_id, _IDEMPOTENCY_KEY]
    steps = (401, 403, 404, 409, 422, 503)
    return {
        "/payments/{payment_id}/keypad": {
            "get": op(
                "The payment's current keypad capture (masked card only); session is null "
                "before one was started",
                {
                    "type": "object",
                    "required": ["payment_id", "session"],
                    "properties": {
                        "payment_id": {"type": "string"},
                        "session": {"oneOf": [_SESSION, {"type": "null"}]},
                    },
                },
                params=[payment_id],
            ),
            "post": op(
                "Start a keypad capture on the customer's call (Twilio: the Call SID) and "
                "ask for the card number. 409 when the payment is not ivr, cannot be charged "
                "now, or a capture is already running; 503 when keypad payments are not set "
                "up (send a pay link instead)",
                _SESSION,
                params=params,
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["call_sid"],
                    "properties": {"call_sid": {"type": "string", "minLength": 1, "maxLength": 64}},
                },
                errors=steps,
            ),
        },
        "/payments/{payment_id}/keypad/ask": {
            "post": op(
                "Prompt the customer for one card field (again, if it was entered). 422 "
                "invalid_field for a name not in the enum; 409 when no capture is running",
                _SESSION,
                params=params,
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["field"],
                    "properties": {"field": _FIELD},
                },
                errors=steps,
            )
        },
        "/payments/{payment_id}/keypad/complete": {
            "post": op(
                "Send the entered card to the provider's Pay Connector; the token it returns "
                "is charged and the payment's status follows (approved with a receipt, or "
                "declined). 409 capture_incomplete names what is still missing",
                _SESSION,
                params=params,
                body=_NO_FIELDS,
                body_required=False,
                errors=steps,
            )
        },
        "/payments/{payment_id}/keypad/cancel": {
            "post": op(
                "End the capture; nothing entered is sent anywhere, the payment stays open "
                "(start another capture or send a pay link)",
                _SESSION,
                params=params,
                body=_NO_FIELDS,
                body_required=False,
                errors=steps,
            )
        },
    }
