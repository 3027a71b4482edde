"""The two signed links of a payment reminder: "pay now" and "no more reminders".

Neither link holds a pay-link token: "pay now" names the reminder (``ReminderSend``)
and the pay page's link is made only when the customer follows it (a pay link is open
for minutes, a reminder is read days later). "No more reminders" names the customer; the
opt-out it records is honoured by every later reminder. Both use keys of their own,
derived from the token pepper, so neither can be taken for another kind of link.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Gone, NotFound
from crm_pay.persistence.models import Customer, ReminderOptOut
from vault import tokens
from vault.errors import TokenExpired, TokenInvalid

from . import audit
from .context import Context

__all__ = [
    "LINK_TTL_DAYS",
    "reminder_pay_url",
    "opt_out_url",
    "reminder_of",
    "opt_out_customer_of",
    "is_opted_out",
    "record_opt_out",
]

LINK_TTL_DAYS = 60
_PAY = b"crm-pay/reminder-pay/v1"
_OPT_OUT = b"crm-pay/reminder-opt-out/v1"


def _key(ctx: Context, purpose: bytes) -> bytes:
    return hmac.new(ctx.settings.token_pepper, purpose, hashlib.sha256).digest()


def _url(ctx: Context, path: str, purpose: bytes, payload: dict[str, Any]) -> str:
    signed = tokens.sign(
        payload, key=_key(ctx, purpose), expires_in=LINK_TTL_DAYS * 86400, now=ctx.now()
    )
    return f"{ctx.settings.public_url.rstrip('/')}{ctx.settings.url_prefix}{path}/{signed}"


def reminder_pay_url(ctx: Context, send_id: int) -> str:
    """``{prefix}/reminders/pay/<token>``: opens a pay link for the reminded invoice."""
    return _url(ctx, "/reminders/pay", _PAY, {"r": send_id})


def opt_out_url(ctx: Context, customer_ref: str) -> str:
    """``{prefix}/reminders/opt-out/<token>``: the customer's "no more reminders" page."""
    return _url(ctx, "/reminders/opt-out", _OPT_OUT, {"c": customer_ref})


def _verify(ctx: Context, signed: str, purpose: bytes, field: str) -> Any:
    invalid = NotFound("this link is not valid", code="reminder_link_invalid")
    if not signed or len(signed) > 1000:
        raise invalid
    try:
        payload = tokens.verify(signed, key=_key(ctx, purpose), now=ctx.now())
    except TokenExpired:
        raise Gone(
            "this link has expired; contact us and we will help you",
            code="reminder_link_expired",
        ) from None
    except TokenInvalid:
        raise invalid from None
    value = payload.get(field)
    if value is None:
        raise invalid
    return value


def reminder_of(ctx: Context, signed: str) -> int:
    """The ``ReminderSend`` id a "pay now" link names (``NotFound``/``Gone`` if not genuine)."""
    value = _verify(ctx, signed, _PAY, "r")
    if not isinstance(value, int):
        raise NotFound("this link is not valid", code="reminder_link_invalid")
    return value


def opt_out_customer_of(ctx: Context, signed: str) -> str:
    """The CRM id of the customer an opt-out link names."""
    value = _verify(ctx, signed, _OPT_OUT, "c")
    if not isinstance(value, str):
        raise NotFound("this link is not valid", code="reminder_link_invalid")
    return value


def is_opted_out(session: Session, customer_id: int) -> bool:
    found = session.scalar(
        select(ReminderOptOut.id).where(ReminderOptOut.customer_id == customer_id)
    )
    return found is not None


def record_opt_out(ctx: Context, signed: str) -> dict[str, Any]:
    """Record that the customer of an opt-out link wants no more reminders. Following the
    link again changes nothing (``already`` is then True)."""
    customer_ref = opt_out_customer_of(ctx, signed)
    now: datetime = ctx.now()
    try:
        with ctx.db.transaction() as s:
            customer = s.scalars(select(Customer).where(Customer.crm_ref == customer_ref)).first()
            if customer is None:
                raise NotFound("this link is not valid", code="reminder_link_invalid")
            if is_opted_out(s, customer.id):
                return {"customer_ref": customer_ref, "already": True}
            s.add(ReminderOptOut(customer_id=customer.id, created_at=now))
            s.flush()
            audit.record(
                s,
                ctx,
                actor="customer",
                action="reminders.opted_out",
                subject=customer_ref,
                data={},
            )
    except IntegrityError:  # the same link followed twice at once
        return {"customer_ref": customer_ref, "already": True}
    return {"customer_ref": customer_ref, "already": False}
