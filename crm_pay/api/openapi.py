"""OpenAPI 3.1 description of the JSON API, served at ``{prefix}/api/v1/openapi.json``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from crm_pay.domain.money import CURRENCY_EXPONENTS
from crm_pay.services.disputes import EVIDENCE_CATEGORIES

from .openapi_calls import call_paths
from .openapi_cases import case_paths
from .openapi_fraud import fraud_paths
from .openapi_keypad import keypad_paths
from .openapi_money import approval_schema, money_paths
from .routes_disputes import DISPUTE_STATUSES

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/responses/Error"}
# Every operation needs a key, so every one counts against CRM_PAY_API_RATE_LIMIT (per
# key) or CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT (per address, requests without a valid key).
_RATE_LIMITED = {"$ref": "#/components/responses/RateLimited"}


# ``?phone=`` or ``?email=``: exactly one given (non-empty), the other absent or empty;
# other query parameters are ignored. The patterns are the code's: surrounding
# whitespace is stripped, and a leading space stands for an unencoded "+".
_WS = r"\s\u001c-\u001f\u0085"  # what Python's str.strip() and re's \s also count
_PHONE = {"type": "string", "pattern": rf"^([{_WS}]*\+| )[1-9][0-9]{{6,14}}[{_WS}]*$"}
_EMAIL = {
    "type": "string",
    "pattern": rf"^[{_WS}]*[^@{_WS}]+@[^@{_WS}]+\.[^@{_WS}]+[{_WS}]*$",
}
_EMPTY = {"type": "string", "maxLength": 0}
_CUSTOMER_QUERY = {
    "name": "query",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": True,
    "description": "phone (E.164, e.g. +15551234567) or email: exactly one",
    "schema": {
        "oneOf": [
            {
                "type": "object",
                "required": ["phone"],
                "properties": {"phone": _PHONE, "email": _EMPTY},
            },
            {
                "type": "object",
                "required": ["email"],
                "properties": {"email": _EMAIL, "phone": _EMPTY},
            },
        ]
    },
    "example": {"phone": "+15551234567"},
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (401, 403, 404),
    ok_status: str = "200",
    body_required: bool = True,
    replay: bool = False,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    answer: dict[str, Any] = {"content": {"application/json": {"schema": ok}}}
    if links:
        answer["links"] = links
    responses: dict[str, Any] = {ok_status: {"description": "OK", **answer}}
    if replay:
        responses["200"] = {
            "description": "Idempotent replay: this Idempotency-Key was used before with "
            "the same body; the first request's result, nothing done twice",
            **answer,
        }
    if body is not None:
        # Every route with a body: not a JSON object, malformed, nested deeper than 32
        # levels or with a duplicate field is 400 invalid_json; above
        # CRM_PAY_MAX_BODY_BYTES it is 413 request_too_large.
        errors = tuple(sorted({*errors, 400, 413}))
    responses.update({str(e): _ERROR for e in errors})
    responses["429"] = _RATE_LIMITED
    op: dict[str, Any] = {"summary": summary, "parameters": params or [], "responses": responses}
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return op


def _path_param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


# reconciliation.parse_day: YYYY-MM-DD, a real calendar day; routes: not before 2000
_DAY = {"type": "string", "format": "date", "pattern": "^2[0-9]{3}-[0-9]{2}-[0-9]{2}$"}


def _reconciliation(money: dict[str, Any]) -> dict[str, Any]:
    difference_kinds = [
        "missing_in_ledger",
        "missing_at_psp",
        "amount_mismatch",
        "status_mismatch",
        "currency_mismatch",
    ]
    return {
        "type": "object",
        "properties": {
            "date": {"type": "string", "format": "date"},
            "status": {"enum": ["running", "completed", "failed"]},
            "psp_rows": {"type": "integer"},
            "ledger_rows": {"type": "integer"},
            "matched": {"type": "integer"},
            "no_money": {"type": "integer", "description": "PSP declines we do not hold"},
            "psp_disputes": {"type": "integer", "description": "the PSP's disputes of the day"},
            "ledger_disputes": {"type": "integer", "description": "our dispute records of the day"},
            "disputes_matched": {"type": "integer", "description": "disputes that agree"},
            "cases_opened": {"type": "integer", "description": "by the last run"},
            "settlement_summary": {
                "type": ["array", "null"],
                "description": "The PSP's own settlement batch summary of the day, where "
                "it offers one",
                "items": {
                    "type": "object",
                    "properties": {
                        "merchant_account": {"type": "string"},
                        "card_type": {"type": "string"},
                        "kind": {"enum": ["sale", "credit"]},
                        "count": {"type": "integer"},
                        "amount": {"type": "string"},
                        "currency": {"type": "string"},
                    },
                },
            },
            "totals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "currency": {"type": "string"},
                        "merchant_account": {"type": "string"},
                        "sales_count": {"type": "integer"},
                        "sales": money,
                        "refunds_count": {"type": "integer"},
                        "refunds": money,
                        "net": {"type": "string"},
                    },
                },
            },
            "differences": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": difference_kinds},
                        "psp_id": {"type": "string"},
                        "payment_id": {"type": ["string", "null"]},
                        "txn_kind": {"enum": ["sale", "credit", "dispute"]},
                        "ours": {"type": ["string", "null"], "example": "10.00 USD settled"},
                        "theirs": {"type": ["string", "null"]},
                        "case_id": {"type": "integer"},
                    },
                },
            },
        },
    }


def _any_case(code: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in code)


def _amount_pattern(places: int, *, positive: bool) -> str:
    """Money.parse's rule for one currency: at most ``places`` decimals and at most
    10**15 minor units; ``positive``: above zero (a payment's amount)."""
    whole = f"[1-9][0-9]{{0,{14 - places}}}"
    limit = "1" + "0" * (15 - places)
    if not places:
        zero = "" if positive else "|0"
        return f"^({whole}|{limit}{zero})$"
    decimals = f"(\\.[0-9]{{1,{places}}})?"
    top = f"{limit}(\\.0{{1,{places}}})?"
    if positive:
        # 0. and a non-zero digit within `places`
        fractions = "|".join(f"0{{{k}}}[1-9][0-9]{{0,{places - 1 - k}}}" for k in range(places))
        small = f"0\\.({fractions})"
    else:
        small = f"0{decimals}"
    return f"^({whole}{decimals}|{top}|{small})$"


def _payment_links() -> dict[str, Any]:
    """What a client can do next with the payment it was answered: the operations that
    take its ``id`` (OpenAPI links; schemathesis's stateful phase follows them)."""
    targets = {
        "GetPayment": ("/payments/{payment_id}", "get"),
        "GetMessages": ("/payments/{payment_id}/messages", "get"),
        "SendLink": ("/payments/{payment_id}/send-link", "post"),
        "CancelPayment": ("/payments/{payment_id}/cancel", "post"),
        "RefundPayment": ("/payments/{payment_id}/refund", "post"),
        "ResolvePayment": ("/payments/{payment_id}/resolve", "post"),
    }
    return {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + verb,
            "parameters": {"payment_id": "$response.body#/id"},
        }
        for name, (path, verb) in targets.items()
    }


