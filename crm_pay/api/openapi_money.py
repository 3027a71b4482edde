"""The OpenAPI paths of the money operations (crm_pay/api/routes_money.py): refunds with
a reason, four-eyes approvals, manual payments, write-offs and adjustments. Merged into
the document by :func:`crm_pay.api.openapi.openapi_document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["NOT_BLANK", "approval_schema", "money_paths", "required_text"]

_TEXT = {"type": "string", "minLength": 0, "maxLength": 500}
# crm_pay.services.approval_records.STATES (not imported: the document is built from
# nothing but the API's own modules; a test compares them)
_STATES = ("pending", "approved", "refused", "expired", "closed")
# Not only what str.strip() removes (re's \s and \x1c-\x1f, \x85): blank is refused.
NOT_BLANK = r"[^\s\u001c-\u001f\u0085]"


def required_text(limit: int) -> dict[str, Any]:
    """An OpenAPI string that must hold at least one visible character (the services
    refuse blank or control-only text), at most ``limit`` long."""
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": NOT_BLANK}


_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": "^(500|[1-4][0-9]{2}|[1-9][0-9]?)$"},
    "description": "At most this many (1 to 500, default 100)",
}


def approval_schema(money: dict[str, Any]) -> dict[str, Any]:
    """An approval request as the API answers it."""
    text_or_null = {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": ["id", "kind", "state", "amount", "currency", "customer", "reason"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"enum": ["refund", "manual_payment", "write_off", "adjustment"]},
            "state": {"enum": list(_STATES)},
            "amount": money,
            "currency": {"type": "string"},
            "customer": {"type": "string"},
            "payment_id": text_or_null,
            "requested_by": {"type": "string"},
            "reason": {"type": "string"},
            "created_at": {"type": "string"},
            "expires_at": {"type": "string"},
            "age_seconds": {"type": "integer"},
            "decided_by": text_or_null,
            "decided_at": text_or_null,
            "decision_note": text_or_null,
            "executed": {"type": "boolean", "description": "the approved action has run"},
            "result": {"type": ["object", "null"]},
            "error": {
                **text_or_null,
                "description": "why the approved action did not run (for a refund the "
                "bank declined, the bank's reason in plain words)",
            },
            "closable": {
                "type": "boolean",
                "description": "an approved refund the bank declined: it may be closed",
            },
            "closed_by": text_or_null,
            "closed_at": text_or_null,
            "close_note": text_or_null,
            "details": {"type": "object"},
        },
    }


def money_paths(
    *,
    op: Callable[..., dict[str, Any]],
    path_param: Callable[..., dict[str, Any]],
    money: dict[str, Any],
    idempotency_key: dict[str, Any],
) -> dict[str, Any]:
    """The paths; ``op`` and ``path_param`` are the document's own builders."""
    approval = {"$ref": "#/components/schemas/ApprovalRequest"}
    payment = {"$ref": "#/components/schemas/Payment"}
    approval_id = path_param("approval_id", "Approval request id (apr_...)")
    listing = {"type": "object"}
    state = {
        "name": "state",
        "in": "query",
        "required": False,
        "schema": {"enum": list(_STATES)},
    }
    kind = {
        "name": "kind",
        "in": "query",
        "required": False,
        "schema": {"enum": ["refund", "manual_payment", "write_off", "adjustment"]},
    }
    refund = op(
        "Refund a payment with a reason (or void it while unsettled). An agent "
        "key's refund above CRM_PAY_AGENT_REFUND_LIMIT becomes an approval request "
        "(202, a reason is required): nothing goes back until a supervisor "
        "approves it. Needs Idempotency-Key.",
        {
            "type": "object",
            "required": ["outcome"],
            "properties": {
                "outcome": {"enum": ["refunded", "pending_approval"]},
                "payment": payment,
                "approval": approval,
            },
        },
        params=[idempotency_key],
        body={
            "type": "object",
            "required": ["payment_id"],
            "additionalProperties": False,
            "properties": {
                "payment_id": {"type": "string", "minLength": 1, "maxLength": 40},
                "amount": money,
                "reason": _TEXT,
            },
        },
        errors=(400, 401, 403, 404, 409, 422, 502),
        ok_status="201",
        replay=True,
    )
    # An agent key above the limit: an approval request, nothing refunded yet.
    refund["responses"]["202"] = {
        "description": "Held for a supervisor's approval; nothing was refunded",
        **refund["responses"]["201"],
    }
    # The older route to the same refund: the payment when refunded (201), as it always
    # answered; the approval request (202) when an agent key's refund needs approval.
    pending = {
        "type": "object",
        "required": ["outcome", "approval"],
        "properties": {"outcome": {"const": "pending_approval"}, "approval": approval},
    }
    payment_refund = op(
        "Refund a settled payment (all that is left, or an amount), or void an unsettled "
        "one in full. Needs Idempotency-Key. An agent key's refund above "
        "CRM_PAY_AGENT_REFUND_LIMIT becomes an approval request, as with POST /refunds "
        "(202, a reason is required): nothing goes back until a supervisor approves it.",
        payment,
        params=[path_param("payment_id", "Payment id"), idempotency_key],
        body={
            "type": "object",
            "additionalProperties": False,
            "description": '{} refunds (or voids) all that is left; {"amount": '
            '"10.00"} refunds part. A body is required: no body, [], 0, "" and '
            "null are refused. An optional reason is kept with the refund (required "
            "when it needs approval).",
            "properties": {"amount": money, "reason": _TEXT},
        },
        errors=(400, 401, 403, 404, 409, 422, 502),
        ok_status="201",
        replay=True,
    )
    payment_refund["responses"]["202"] = {
        "description": "Held for a supervisor's approval; nothing was refunded",
        "content": {"application/json": {"schema": pending}},
    }
    payment_refund["responses"]["200"]["content"]["application/json"]["schema"] = {
        "anyOf": [payment, pending]
    }
    return {
        "/payments/{payment_id}/refund": {"post": payment_refund},
        "/refunds": {
            "post": refund,
            "get": op(
                "Refunds and voids done (with reason and refund receipt), and refund "
                "requests waiting for approval: an agent key's own payments, every "
                "payment's for supervisors",
                listing,
                params=[
                    {
                        "name": "payment_id",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 40},
                    },
                    _LIMIT,
                ],
                errors=(401, 403, 422),
            ),
        },
        "/manual-payments": {
            "post": op(
                "Record a payment taken outside the PSP (cheque, bank transfer, cash, card "
                "terminal) for a supervisor to approve (202). It reaches the ledger, the "
                "receipts and the CRM only once approved. Needs Idempotency-Key.",
                approval,
                params=[idempotency_key],
                body={
                    "type": "object",
                    "required": ["customer", "amount", "currency", "method", "reference"],
                    "additionalProperties": False,
                    "properties": {
                        "customer": {"type": "string", "minLength": 1, "maxLength": 100},
                        "amount": money,
                        "currency": {"type": "string", "minLength": 1, "maxLength": 3},
                        "method": {"enum": ["cheque", "bank_transfer", "cash", "card_terminal"]},
                        "reference": required_text(100),
                        "note": _TEXT,
                        "invoices": {
                            "type": "array",
                            "maxItems": 50,
                            "items": {"type": "string", "minLength": 1, "maxLength": 100},
                        },
                    },
                },
                errors=(400, 401, 403, 404, 409, 422, 503),
                ok_status="202",
                replay=True,
            ),
            "get": op(
                "Manual payments recorded (an agent key's own; supervisors all), with their "
                "approval state",
                listing,
                params=[state, _LIMIT],
                errors=(401, 403, 422),
            ),
        },
        "/adjustments": {
            "post": op(
                "Ask for a write-off of an invoice (kind write_off) or an adjustment of the "
                "balance or an invoice (credit: owes less; debit: owes more), booked once "
                "a supervisor approves it (202). Needs Idempotency-Key.",
                approval,
                params=[idempotency_key],
                body={
                    "type": "object",
                    "required": ["customer", "kind", "amount", "reason"],
                    "additionalProperties": False,
                    # a write-off is of one invoice
                    "if": {"properties": {"kind": {"const": "write_off"}}},
                    "then": {"required": ["invoice"]},
                    "properties": {
                        "customer": {"type": "string", "minLength": 1, "maxLength": 100},
                        "kind": {"enum": ["write_off", "adjustment"]},
                        "amount": money,
                        "direction": {"enum": ["credit", "debit"], "default": "credit"},
                        "invoice": {"type": "string", "minLength": 1, "maxLength": 100},
                        "reason": required_text(500),
                    },
                },
                errors=(400, 401, 403, 404, 409, 422, 503),
                ok_status="202",
                replay=True,
            ),
        },
        "/approvals": {
            "get": op(
                "Approval requests, newest first (an agent key's own; supervisors all)",
                listing,
                params=[state, kind, _LIMIT],
                errors=(401, 403, 422),
            ),
        },
        "/approvals/{approval_id}": {
            "get": op("One approval request", approval, params=[approval_id]),
        },
        "/approvals/{approval_id}/approve": {
            "post": op(
                "Supervisor: approve a pending request and run it exactly once (never one's "
                "own request; an expired one is refused with approval_expired). Sent again, "
                "it answers the same. Needs Idempotency-Key.",
                approval,
                params=[approval_id, idempotency_key],
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"note": _TEXT},
                },
                body_required=False,
                errors=(400, 401, 403, 404, 409, 422),
            ),
        },
        "/approvals/{approval_id}/refuse": {
            "post": op(
                "Supervisor: refuse a pending request with a note; nothing moves",
                approval,
                params=[approval_id],
                body={
                    "type": "object",
                    "required": ["note"],
                    "additionalProperties": False,
                    "properties": {"note": required_text(500)},
                },
                errors=(400, 401, 403, 404, 409, 422),
            ),
        },
        "/approvals/{approval_id}/close": {
            "post": op(
                "Supervisor: close an approved refund that the card's bank declined, with "
                "a note (e.g. how the money went back instead). Nothing moves and nothing "
                "is sent to the PSP; the request ends closed, the bank's words kept in "
                "error. One whose outcome is not known (the PSP did not answer) is refused "
                "with refund_outcome_unknown: retry it instead. Closed again, it answers "
                "the same.",
                approval,
                params=[approval_id],
                body={
                    "type": "object",
                    "required": ["note"],
                    "additionalProperties": False,
                    "properties": {"note": required_text(500)},
                },
                errors=(400, 401, 403, 404, 409, 422),
            ),
        },
    }
