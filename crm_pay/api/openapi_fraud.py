"""OpenAPI paths of the fraud review routes (crm_pay/api/routes_fraud.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .openapi_money import required_text

__all__ = ["fraud_paths"]

_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["note"],
    "properties": {
        "note": {
            **required_text(500),  # at least one visible character, as the service checks
            "description": "What the supervisor checked (kept in the case and the audit)",
        }
    },
}


def fraud_paths(
    *,
    op: Callable[..., dict[str, Any]],
    path_param: Callable[..., dict[str, Any]],
    idempotency_key: dict[str, Any],
) -> dict[str, Any]:
    """The paths; ``op`` and ``path_param`` are the document's own builders."""
    payment = {"$ref": "#/components/schemas/Payment"}
    params = [path_param("payment_id", "Payment id"), idempotency_key]
    errors = (401, 403, 404, 409, 422, 502, 503)
    return {
        "/payments/{payment_id}/release": {
            "post": op(
                "Supervisor: release a payment held by the fraud rules (status held: "
                "authorized, not captured). It is submitted for settlement and booked as any "
                "successful payment (receipt, ledger, CRM), once; its fraud_review case is "
                "resolved with the note. A payment no longer held is returned as it is; 409 "
                "not_held for one never held, release_refused when the PSP no longer has the "
                "authorization. Needs Idempotency-Key.",
                payment,
                params=params,
                body=_BODY,
                errors=errors,
            )
        },
        "/payments/{payment_id}/decline": {
            "post": op(
                "Supervisor: decline a payment held by the fraud rules. Its authorization is "
                "voided (no money moves), the payment is declined and the customer told it "
                "did not go through; its fraud_review case is resolved with the note. A "
                "payment no longer held is returned as it is. Needs Idempotency-Key.",
                payment,
                params=params,
                body=_BODY,
                errors=errors,
            )
        },
    }
