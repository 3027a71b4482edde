"""Transactional outbox: side effects (CRM, email, SMS, webhooks) are written as rows in
the same transaction as the change that causes them, then delivered by a dispatcher.

Delivery is at-least-once: a message is *claimed* (lease) in one short transaction,
delivered with no transaction open, and marked sent in another. A dispatcher that dies
between delivery and marking leaves the lease to expire and the message is delivered
again, so every handler must be an idempotent upsert keyed by our ids.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from crm_pay.domain.errors import NotFound
from crm_pay.persistence.db import as_utc, insert_at_commit, insert_unless_present, inserts_waiting
from crm_pay.persistence.models import OutboxMessage
from vault.pan import redact

from .context import Context

__all__ = [
    "enqueue",
    "enqueue_now",
    "postpone",
    "waiting_in_this_unit",
    "Handler",
    "BatchHandler",
    "Dispatcher",
    "replay",
    "outbox_summary",
    "retry_now",
]

log = logging.getLogger("crm_pay.outbox")

Handler = Callable[[Context, dict[str, Any]], None]
# Many payloads in one call; returns, per payload, None (delivered) or the exception.
BatchHandler = Callable[[Context, list[dict[str, Any]]], list[Exception | None]]


def _row(
    topic: str, ordering_key: str, dedupe_key: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "topic": topic,
        "ordering_key": ordering_key,
        "dedupe_key": dedupe_key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "available_at": now,
        "locked_until": None,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }


def enqueue(
    session: Session,
    *,
    topic: str,
    ordering_key: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: datetime,
    deliver_at: datetime | None = None,
) -> None:
    """Write a message in the caller's transaction; a second message with the same
    ``dedupe_key`` is ignored (the change that caused it was already recorded).
    ``deliver_at``: not before then (default ``now``; see :func:`postpone`).

    The row is written as the transaction commits, with every other message the
    transaction queued, in one ``INSERT … ON CONFLICT DO NOTHING`` (one payment queues up
    to four): atomic with the change that caused it all the same, and in the order
    queued, which is the order the dispatcher delivers one ordering key in. Code that
    would look for a waiting message in the same transaction sees it through
    :func:`waiting_in_this_unit`; code that needs the new row's id uses
    :func:`enqueue_now`."""
    row = _row(topic, ordering_key, dedupe_key, payload, now)
    if deliver_at is not None:
        row["available_at"] = deliver_at
    insert_at_commit(session, OutboxMessage, row)


def postpone(session: Session, *, dedupe_key: str, deliver_at: datetime) -> bool:
    """Move a message that has not been tried yet to ``deliver_at`` (sooner or later);
    False when there is none (delivered, being delivered, or never queued)."""
    moved = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.dedupe_key == dedupe_key,
            OutboxMessage.status == "pending",
            OutboxMessage.attempts == 0,
            OutboxMessage.locked_until.is_(None),
        )
        .values(available_at=deliver_at)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def enqueue_now(
    session: Session,
    *,
    topic: str,
    ordering_key: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: datetime,
) -> int | None:
    """:func:`enqueue`, written at once: returns the new message's id, or ``None`` when a
    message with that ``dedupe_key`` exists already."""
    return insert_unless_present(
        session,
        OutboxMessage,
        _row(topic, ordering_key, dedupe_key, payload, now),
        returning=OutboxMessage.id,
    )


def waiting_in_this_unit(session: Session, *, topic: str, ordering_key: str) -> bool:
    """True when this transaction has queued a message of ``topic`` for ``ordering_key``
    that is not written yet."""
    return any(
        row["topic"] == topic and row["ordering_key"] == ordering_key
        for row in inserts_waiting(session, OutboxMessage)
    )


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog's variant)."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0


class Dispatcher:
    """Delivers pending outbox messages to handlers by topic.

    Messages of one ``ordering_key`` go out in id order: while an older one is waiting
    for a retry, newer ones with the same key wait too. Topics without a handler stay
    pending (a later release or another worker may handle them); they are not lost.
    """

    def __init__(
        self,
        ctx: Context,
        handlers: dict[str, Handler],
        *,
        lease_seconds: int = 120,
        batch_size: int = 50,
        worker_id: str = "dispatcher",
        rng: random.Random | None = None,
        batch_handlers: dict[str, BatchHandler] | None = None,
    ) -> None:
        self.ctx = ctx
        self.handlers = handlers
        # topics delivered many at a time; each must also be in ``handlers``
        self.batch_handlers = batch_handlers or {}
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_size = batch_size
        self.worker_id = worker_id
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ---------------------------------------------------------------
    def _claim(self) -> list[OutboxMessage]:
        """Lease the next deliverable messages to this dispatcher, in one short
        transaction.

        Deliverable: pending, due, not leased (or its lease ran out: the worker holding
        it died), and the oldest pending message of its ``ordering_key``, so one key
        has at most one message in flight and keys keep their order. On PostgreSQL the
        rows are read ``FOR UPDATE SKIP LOCKED``: two workers claiming at the same
        moment never get the same row (one skips what the other is locking) and never
        wait for each other; a row claimed and committed by another worker meanwhile
        carries its lease and no longer matches. The lease (``locked_until``) is also
        the claim's fencing token: :meth:`_sent`, :meth:`_failed` and :meth:`_release`
        change the row only while it still holds this claim's value.

        SQLite: the transaction holds the database write lock, so claims are serialised
        there too; one worker process is assumed (docs/runbooks/workers.md).
        """
        now = self.ctx.now()
        db = self.ctx.db
        topics = list(self.handlers)
        older = aliased(OutboxMessage)
        head_of_its_key = ~exists().where(
            older.ordering_key == OutboxMessage.ordering_key,
            older.id < OutboxMessage.id,
            older.status == "pending",
            older.topic.in_(topics),
        )
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.topic.in_(topics),
                OutboxMessage.available_at <= now,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                head_of_its_key,
            )
            .order_by(OutboxMessage.id)
            .limit(self.batch_size)
        )
        if not db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
        with db.transaction() as s:
            claimed = list(s.scalars(stmt))
            until = now + self.lease
            for msg in claimed:
                msg.locked_until = until
                msg.attempts += 1
        return claimed

    def _fenced(self, msg: OutboxMessage) -> Any:
        """``UPDATE`` of ``msg`` that matches only while this claim's lease is on it."""
        return update(OutboxMessage).where(
            OutboxMessage.id == msg.id, OutboxMessage.locked_until == msg.locked_until
        )

    def _lease_left(self, msg: OutboxMessage) -> bool:
        """Whether a delivery may still start: at least half of the lease must remain,
        so the delivery ends before the lease does and no other worker takes the message
        while it is on its way (a lease must outlast twice the longest CRM call)."""
        deadline = as_utc(msg.locked_until)
        assert deadline is not None
        return self.ctx.now() < deadline - self.lease / 2

    def run_once(self) -> DispatchReport:
        report = DispatchReport()
        claimed = self._claim()
        batchable: dict[str, list[OutboxMessage]] = {}
        single: list[OutboxMessage] = []
        for msg in claimed:
            if msg.topic in self.batch_handlers:
                batchable.setdefault(msg.topic, []).append(msg)
            else:
                single.append(msg)
        for topic, msgs in batchable.items():
            self._deliver_batch(topic, msgs, report)
        for msg in single:
            if self._stop.is_set() or not self._lease_left(msg):
                # Stopping, or slow deliveries before it used up its lease: hand it back
                # undelivered, for this or another worker's next claim.
                self._release(msg)
                report.skipped += 1
                continue
            handler = self.handlers[msg.topic]
            try:
                handler(self.ctx, dict(msg.payload))
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
                self._failed(msg, exc, report)
            else:
                self._sent(msg)
                report.sent += 1
        return report

    def _deliver_batch(self, topic: str, msgs: list[OutboxMessage], report: DispatchReport) -> None:
        """One call for many messages (CRM batch endpoints); each message still succeeds
        or fails on its own."""
        try:
            outcomes = self.batch_handlers[topic](self.ctx, [dict(m.payload) for m in msgs])
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each is retried
            outcomes = [exc] * len(msgs)
        for msg, outcome in zip(msgs, outcomes, strict=True):
            if outcome is None:
                self._sent(msg)
                report.sent += 1
            else:
                self._failed(msg, outcome, report)

    def drain(self, *, max_passes: int = 100) -> DispatchReport:
        """Deliver until nothing deliverable is left (tests, CLI, shutdown)."""
        total = DispatchReport()
        for _ in range(max_passes):
            r = self.run_once()
            total.sent += r.sent
            total.retried += r.retried
            total.dead += r.dead
            if r.sent == 0 and r.retried == 0 and r.dead == 0:
                break
        return total

    def _sent(self, msg: OutboxMessage) -> None:
        with self.ctx.db.transaction() as s:
            result = s.execute(
                self._fenced(msg).values(
                    status="sent", sent_at=self.ctx.now(), locked_until=None, last_error=None
                )
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            # Its lease ran out during the delivery and another worker claimed it: that
            # one delivers it again and marks it (at-least-once; handlers are idempotent).
            log.warning(
                "outbox message %s (%s) delivered by %s after its lease ran out",
                msg.id,
                msg.topic,
                self.worker_id,
            )

    def _release(self, msg: OutboxMessage) -> None:
        """Give a claimed message back undelivered (the attempt did not happen)."""
        with self.ctx.db.transaction() as s:
            s.execute(
                self._fenced(msg).values(locked_until=None, attempts=OutboxMessage.attempts - 1)
            )

    def _failed(self, msg: OutboxMessage, exc: Exception, report: DispatchReport) -> None:
        settings = self.ctx.settings
        crm_said = getattr(exc, "crm_message", "")
        error = redact(
            f"{type(exc).__name__}: {exc}" + (f" | CRM said: {crm_said}" if crm_said else "")
        )[:2000]
        now = self.ctx.now()
        # A record the target refused for good (validation) would fail the same way again.
        permanent = getattr(exc, "retryable", True) is False
        # Wrong credentials: waiting is all that helps; a dead letter would need a replay.
        patient = getattr(exc, "keep_retrying", False) is True
        if permanent or (not patient and msg.attempts >= settings.outbox_max_attempts):
            values: dict[str, Any] = {"status": "dead", "locked_until": None, "last_error": error}
            report.dead += 1
            log.error(
                "outbox message %s (%s) dead after %s attempts: %s",
                msg.id,
                msg.topic,
                msg.attempts,
                error,
            )
        else:
            delay = getattr(exc, "delay", None)
            if delay is None:
                delay = backoff_delay(
                    msg.attempts,
                    base=settings.outbox_base_delay_seconds,
                    cap=settings.outbox_max_delay_seconds,
                    rng=self.rng,
                )
            values = {
                "available_at": now + timedelta(seconds=delay),
                "locked_until": None,
                "last_error": error,
            }
            report.retried += 1
            log.warning(
                "outbox message %s (%s) failed, retry in %.1fs: %s", msg.id, msg.topic, delay, error
            )
        with self.ctx.db.transaction() as s:
            # Fenced: if the lease ran out and another worker holds the message now, its
            # outcome, not this one, decides what happens next.
            s.execute(self._fenced(msg).values(**values))

    # -- background thread (embedded default) -----------------------------------
    def start(self, interval: float = 1.0) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    report = self.run_once()
                except Exception:  # noqa: BLE001 - keep the dispatcher alive; log and retry
                    log.exception("outbox dispatcher pass failed")
                    report = DispatchReport()
                if report.sent == 0:
                    self._wake.wait(interval)
                    self._wake.clear()

        self._thread = threading.Thread(target=loop, name=f"crm-pay-{self.worker_id}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def replay(ctx: Context, message_ids: Iterable[int] | None = None) -> int:
    """Put dead-lettered (or, by id, already sent) messages back in the queue.

    Without ids: every dead letter. Handlers are idempotent, so a replay of a sent
    message leaves the target exactly as after one delivery.
    """
    with ctx.db.transaction() as s:
        stmt = update(OutboxMessage)
        if message_ids is None:
            stmt = stmt.where(OutboxMessage.status == "dead")
        else:
            ids = list(message_ids)
            found = set(s.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(ids))))
            missing = set(ids) - found
            if missing:
                raise NotFound(f"no outbox message with id {sorted(missing)}")
            stmt = stmt.where(OutboxMessage.id.in_(ids))
        result = s.execute(
            stmt.values(status="pending", attempts=0, available_at=ctx.now(), locked_until=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_now(ctx: Context, topic_prefix: str) -> int:
    """Make every pending message of these topics due now (after the cause of their
    failures was fixed, e.g. a CRM's credentials): the backlog drains at once."""
    with ctx.db.transaction() as s:
        result = s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.topic.like(f"{topic_prefix}%"),
                OutboxMessage.locked_until.is_(None),
            )
            .values(available_at=ctx.now())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def outbox_summary(ctx: Context) -> dict[str, int]:
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return {status: int(n) for status, n in rows}
