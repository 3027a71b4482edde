"""Helpers of the fast service tests: create a payment link and pay it through the
service functions, as the API and the pay page do, without HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment

__all__ = ["link", "paid", "token_of"]


def link(
    ctx: Context, amount: str = "100.00", *, key: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A new pay link payment for CUST-0001; returns its view (with ``pay_url``)."""
    view, _ = create_payment(
        ctx,
        CreatePayment(
            crm_ref=extra.pop("crm_ref", "CUST-0001"), amount=amount, currency="USD", **extra
        ),
        actor="api:tests",
        idempotency_scope="api:tests",
        idempotency_key=key or uuid.uuid4().hex,
        request_hash=f"{amount}:{extra}",
    )
    return view


def token_of(view: dict[str, Any]) -> str:
    return str(view["pay_url"]).rsplit("/p/", 1)[1]


def paid(ctx: Context, amount: str = "100.00", nonce: str = "fake-valid-nonce") -> dict[str, Any]:
    """A link payment paid by the customer; returns the view the pay page got."""
    return pay_with_nonce(ctx, token_of(link(ctx, amount)), nonce)
