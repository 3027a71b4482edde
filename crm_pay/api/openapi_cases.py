"""The OpenAPI paths of cases (crm_pay/api/routes_cases.py): the supervisor's queue, one
case, and note / assign / snooze / resolve. Merged into the document by
:func:`crm_pay.api.openapi.openapi_document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_pay.services.case_views import QUEUE_STATES
from crm_pay.services.cases import CASE_KINDS, NOTE_MAX_LENGTH, RESOLUTIONS

__all__ = ["case_paths"]

# Not only what str.strip() removes (re's \s and \x1c-\x1f, \x85): blank is refused.
_NOT_BLANK = r"[^\s\u001c-\u001f\u0085]"
_NOTE = {"type": "string", "minLength": 1, "maxLength": NOTE_MAX_LENGTH, "pattern": _NOT_BLANK}
_WHEN = {"type": "string", "format": "date-time"}
# ISO 8601 with its zone, as routes_cases.parse_when reads it
_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_WHEN_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_CASE_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_CODES = sorted({r.code for codes in RESOLUTIONS.values() for r in codes})


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_SUMMARY = {
    "type": "object",
    "required": ["id", "kind", "status"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": sorted(CASE_KINDS)},
        "status": {"enum": ["open", "assigned", "resolved", "closed"]},
        "assignee_id": {"type": ["integer", "null"]},
        "resolution_code": {"type": ["string", "null"]},
        "snoozed_until": _WHEN_OR_NULL,
        "resolved_at": _WHEN_OR_NULL,
        "resolution_seconds": {"type": ["integer", "null"]},
    },
}
_QUEUE_ROW = {
    "type": "object",
    "required": ["id", "kind", "status", "opened_at", "due_at", "overdue"],
    "properties": {
        **_SUMMARY["properties"],  # type: ignore[dict-item]
        "subject": {"type": "string"},
        "payment_id": {"type": ["string", "null"]},
        "opened_at": _WHEN,
        "due_at": _WHEN,
        "overdue": {"type": "boolean"},
        "age_hours": {"type": "integer"},
        "reopened": {"type": "integer"},
        "assignee": {"type": ["string", "null"]},
        "customer": {"type": ["object", "null"]},
    },
}
_PAGE = {
    **_QUEUE_ROW,
    "properties": {
        **_QUEUE_ROW["properties"],  # type: ignore[dict-item]
        "detail": {"type": "object"},
        "note": {"type": ["string", "null"]},
        "resolved_by": {"type": ["string", "null"]},
        "resolutions": {"type": "array", "items": {"type": "object"}},
        "history": {"type": "array", "items": {"type": "object"}},
        "payment": {"type": ["object", "null"]},
        "dispute": {"type": ["object", "null"]},
        "reconciliation_day": {"type": ["string", "null"]},
        "timeline": {"type": "array", "items": {"type": "object"}},
    },
}


def case_paths(
    *, op: Callable[..., dict[str, Any]], path_param: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """Supervisor keys: cases (docs/guides/supervisor.md)."""
    case_id = path_param("case_id", "the case's id", _CASE_ID)
    work = (400, 401, 403, 404, 409, 422)
    return {
        "/cases": {
            "get": op(
                "Supervisor: cases, the soonest SLA due first (overdue at the top)",
                {"type": "object", "properties": {"cases": {"type": "array", "items": _QUEUE_ROW}}},
                params=[
                    _query("kind", {"enum": sorted(CASE_KINDS)}, "one kind only"),
                    _query(
                        "state",
                        {"enum": list(QUEUE_STATES)},
                        "default unresolved (open or assigned)",
                    ),
                    _query(
                        "assignee",
                        {"type": "string", "pattern": "^[0-9]{1,9}$"},
                        "only this user's cases (a user id)",
                    ),
                    _query(
                        "older_than_hours",
                        {"type": "string", "pattern": "^[0-9]{1,4}$"},
                        "opened at least this many hours ago (at most 8784)",
                    ),
                    _query("snoozed", {"enum": ["0", "1", "true", "false"]}, "include snoozed"),
                    _query(
                        "limit",
                        {"type": "string", "pattern": "^(500|[1-4][0-9]{2}|[1-9][0-9]?)$"},
                        "at most this many (1 to 500, default 200)",
                    ),
                ],
                errors=(401, 403, 422),
            )
        },
        "/cases/{case_id}": {
            "get": op(
                "Supervisor: one case with its history, customer, payment and the payment's "
                "timeline (events, messages, CRM sync rows)",
                _PAGE,
                params=[case_id],
            )
        },
        "/cases/{case_id}/notes": {
            "post": op(
                "Supervisor: add a note to the case's history (card numbers are redacted)",
                _SUMMARY,
                params=[case_id],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["note"],
                    "properties": {"note": _NOTE},
                },
                errors=(401, 403, 404, 422),
                ok_status="201",
            )
        },
        "/cases/{case_id}/assign": {
            "post": op(
                "Supervisor: give an unresolved case to a supervisor (their user id)",
                _SUMMARY,
                params=[case_id],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["assignee"],
                    "properties": {"assignee": _CASE_ID},
                },
                errors=work,
            )
        },
        "/cases/{case_id}/snooze": {
            "post": op(
                "Supervisor: hide an unresolved case from the queue until a time (future, "
                "at most 30 days; the SLA does not move)",
                _SUMMARY,
                params=[case_id],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["until"],
                    "properties": {
                        "until": {"type": "string", "maxLength": 40, "pattern": _TIME},
                        "note": {"type": "string", "maxLength": NOTE_MAX_LENGTH},
                    },
                },
                errors=work,
            )
        },
        "/cases/{case_id}/resolve": {
            "post": op(
                "Supervisor: resolve an unresolved case with one of its kind's resolution "
                "codes and a note; a second resolve is 409 case_resolved",
                _SUMMARY,
                params=[case_id],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "note"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 40,
                            "examples": _CODES,
                        },
                        "note": _NOTE,
                    },
                },
                errors=work,
            )
        },
        "/cases/{case_id}/apply-credit": {
            "post": op(
                "Supervisor: an overpaid case's credit pays one of the customer's invoices "
                "(ledger entries only, no money moves at the PSP) and the case is resolved "
                "with credit_applied, in one transaction; a second call is 409 case_resolved",
                {
                    "type": "object",
                    "required": ["case", "applied", "invoice", "balance", "credit"],
                    "properties": {
                        "case": _SUMMARY,
                        "applied": {"type": "string"},
                        "invoice": {"type": "string"},
                        "balance": {"type": "string"},
                        "credit": {"type": "string"},
                    },
                },
                params=[case_id],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["invoice"],
                    "properties": {
                        "invoice": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 100,
                            "pattern": _NOT_BLANK,
                        },
                        "amount": {
                            "type": "string",
                            "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$",
                            "maxLength": 40,
                        },
                        "note": {"type": "string", "maxLength": NOTE_MAX_LENGTH},
                    },
                },
                errors=work,
            )
        },
    }
