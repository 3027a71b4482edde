"""``OutboxRunner``: drains the outbox in the test's own thread through the real
:class:`crm_pay.services.outbox.Dispatcher` and the real topic handlers (those of
``crm-pay worker``), so a test sees exactly what the fakes behind the context (CRM,
mailer, SMS) would have received, without background threads or sleeps.

Neutral: no vendor behaviour. The jitter of the backoff is seeded, so retry times are
reproducible."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crm_pay.persistence.models import OutboxMessage
from crm_pay.services.context import Context
from crm_pay.services.crm_sync import CRM_BATCH_HANDLERS
from crm_pay.services.outbox import Dispatcher, DispatchReport
from crm_pay.worker import DEFAULT_LEASE_SECONDS, handlers

__all__ = ["OutboxRunner", "OutboxRow"]


@dataclass(frozen=True)
class OutboxRow:
    """An outbox message as a test looks at it."""

    id: int
    topic: str
    ordering_key: str
    status: str
    attempts: int
    available_at: Any
    last_error: str | None
    payload: dict[str, Any]


class OutboxRunner:
    """One dispatcher over ``ctx``; :meth:`drain` delivers what is due *now* (by the
    context's clock); advance the clock to let retries come due."""

    def __init__(
        self, ctx: Context, *, seed: int = 0, lease_seconds: int = DEFAULT_LEASE_SECONDS
    ) -> None:
        self.ctx = ctx
        self.dispatcher = Dispatcher(
            ctx,
            handlers(ctx),
            batch_handlers=dict(CRM_BATCH_HANDLERS),
            worker_id="outbox-runner",
            lease_seconds=lease_seconds,
            rng=random.Random(seed),  # noqa: S311 - reproducible jitter, not security
        )

    def drain(self, *, max_passes: int = 100) -> DispatchReport:
        """Deliver until nothing due is left; returns the totals."""
        return self.dispatcher.drain(max_passes=max_passes)

    def run_once(self) -> DispatchReport:
        return self.dispatcher.run_once()

    def messages(self, topic: str | None = None) -> list[OutboxRow]:
        """Every outbox message (optionally of one topic), oldest first."""
        with self.ctx.db.transaction() as s:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            if topic is not None:
                stmt = stmt.where(OutboxMessage.topic == topic)
            return [
                OutboxRow(
                    m.id,
                    m.topic,
                    m.ordering_key,
                    m.status,
                    m.attempts,
                    m.available_at,
                    m.last_error,
                    dict(m.payload),
                )
                for m in s.scalars(stmt)
            ]

    def pending(self, topic: str | None = None) -> list[OutboxRow]:
        return [m for m in self.messages(topic) if m.status == "pending"]
