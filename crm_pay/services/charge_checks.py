"""Checks before the console charges a card on file: has this exact charge just been made?

Layer: records. A card on file is charged the moment the agent submits: a second
submission of a new form (Back, then Take payment again; a colleague on the same
customer) would take the money twice. :func:`recent_card_charge` finds a charge of the
same card on file, same customer, same amount and currency within
:data:`DUPLICATE_WINDOW` that took (or may have taken) the money; the console then asks
the agent to confirm before charging again. A retried submission of the *same* form
(its idempotency key already claimed) is no new charge and is never reported: the
idempotency rules answer it with the first payment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from crm_pay.domain.money import Money
from crm_pay.domain.payment import SUCCESSFUL, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, Payment

from . import idempotency
from .context import Context

__all__ = ["DUPLICATE_WINDOW", "recent_card_charge"]

#: How far back a charge of the same card and amount counts as "just made".
DUPLICATE_WINDOW = timedelta(minutes=10)

# The money was taken, or may have been (the PSP's answer is not known yet).
_TOOK_MONEY = frozenset(
    {s.value for s in SUCCESSFUL}
    | {PaymentStatus.CREATED.value, PaymentStatus.PROCESSING.value, PaymentStatus.UNKNOWN.value}
)


def recent_card_charge(
    ctx: Context,
    *,
    crm_ref: str,
    card_token: str,
    amount: Money,
    idempotency_scope: str,
    idempotency_key: str,
) -> dict[str, Any] | None:
    """The latest charge of ``card_token`` for ``amount`` to customer ``crm_ref`` within
    :data:`DUPLICATE_WINDOW` (``{"id", "status", "created_at", "minutes_ago"}``), or
    None. None too when this idempotency key was used already (a retry, not a new one)."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        if idempotency.find_record(s, idempotency_scope, idempotency_key) is not None:
            return None
        found = s.scalars(
            select(Payment)
            .join(Customer, Customer.id == Payment.customer_id)
            .where(
                Customer.crm_ref == crm_ref,
                Payment.channel == "vaulted",
                Payment.payment_method_token == card_token,
                Payment.amount_minor == amount.minor,
                Payment.currency == amount.currency,
                Payment.status.in_(_TOOK_MONEY),
                Payment.created_at >= now - DUPLICATE_WINDOW,
            )
            .order_by(Payment.created_at.desc())
            .limit(1)
        ).first()
        if found is None:
            return None
        created = as_utc(found.created_at)
        assert created is not None
        return {
            "id": found.id,
            "status": found.status,
            "created_at": created.isoformat(),
            "minutes_ago": max(0, int((as_utc(now) - created).total_seconds() // 60)),  # type: ignore[operator]
        }
