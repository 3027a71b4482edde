"""What ``{prefix}/metrics`` reports from the database, read at scrape time.

Every figure here is an aggregate (``GROUP BY``/``MIN``) over rows all processes share,
so any web process answers the same: nothing is counted in memory. Labels are our own
bounded vocabularies (payment statuses, outbox topics, webhook providers and statuses,
connector names an admin chose from ``[a-z0-9_-]``), never a customer's data or a
card number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import CrmConnectorRow, OutboxMessage, Payment, WebhookEvent

from .context import Context
from .janitor import PROCESSING_GRACE

__all__ = ["OutboxTopic", "Snapshot", "snapshot"]


@dataclass(frozen=True)
class OutboxTopic:
    """Delivery backlog of one outbox topic."""

    topic: str
    pending: int
    retrying: int  # pending after at least one failed attempt
    dead: int
    oldest_pending_age_seconds: float  # 0 when nothing is pending


@dataclass(frozen=True)
class Snapshot:
    """One scrape's figures."""

    payments_by_status: dict[str, int]
    outbox: list[OutboxTopic]
    # payments the janitor must look at now: unknown (check due) and processing past
    # their grace; and unknown ones already past CRM_PAY_UNKNOWN_WINDOW
    janitor_backlog: dict[str, int]
    in_doubt_past_window: int
    oldest_in_doubt_age_seconds: float
    # (provider, status) -> count for webhook notifications that did not go through
    webhook_failures: dict[tuple[str, str], int]
    # CRM deliveries failing now (retrying or dead), credited to the enabled connector
    crm_errors: dict[tuple[str, str], int]
    crm_connector: str


@dataclass
class _Tally:
    pending: int = 0
    retrying: int = 0
    dead: int = 0
    oldest: datetime | None = None


def _age(now: datetime, then: datetime | None) -> float:
    then = as_utc(then)
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def snapshot(ctx: Context) -> Snapshot:
    """Read every figure in one short read-only transaction."""
    now = ctx.now()
    window = timedelta(seconds=ctx.settings.unknown_window_seconds)
    with ctx.db.transaction() as s:
        by_status = {
            str(status): int(n)
            for status, n in s.execute(
                select(Payment.status, func.count()).group_by(Payment.status)
            ).all()
        }
        topics: dict[str, _Tally] = {}
        for topic, status, n, retrying, oldest in s.execute(
            select(
                OutboxMessage.topic,
                OutboxMessage.status,
                func.count(),
                func.count().filter(OutboxMessage.attempts > 0),
                func.min(OutboxMessage.created_at),
            )
            .where(OutboxMessage.status.in_(("pending", "dead")))
            .group_by(OutboxMessage.topic, OutboxMessage.status)
        ).all():
            tally = topics.setdefault(str(topic), _Tally())
            if status == "dead":
                tally.dead += int(n)
                continue
            tally.pending += int(n)
            tally.retrying += int(retrying or 0)
            tally.oldest = oldest
        due = or_(Payment.next_check_at.is_(None), Payment.next_check_at <= now)
        unknown_due = s.scalar(select(func.count()).where(Payment.status == "unknown", due)) or 0
        processing_stuck = (
            s.scalar(
                select(func.count()).where(
                    Payment.status == "processing", Payment.updated_at <= now - PROCESSING_GRACE
                )
            )
            or 0
        )
        in_doubt = s.execute(
            select(
                func.count().filter(Payment.in_doubt_since <= now - window),
                func.min(Payment.in_doubt_since),
            ).where(Payment.status.in_(("unknown", "processing")))
        ).one()
        webhooks = {
            (str(provider), str(status)): int(n)
            for provider, status, n in s.execute(
                select(WebhookEvent.provider, WebhookEvent.status, func.count())
                .where(WebhookEvent.status.in_(("rejected", "failed")))
                .group_by(WebhookEvent.provider, WebhookEvent.status)
            ).all()
        }
        connector = s.scalar(select(CrmConnectorRow.name).where(CrmConnectorRow.enabled))
    crm_name = str(connector or ctx.config.crm)
    crm_errors: dict[tuple[str, str], int] = {}
    outbox = []
    for topic, tally in sorted(topics.items()):
        entry = OutboxTopic(
            topic=topic,
            pending=tally.pending,
            retrying=tally.retrying,
            dead=tally.dead,
            oldest_pending_age_seconds=_age(now, tally.oldest),
        )
        outbox.append(entry)
        if topic.startswith("crm."):
            for state, n in (("retrying", entry.retrying), ("dead", entry.dead)):
                key = (crm_name, state)
                crm_errors[key] = crm_errors.get(key, 0) + n
    return Snapshot(
        payments_by_status=by_status,
        outbox=outbox,
        janitor_backlog={"unknown": int(unknown_due), "processing": int(processing_stuck)},
        in_doubt_past_window=int(in_doubt[0] or 0),
        oldest_in_doubt_age_seconds=_age(now, in_doubt[1]),
        webhook_failures=webhooks,
        crm_errors=crm_errors,
        crm_connector=crm_name,
    )
