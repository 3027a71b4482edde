"""How delivery to the CRM is going, in words for admins and agents: the outbox's CRM
backlog and dead letters (admin console, ``crm-pay connectors``), and what an agent's
page says when the CRM does not answer.

Layer: read models (beside :mod:`.views`); re-exported by :mod:`.crm_settings`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crm_pay.domain.errors import ConfigurationError, CrmPayError
from crm_pay.domain.plain_text import readable_error
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import CrmConnectorRow, Customer, OutboxMessage

from .context import Context

__all__ = ["sync_status", "stale_customer_notice", "crm_down_message"]


def sync_status(ctx: Context, *, dead_limit: int = 50) -> dict[str, Any]:
    """Delivery to the CRM: counts by status, what is retrying, and dead letters with the
    CRM's own error, newest first."""
    with ctx.db.transaction() as s:
        counts = dict(
            s.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.topic.like("crm.%"))
                .group_by(OutboxMessage.status)
            ).all()
        )
        retrying = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic.like("crm.%"),
                OutboxMessage.status == "pending",
                OutboxMessage.attempts > 0,
            )
        )
        dead = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic.like("crm.%"), OutboxMessage.status == "dead")
            .order_by(OutboxMessage.id.desc())
            .limit(dead_limit)
        ).all()
        return {
            "delivered": int(counts.get("sent", 0)),
            "pending": int(counts.get("pending", 0)),
            "retrying": int(retrying or 0),
            "dead": int(counts.get("dead", 0)),
            "dead_letters": [
                {
                    "id": m.id,
                    "topic": m.topic,
                    "key": m.ordering_key,
                    "attempts": m.attempts,
                    "error": readable_error(m.last_error),
                    "created_at": m.created_at.isoformat(),
                }
                for m in dead
            ],
        }


# An unchanged customer's copy is stamped at most once a minute (customers.py), so a
# copy is "stale" only when older than that: then the CRM's answer was not used.
_STALE_AFTER = timedelta(minutes=1, seconds=5)


def _crm_label(ctx: Context) -> str:
    with ctx.db.transaction() as s:
        name = s.scalar(select(CrmConnectorRow.name).where(CrmConnectorRow.enabled))
    return f"connector {name}" if name else f"default CRM {ctx.config.crm}"


def stale_customer_notice(ctx: Context, crm_ref: str, *, since: datetime) -> str | None:
    """What an agent's customer page says when it was built from crm-pay's own copy
    because the CRM did not answer (down, timed out, or its connector misconfigured):
    None when the copy was refreshed from the CRM for this page."""
    with ctx.db.transaction() as s:
        synced = as_utc(s.scalar(select(Customer.synced_at).where(Customer.crm_ref == crm_ref)))
    if synced is None or synced >= since - _STALE_AFTER:
        return None
    return (
        f"The CRM ({_crm_label(ctx)}) is not answering, so this is crm-pay's copy of the "
        f"customer from {synced:%Y-%m-%d %H:%M} UTC: balance and invoices may have changed "
        "since. You can still take a payment by this CRM id; it reaches the CRM when it is "
        "back. An admin can see the connector's state in the admin console."
    )


def crm_down_message(ctx: Context, exc: CrmPayError) -> str:
    """The agent's words for a customer the CRM could not give us and we have no copy of."""
    why = (
        "its connector is misconfigured"
        if isinstance(exc, ConfigurationError)
        else "it did not answer"
    )
    return (
        f"The CRM ({_crm_label(ctx)}) cannot be reached: {why}. This customer is not in "
        "crm-pay yet, so their balance and invoices cannot be shown and no payment can be "
        "taken for them until the CRM answers. Customers opened before can still be "
        "opened by their CRM id. Try again in a moment; an admin has the details in the "
        "admin console."
    )