def _currency_rules(currencies: Collection[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The currency field (the merchant's own currencies, any letter case, as the code
    upper-cases it) and one rule per currency: at most its number of decimals."""
    codes = sorted(currencies)
    field = {
        "type": "string",
        "pattern": f"^({'|'.join(_any_case(c) for c in codes)})$",
        "example": codes[0] if codes else "USD",
        "description": "ISO 4217 code the merchant takes (" + ", ".join(codes) + ")",
    }
    rules = []
    for code in codes:
        places = CURRENCY_EXPONENTS.get(code, 2)
        amount = {"pattern": _amount_pattern(places, positive=True)}
        rules.append(
            {
                "if": {
                    "required": ["currency"],
                    "properties": {"currency": {"pattern": f"^{_any_case(code)}$"}},
                },
                "then": {
                    "properties": {
                        "amount": amount,
                        "allocations": {
                            "additionalProperties": {
                                "pattern": _amount_pattern(places, positive=False)
                            }
                        },
                    }
                },
            }
        )
    return field, rules


_DISPUTE = {"$ref": "#/components/schemas/Dispute"}
# crm-pay's ids are 32-bit integers on every database (a larger one is simply not there)
_DISPUTE_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def _dispute_paths(idempotency_key: dict[str, Any]) -> dict[str, Any]:
    """Supervisor keys: disputes (crm_pay/api/routes_disputes.py, docs/guides/disputes.md)."""
    dispute_id = _path_param("dispute_id", "crm-pay's dispute id", _DISPUTE_ID)
    no_fields = {"type": "object", "additionalProperties": False, "maxProperties": 0}
    evidence = _op(
        "Supervisor: send evidence while the dispute is open: a text (JSON) or a PDF, "
        "PNG or JPG document (multipart/form-data, within CRM_PAY_MAX_BODY_BYTES). A "
        "text holding a card number is refused.",
        _DISPUTE,
        params=[dispute_id],
        body={
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "properties": {
                # at least one character str.strip() keeps (the code trims the text)
                "text": {"type": "string", "maxLength": 4000, "pattern": f"[^{_WS}]"},
                "category": {"enum": list(EVIDENCE_CATEGORIES)},
            },
        },
        errors=(401, 403, 404, 409, 422, 502),
        ok_status="201",
    )
    evidence["requestBody"]["content"]["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["file"],
            "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "category": {"enum": list(EVIDENCE_CATEGORIES)},
            },
        }
    }
    answer_errors = (400, 401, 403, 404, 409, 422, 502)
    return {
        "/disputes": {
            "get": _op(
                "Supervisor: disputes, open ones first by reply-by date",
                {
                    "type": "object",
                    "properties": {"disputes": {"type": "array", "items": _DISPUTE}},
                },
                params=[
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": list(DISPUTE_STATUSES)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "pattern": "^([1-9][0-9]?|[1-4][0-9]{2}|500)$",
                        },
                        "description": "1 to 500 (default 50)",
                    },
                ],
                errors=(401, 403, 422),
            )
        },
        "/disputes/{dispute_id}": {
            "get": _op("Supervisor: one dispute and its evidence", _DISPUTE, params=[dispute_id])
        },
        "/disputes/{dispute_id}/accept": {
            "post": _op(
                "Supervisor: accept the chargeback (the customer keeps the money; booked at "
                "once; the dispute's case is resolved 'accepted'). Needs Idempotency-Key.",
                _DISPUTE,
                params=[dispute_id, idempotency_key],
                body=no_fields,
                body_required=False,
                errors=answer_errors,
            )
        },
        "/disputes/{dispute_id}/finalize": {
            "post": _op(
                "Supervisor: contest, submitting the evidence sent (at least one piece); the "
                "case is resolved 'contested'. Needs Idempotency-Key.",
                _DISPUTE,
                params=[dispute_id, idempotency_key],
                body=no_fields,
                body_required=False,
                errors=answer_errors,
            )
        },
        "/disputes/{dispute_id}/evidence": {"post": evidence},
        "/disputes/{dispute_id}/evidence/{evidence_id}": {
            "delete": _op(
                "Supervisor: withdraw evidence while the dispute is open",
                _DISPUTE,
                params=[dispute_id, _path_param("evidence_id", "Evidence id", _DISPUTE_ID)],
                errors=(401, 403, 404, 409, 422, 502),
            )
        },
    }


def _dispute_schema() -> dict[str, Any]:
    when = {"type": "string", "format": "date-time"}
    return {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "psp_dispute_id": {"type": "string"},
            "payment_id": {"type": "string"},
            "kind": {"type": "string"},
            "reason": {"type": "string"},
            "amount": {"type": ["string", "null"]},
            "currency": {"type": ["string", "null"]},
            "status": {"enum": list(DISPUTE_STATUSES)},
            "reply_by": {"type": ["string", "null"], "format": "date"},
            "days_left": {"type": ["integer", "null"]},
            "overdue": {"type": "boolean"},
            "answerable": {"type": "boolean"},
            "case_id": {"type": ["integer", "null"]},
            "charged_back": {"type": "boolean"},
            "evidence": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"enum": ["text", "file"]},
                        "category": {"type": ["string", "null"]},
                        "text": {"type": ["string", "null"]},
                        "name": {"type": ["string", "null"]},
                        "content_type": {"type": ["string", "null"]},
                        "size": {"type": ["integer", "null"]},
                        "sha256": {"type": ["string", "null"]},
                        "at": when,
                        "removed_at": {**when, "type": ["string", "null"]},
                    },
                },
            },
            "finalized_at": {**when, "type": ["string", "null"]},
        },
    }


def openapi_document(base_path: str, currencies: Collection[str] = ("USD",)) -> dict[str, Any]:
    currency_field, amount_rules = _currency_rules(currencies)
    money = {
        "type": "string",
        # The same rule as crm_pay.domain.money.Money.parse: no sign, exponent, separator
        # or whitespace; at most as many decimals as the currency has.
        "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$",
        "maxLength": 40,
        "description": 'Exact decimal amount, e.g. "12.34"; never a JSON number. At most '
        "as many decimals as the currency has (USD 2, JPY 0, KWD 3).",
    }
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "Same key + same body returns the first result (200); same key + "
        "another body is a 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }
    payment = {"$ref": "#/components/schemas/Payment"}
    message = {"$ref": "#/components/schemas/Message"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crm-pay API",
            "version": "1",
            "description": "Take card payments for CRM customers without touching card data. "
            'Errors are {"error": {"code", "message"}}.',
        },
        "servers": [{"url": base_path}],
        "security": [{"bearer": []}],
        "paths": {
            "/customers/{crm_ref}": {
                "get": _op(
                    "Customer panel: balance, credit, invoices, cards on file, recent payments",
                    {"$ref": "#/components/schemas/Customer"},
                    params=[_path_param("crm_ref", "The customer's id in the CRM")],
                    errors=(401, 403, 404, 503),
                )
            },
            "/customers": {
                "get": _op(
                    "Find customers by phone (E.164) or email",
                    {"type": "object", "properties": {"customers": {"type": "array"}}},
                    params=[_CUSTOMER_QUERY],
                    errors=(401, 403, 422, 503),
                )
            },
            "/payments": {
                "post": _op(
                    "Create a payment: a pay link for the customer, or a charge of a card on file",
                    payment,
                    params=[idempotency_key],
                    body={
                        "type": "object",
                        "required": ["customer", "amount", "currency"],
                        "additionalProperties": False,
                        "allOf": [
                            *amount_rules,
                            {
                                # a card on file is charged only with its token and the
                                # customer's recorded consent
                                "if": {
                                    "required": ["channel"],
                                    "properties": {"channel": {"const": "vaulted"}},
                                },
                                "then": {
                                    "required": ["payment_method_token", "customer_consent"],
                                    "properties": {"customer_consent": {"const": True}},
                                },
                            },
                        ],
                        "properties": {
                            "customer": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 100,
                                "description": "CRM id",
                            },
                            "amount": money,
                            "currency": currency_field,
                            "channel": {
                                "type": "string",
                                "enum": ["link", "vaulted", "ivr"],
                                "default": "link",
                            },
                            "allocations": {
                                "type": "object",
                                "minProperties": 1,
                                "additionalProperties": money,
                                "description": "Invoice number → amount; default oldest due first",
                            },
                            "description": {
                                "type": "string",
                                "maxLength": 500,
                                "description": "Longer is refused, never cut; card numbers "
                                "are redacted",
                            },
                            "payment_method_token": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 100,
                                "description": "Card on file (channel vaulted)",
                            },
                            "customer_consent": {"type": "boolean"},
                        },
                    },
                    errors=(400, 401, 403, 404, 409, 422, 503),
                    ok_status="201",
                    replay=True,
                    links=_payment_links(),
                )
            },
            "/payments/{payment_id}": {
                "get": _op(
                    "A payment (re-checked with the PSP while its outcome is unknown, and "
                    "for settlement while it is approved but not settled)",
                    payment,
                    params=[_path_param("payment_id", "Payment id")],
                )
            },
            "/payments/{payment_id}/resolve": {
                "post": _op(
                    "Supervisor: close a payment whose outcome is unknown. The PSP is asked "
                    "once more; what it has is applied, and without a sale there the payment "
                    "fails (decline code not_at_psp) so the customer can pay again. Audited.",
                    payment,
                    params=[_path_param("payment_id", "Payment id")],
                    body={
                        "type": "object",
                        "required": ["note"],
                        "additionalProperties": False,
                        "properties": {
                            "note": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 2000,
                                # Not all of it what str.strip() removes (\x1c-\x1f and
                                # \x85 besides re's \s): a blank note is refused.
                                "pattern": f"[^{_WS}]",
                                "description": "Why; a blank note is refused",
                            }
                        },
                    },
                    errors=(400, 401, 403, 404, 409, 422, 502),
                )
            },
            "/payments/{payment_id}/cancel": {
                "post": _op(
                    "Cancel a payment that has not been paid (its link stops working)",
                    payment,
                    params=[_path_param("payment_id", "Payment id")],
                    errors=(401, 403, 404, 409),
                )
            },
            "/payments/{payment_id}/send-link": {
                "post": _op(
                    "Send (or send again) the payment's pay link to its customer by email or "
                    "SMS; queued for delivery, see /payments/{payment_id}/messages",
                    message,
                    params=[_path_param("payment_id", "Payment id")],
                    body={
                        "type": "object",
                        "required": ["channel"],
                        "additionalProperties": False,
                        "properties": {"channel": {"type": "string", "enum": ["email", "sms"]}},
                    },
                    errors=(400, 401, 403, 404, 409, 422),
                    ok_status="202",
                )
            },
            "/payments/{payment_id}/messages": {
                "get": _op(
                    "Messages sent for a payment (pay links, failure notices, receipt) with "
                    "their delivery status",
                    {
                        "type": "object",
                        "properties": {"messages": {"type": "array", "items": message}},
                    },
                    params=[_path_param("payment_id", "Payment id")],
                )
            },
            "/receipts/{number}/resend": {
                "post": _op(
                    "Email a receipt again, to the customer or to another address",
                    message,
                    params=[_path_param("number", "e.g. R-2026-000123")],
                    body={
                        "type": "object",
                        "additionalProperties": False,
                        "description": "No body or {}: to the customer's address",
                        "properties": {
                            "to": {
                                "type": "string",
                                "format": "email",
                                "minLength": 1,
                                "maxLength": 254,
                            }
                        },
                    },
                    errors=(400, 401, 403, 404, 422),
                    ok_status="202",
                    body_required=False,
                )
            },
            "/receipts/{number}": {
                "get": _op(
                    "A receipt",
                    {"$ref": "#/components/schemas/Receipt"},
                    params=[_path_param("number", "e.g. R-2026-000123")],
                )
            },
            "/receipts/{number}.pdf": {
                "get": {
                    "summary": "A receipt as PDF",
                    "parameters": [_path_param("number", "e.g. R-2026-000123")],
                    "responses": {
                        "200": {"description": "PDF", "content": {"application/pdf": {}}},
                        "401": _ERROR,
                        "404": _ERROR,
                        "429": _RATE_LIMITED,
                    },
                }
            },
            "/reconciliations/{day}": {
                "get": _op(
                    "Supervisor: the reconciliation report of a UTC day (matched count, "
                    "totals per currency and merchant account, every difference with its case)",
                    _reconciliation(money),
                    params=[_path_param("day", "UTC day, YYYY-MM-DD", _DAY)],
                    errors=(401, 403, 404, 422),
                ),
                "post": _op(
                    "Supervisor: reconcile a UTC day now (again). Each difference opens a "
                    "case; running a day again opens none twice.",
                    _reconciliation(money),
                    params=[_path_param("day", "UTC day, YYYY-MM-DD, not in the future", _DAY)],
                    errors=(401, 403, 409, 422, 502),
                ),
            },
            **_dispute_paths(idempotency_key),
            **case_paths(op=_op, path_param=_path_param),
            **fraud_paths(op=_op, path_param=_path_param, idempotency_key=idempotency_key),
            **keypad_paths(op=_op, path_param=_path_param),
            **money_paths(
                op=_op, path_param=_path_param, money=money, idempotency_key=idempotency_key
            ),
            **call_paths(op=_op),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "crm-pay API key (crm-pay api-keys create)",
                }
            },
            "responses": {
                "RateLimited": {
                    "description": "Too many requests (rate_limited); nothing was done",
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait before sending it again",
                            "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        }
                    },
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "Error": {
                    "description": "Error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "Payment": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "status": {
                            "enum": [
                                "created",
                                "awaiting_customer",
                                "processing",
                                "authorized",
                                "submitted_for_settlement",
                                "settled",
                                "held",
                                "declined",
                                "failed",
                                "expired",
                                "cancelled",
                                "voided",
                                "settlement_declined",
                                "unknown",
                            ]
                        },
                        "channel": {"type": "string"},
                        "amount": money,
                        "currency": {"type": "string"},
                        "customer": {"type": "string"},
                        "pay_url": {
                            "type": "string",
                            "description": "Only when the link is created",
                        },
                        "card": {
                            "type": ["object", "null"],
                            "properties": {
                                "brand": {"type": "string"},
                                "last4": {"type": "string"},
                            },
                        },
                        "method": {
                            "type": ["string", "null"],
                            "description": "How it was paid, as the receipt says it: "
                            "'Visa ending 1111', 'Apple Pay · Visa ending 1881', "
                            "'PayPal · p***@example.com' (never more than a card's last 4)",
                        },
                        "decline": {
                            "type": ["object", "null"],
                            "properties": {
                                # the PSP's raw code (processor.2001), for support
                                "code": {"type": "string"},
                                # crm-pay's decline category: decides the words
                                "category": {"type": ["string", "null"]},
                                "message": {"type": "string"},
                                "next_step": {"type": "string"},
                            },
                        },
                        "receipt_number": {"type": ["string", "null"]},
                        "allocations": {"type": "array"},
                        "credit": money,
                        "captured": money,
                        "refunded": money,
                        "refund_receipts": {"type": "array", "items": {"type": "string"}},
                        "reversal_receipt": {
                            "type": ["string", "null"],
                            "description": "The numbered reversal of a payment whose "
                            "settlement the bank declined (status settlement_declined)",
                        },
                    },
                },
                "Customer": {
                    "type": "object",
                    "properties": {
                        "crm_ref": {"type": "string"},
                        "name": {"type": "string"},
                        "balance": {"type": "string"},
                        "credit": {"type": "string"},
                        "invoices": {"type": "array"},
                        "cards_on_file": {"type": "array"},
                        "recent_payments": {"type": "array"},
                    },
                },
                "Message": {
                    "type": "object",
                    "description": "A customer message and its delivery status",
                    "properties": {
                        "message_id": {
                            "type": "string",
                            "description": "Stable Message-ID, e.g. receipt.R-2026-000123@"
                            "example.com; a resend gets a suffix (.2, .3, ...)",
                        },
                        "kind": {"enum": ["receipt", "pay_link", "payment_failed"]},
                        "channel": {"enum": ["email", "sms"]},
                        "recipient": {"type": "string"},
                        "payment_id": {"type": ["string", "null"]},
                        "receipt_number": {"type": ["string", "null"]},
                        "status": {"enum": ["queued", "sent", "failed", "skipped"]},
                        "reason": {
                            "type": ["string", "null"],
                            "description": "Why it failed (or the last temporary error)",
                        },
                        "attempts": {"type": "integer"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "sent_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Dispute": _dispute_schema(),
                "ApprovalRequest": approval_schema(money),
                "Receipt": {
                    "type": "object",
                    "properties": {
                        "number": {"type": "string"},
                        "kind": {"enum": ["payment", "refund", "reversal"]},
                        "amount_paid": {**money, "description": "kind payment"},
                        "amount_refunded": {**money, "description": "kind refund"},
                        "amount_reversed": {**money, "description": "kind reversal"},
                        "method": {"type": "string"},
                        "lines": {"type": "array"},
                    },
                },
            },
        },
    }
