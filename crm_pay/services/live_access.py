"""Who may watch a payment's live status, what they see on joining, and the customer
page's field-validity reports.

An agent watches the payments they created; supervisors and admins watch any payment.
Field validity arrives from the customer's pay page as flags only (``number: true``),
never what was typed: the digits stay in the PSP's hosted-field iframes.

The other way, an agent may ask the customer to enter one field again ("ask again for
the expiry"): :func:`ask_again` keeps the request on the audit trail (who asked, which
field: a name from :data:`HOSTED_FIELDS`, nothing else) and tells the watching agents;
the pay page asks :func:`field_requests` for the requests made since it last looked and
clears that field with fixed words (:data:`ASK_AGAIN_WORDS`). The request rides on the
pay page's own same-origin endpoint rather than on Socket.IO: the live channel is for
signed-in console users, and the pay page runs only the scripts its inventory pins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crm_pay.domain.errors import Conflict, Gone, NotFound, ValidationError
from crm_pay.domain.roles import ROLES
from crm_pay.persistence.models import AuditEntry, PayLink, Payment

from . import audit, policy
from .access import Principal
from .context import Context
from .live_status import event_from_rows
from .pay_links import closed_message, find_link, link_state

__all__ = [
    "WATCH_ANY_ROLES",
    "HOSTED_FIELDS",
    "ASK_AGAIN_ACTION",
    "ASK_AGAIN_WORDS",
    "can_watch",
    "snapshot",
    "report_field",
    "ask_again",
    "field_requests",
]

#: Roles that may watch any agent's payments.
WATCH_ANY_ROLES = frozenset(ROLES[ROLES.index("supervisor") :])
#: Hosted-fields field names the customer page may report on.
HOSTED_FIELDS = frozenset({"number", "expirationDate", "cvv", "postalCode"})
_MAX_PAYMENT_ID = 64
#: The audit action of an agent's "ask again" (the pay page reads these back).
ASK_AGAIN_ACTION = "pay_link.field_asked_again"
#: What the customer's page says next to the field the agent asked for again.
ASK_AGAIN_WORDS = {
    "number": "Please enter your card number again.",
    "expirationDate": "Please enter the expiry date again (MM/YY, as printed on the card).",
    "cvv": "Please enter the security code again (the 3 or 4 digits on the card).",
    "postalCode": "Please enter your postal code again.",
}
# Statuses in which the customer's next keystroke belongs to a new attempt.
_BEFORE_AN_ATTEMPT = frozenset({"created", "awaiting_customer", "declined", "failed"})


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


def _field_name(field: Any) -> str:
    if not isinstance(field, str) or field not in HOSTED_FIELDS:
        raise ValidationError(f"field must be one of {', '.join(sorted(HOSTED_FIELDS))}")
    return field


def _open_link(ctx: Context, token: str) -> tuple[str, int]:
    """``(payment id, number of the customer's attempt now)`` for an open link;
    ``NotFound`` for a bad token, ``Gone`` once the link can no longer take a payment."""
    with ctx.db.transaction() as s:
        link, payment = find_link(s, ctx, token)
        state = link_state(ctx, link, payment)
        payment_id = payment.id
        attempt = payment.attempt + (1 if payment.status in _BEFORE_AN_ATTEMPT else 0)
    if state != "open":
        raise Gone(closed_message(state), code=f"link_{state}")
    return payment_id, attempt


def report_field(ctx: Context, token: str, field: Any, valid: Any, looks_wrong: Any = False) -> str:
    """The customer page says hosted field ``field`` became (in)valid: publish the flag
    to the agents watching, with ``looks_wrong`` (the entry cannot become valid, or the
    customer left it unfinished: the agent is told in words) and the attempt it belongs
    to (typing after a decline starts the next one). Returns the payment id. Raises
    ``ValidationError`` for a field or flag we do not know, ``NotFound`` for a bad
    token, ``Gone`` once the link can no longer take a payment (nobody needs ticks then)."""
    field = _field_name(field)
    if not isinstance(valid, bool):
        raise ValidationError("valid must be true or false")
    if not isinstance(looks_wrong, bool):
        raise ValidationError("looks_wrong must be true or false")
    payment_id, attempt = _open_link(ctx, token)
    problem = looks_wrong and not valid
    ctx.publish(
        payment_id,
        {"fields": {field: valid}, "field_problems": {field: problem}, "attempt": attempt},
    )
    return payment_id


def ask_again(ctx: Context, payment_id: str, field: Any, *, actor: str) -> None:
    """The agent asks the customer to enter ``field`` again: kept on the audit trail
    (the pay page reads it from there) and told to the agents watching. ``Conflict``
    when the payment has no pay link that can still be paid."""
    field = _field_name(field)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        link = s.scalars(select(PayLink).where(PayLink.payment_id == payment_id)).first()
        state = link_state(ctx, link, payment) if link is not None else "none"
        if state != "open" or payment.status not in _BEFORE_AN_ATTEMPT:
            raise Conflict(
                "The customer cannot enter card details on this payment now, so nothing was asked.",
                code="link_not_open",
            )
        audit.record(
            s, ctx, actor=actor, action=ASK_AGAIN_ACTION, subject=payment_id, data={"field": field}
        )
    ctx.publish(payment_id, {"asked_again": field, "fields": {field: False}})


def field_requests(ctx: Context, token: str, after: int | None) -> dict[str, Any]:
    """The agent's "ask again" requests for this link since ``after`` (a number this
    function returned before), oldest first, as ``{"after": n, "requests": [{"field",
    "message"}]}``. Without ``after``: none, only the number to ask with next time (a
    page just loaded shows the fields empty anyway). ``NotFound``/``Gone`` as
    :func:`report_field`."""
    payment_id, _ = _open_link(ctx, token)
    with ctx.db.transaction() as s:
        if after is None:
            newest = s.scalar(select(func.max(AuditEntry.seq))) or 0
            return {"after": int(newest), "requests": []}
        # seq is the primary key: only the entries written since ``after`` are read
        rows = s.execute(
            select(AuditEntry.seq, AuditEntry.data)
            .where(
                AuditEntry.seq > after,
                AuditEntry.action == ASK_AGAIN_ACTION,
                AuditEntry.subject == payment_id,
            )
            .order_by(AuditEntry.seq)
        ).all()
    requests = [
        {"field": data["field"], "message": ASK_AGAIN_WORDS[data["field"]]}
        for _, data in rows
        if data.get("field") in ASK_AGAIN_WORDS
    ]
    return {"after": max([after, *(seq for seq, _ in rows)]), "requests": requests}
