"""The customer receipts portal, reached from a signed link in the receipt email.

The link carries the customer's CRM id and the receipt number, signed (not encrypted:
nothing secret is in it) with a key derived from the token pepper, and expires after
``CRM_PAY_RECEIPT_LINK_TTL`` days. It needs no database row, and it opens nothing but
that customer's receipts.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import Gone, NotFound
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, Payment, Receipt
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from vault import tokens
from vault.errors import TokenExpired, TokenInvalid

from .context import Context
from .receipts import receipt_from_row

__all__ = ["receipt_link", "open_receipt_link", "customer_receipts", "customer_receipt_pdf"]

_PURPOSE = b"crm-pay/receipts-portal/v1"


def _key(ctx: Context) -> bytes:
    # A key of its own: a portal link can never be confused with any other token.
    return hmac.new(ctx.settings.token_pepper, _PURPOSE, hashlib.sha256).digest()


def receipt_link(ctx: Context, customer_ref: str, number: str) -> str:
    """The portal URL for ``customer_ref``'s receipts, with ``number`` highlighted."""
    signed = tokens.sign(
        {"c": customer_ref, "n": number},
        key=_key(ctx),
        expires_in=ctx.settings.receipt_link_ttl_seconds,
        now=ctx.now(),
    )
    base = ctx.settings.public_url.rstrip("/") + ctx.settings.url_prefix
    return f"{base}/r/{signed}"


def open_receipt_link(ctx: Context, signed: str) -> tuple[str, str]:
    """``(customer_ref, receipt number)`` of a genuine, unexpired link.

    Raises ``Gone`` for an expired link and ``NotFound`` for anything else."""
    if not signed or len(signed) > 1000:
        raise NotFound("this receipts link is not valid", code="receipt_link_invalid")
    try:
        payload = tokens.verify(signed, key=_key(ctx), now=ctx.now())
    except TokenExpired:
        raise Gone(
            "this receipts link has expired; ask us to send your receipt again",
            code="receipt_link_expired",
        ) from None
    except TokenInvalid:
        raise NotFound("this receipts link is not valid", code="receipt_link_invalid") from None
    customer_ref, number = payload.get("c"), payload.get("n")
    if not isinstance(customer_ref, str) or not isinstance(number, str):
        raise NotFound("this receipts link is not valid", code="receipt_link_invalid")
    return customer_ref, number


def customer_receipts(ctx: Context, customer_ref: str) -> dict[str, Any]:
    """The customer's receipts, newest first: what the portal page lists."""
    with ctx.db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.crm_ref == customer_ref)).first()
        if customer is None:
            raise NotFound("this receipts link is not valid", code="receipt_link_invalid")
        rows = s.scalars(
            select(Receipt)
            .join(Payment, Payment.id == Receipt.payment_id)
            .where(Payment.customer_id == customer.id)
            .order_by(Receipt.issued_at.desc(), Receipt.id.desc())
        ).all()
        return {
            "customer_name": customer.name,
            "merchant": ctx.settings.merchant,
            "receipts": [
                {
                    "number": row.number,
                    "kind": row.kind,
                    "issued_at": as_utc(row.issued_at),
                    "amount": Money(
                        row.content["amount_paid_minor"], row.content["currency"]
                    ).format(),
                    "money": Money(row.content["amount_paid_minor"], row.content["currency"]),
                    "method": row.content.get("method", ""),
                }
                for row in rows
            ],
        }


def customer_receipt_pdf(ctx: Context, customer_ref: str, number: str) -> bytes:
    """The PDF of one of ``customer_ref``'s receipts; another customer's is not found."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(Receipt)
            .join(Payment, Payment.id == Receipt.payment_id)
            .join(Customer, Customer.id == Payment.customer_id)
            .where(Receipt.number == number, Customer.crm_ref == customer_ref)
        ).first()
        if row is None:
            raise NotFound(f"no receipt {number} for this link", code="receipt_not_found")
        receipt = receipt_from_row(row)
    return render_receipt_pdf(receipt)
