"""The OpenAPI path of calls handed to agents (crm_pay/api/routes_calls.py): the
telephony platform's screen-pop. Merged into the document by
:func:`crm_pay.api.openapi.openapi_document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["call_paths"]

# The same rules as crm_pay.services.calls (not imported: the document is built from
# nothing but the API's own modules): E.164, Twilio's Call SID pattern.
_E164 = r"^\+[1-9][0-9]{6,14}$"
_CALL_SID = r"^CA[0-9a-fA-F]{32}$"

_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["caller", "agent", "call_sid"],
    "properties": {
        "caller": {
            "type": "string",
            "pattern": _E164,
            "maxLength": 16,
            "description": "The caller's number, E.164",
            "examples": ["+12125550101"],
        },
        "agent": {
            "type": "string",
            "minLength": 1,
            "maxLength": 320,
            "description": "The crm-pay username (sign-in email) of the agent who took the call",
            "examples": ["agent@example.com"],
        },
        "call_sid": {
            "type": "string",
            "pattern": _CALL_SID,
            "description": "The provider's Call SID (remembered for a keypad payment)",
        },
        "crm_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "The customer's CRM id, when the platform knows it (matched first)",
        },
    },
}

_CALL = {
    "type": "object",
    "required": ["call_sid", "caller", "agent", "matches", "received_at", "expires_at", "replayed"],
    "properties": {
        "call_sid": {"type": "string"},
        "caller": {"type": "string"},
        "agent": {"type": "string", "description": "The agent's username"},
        "matches": {
            "type": "array",
            "maxItems": 20,
            "description": "The customers the number (or the CRM id) matched; empty: none",
            "items": {
                "type": "object",
                "required": ["crm_ref", "name", "url"],
                "properties": {
                    "crm_ref": {"type": "string"},
                    "name": {"type": "string"},
                    "url": {
                        "type": "string",
                        "description": "The console's page of the customer, with the call SID",
                    },
                },
            },
        },
        "received_at": {"type": "string", "format": "date-time"},
        "expires_at": {
            "type": "string",
            "format": "date-time",
            "description": "Until then the call prefills the agent's keypad payment",
        },
        "replayed": {"type": "boolean", "description": "This call SID and agent came before"},
    },
}


def call_paths(*, op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path; ``op`` is the document's own builder."""
    notify = op(
        "Telephony platform (an API key whose role allows calls.notify: telephony, which may "
        "do nothing else, or supervisor and above): a call "
        "reached an agent. The caller's number is matched to CRM customers (the crm_id "
        "first, when given), the call is remembered for the agent's keypad payment, and an "
        "incoming-call banner pops on that agent's console only. 404 unknown_agent when the "
        "agent is no active console user; 422 for a caller, call SID or CRM id that is not "
        "one; nothing is stored or shown then.",
        _CALL,
        body=_BODY,
        errors=(401, 403, 404, 422),
        ok_status="202",
    )
    notify["responses"]["200"] = {
        "description": "A replay: this call SID for this agent came before; the first "
        "answer, nothing stored twice (the banner is shown again)",
        "content": {"application/json": {"schema": _CALL}},
    }
    return {"/calls": {"post": notify}}
