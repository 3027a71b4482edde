"""Who may watch a payment's live status, what they see on joining, and the customer
page's field-validity reports.

An agent watches the payments they created; supervisors and admins watch any payment.
Field validity arrives from the customer's pay page as flags only (``number: true``),
never what was typed: the digits stay in the PSP's hosted-field iframes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import Gone, NotFound, ValidationError
from crm_pay.domain.roles import ROLES
from crm_pay.persistence.models import Payment

from . import policy
from .access import Principal
from .context import Context
from .live_status import event_from_rows
from .pay_links import closed_message, find_link, link_state

__all__ = ["WATCH_ANY_ROLES", "HOSTED_FIELDS", "can_watch", "snapshot", "report_field"]

#: Roles that may watch any agent's payments.
WATCH_ANY_ROLES = frozenset(ROLES[ROLES.index("supervisor") :])
#: Hosted-fields field names the customer page may report on.
HOSTED_FIELDS = frozenset({"number", "expirationDate", "cvv", "postalCode"})
_MAX_PAYMENT_ID = 64


def _valid_id(payment_id: Any) -> bool:
    return isinstance(payment_id, str) and 0 < len(payment_id) <= _MAX_PAYMENT_ID


def can_watch(ctx: Context, principal: Principal | None, payment_id: Any) -> bool:
    """True if ``principal`` may follow ``payment_id`` live. An unknown payment is
    refused like someone else's, so the answer reveals nothing."""
    if principal is None or principal.role not in ROLES or not _valid_id(payment_id):
        return False
    with ctx.db.transaction() as s:
        created_by = s.scalars(select(Payment.created_by).where(Payment.id == payment_id)).first()
    if created_by is None:
        return False
    return policy.may(principal, "live.join_payment_room", created_by)


def snapshot(ctx: Context, payment_id: str) -> dict[str, Any]:
    """The payment's current live state, as a ``payment_status`` event would carry it:
    what an agent sees on joining, before the next change arrives. (Field flags are not
    stored: they come with the customer's next keystroke.)"""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        return event_from_rows(s, payment)


def report_field(ctx: Context, token: str, field: Any, valid: Any) -> str:
    """The customer page says hosted field ``field`` became (in)valid: publish the flag
    to the agents watching. Returns the payment id. Raises ``ValidationError`` for a
    field or flag we do not know, ``NotFound`` for a bad token, ``Gone`` once the link
    can no longer take a payment (nobody needs ticks then)."""
    if not isinstance(field, str) or field not in HOSTED_FIELDS:
        raise ValidationError(f"field must be one of {', '.join(sorted(HOSTED_FIELDS))}")
    if not isinstance(valid, bool):
        raise ValidationError("valid must be true or false")
    with ctx.db.transaction() as s:
        link, payment = find_link(s, ctx, token)
        state = link_state(ctx, link, payment)
        payment_id = payment.id
    if state != "open":
        raise Gone(closed_message(state), code=f"link_{state}")
    ctx.publish(payment_id, {"fields": {field: valid}})
    return payment_id
