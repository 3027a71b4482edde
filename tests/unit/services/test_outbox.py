"""The outbox dispatcher without threads: per-aggregate order, exponential backoff
with a cap, dead letter after the last attempt; and what a CRM outage means for a
real payment's CRM record (delivered late, once)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

from crm_pay.persistence.db import as_utc
from crm_pay.services.context import Context
from crm_pay.services.outbox import Dispatcher, enqueue
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import paid


def _put(ctx: Context, key: str, n: int) -> None:
    with ctx.db.transaction() as s:
        enqueue(
            s,
            topic="test.note",
            ordering_key=key,
            dedupe_key=f"{key}:{n}",
            payload={"key": key, "n": n},
            now=ctx.now(),
        )


class _Flaky:
    """A handler that fails its first ``fails`` calls for ``n == 1`` and records the rest."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.delivered: list[tuple[str, int]] = []

    def __call__(self, ctx: Context, payload: dict[str, Any]) -> None:
        if payload["n"] == 1 and payload["key"] == "a" and self.fails:
            self.fails -= 1
            raise OSError("target down")
        self.delivered.append((payload["key"], payload["n"]))


def _dispatcher(ctx: Context, handler: _Flaky) -> Dispatcher:
    return Dispatcher(ctx, {"test.note": handler}, rng=random.Random(1))


def test_messages_of_one_aggregate_wait_for_the_older_one(world: FakeWorld) -> None:
    handler = _Flaky(fails=1)
    for n in (1, 2):
        _put(world.ctx, "a", n)
    _put(world.ctx, "b", 1)
    d = _dispatcher(world.ctx, handler)

    d.drain()
    # a/1 failed: a/2 waits behind it; b is another aggregate and goes out.
    assert handler.delivered == [("b", 1)]

    world.clock.advance(world.ctx.settings.outbox_max_delay_seconds)
    d.drain()
    assert handler.delivered == [("b", 1), ("a", 1), ("a", 2)]


def test_backoff_grows_exponentially_up_to_the_cap_then_dead_letters(world: FakeWorld) -> None:
    world.ctx.settings = replace(
        world.ctx.settings,
        outbox_base_delay_seconds=2.0,
        outbox_max_delay_seconds=20.0,
        outbox_max_attempts=6,
    )
    handler = _Flaky(fails=100)
    _put(world.ctx, "a", 1)
    d = _dispatcher(world.ctx, handler)
    runner = OutboxRunner(world.ctx)
    delays = []
    for _ in range(5):
        d.run_once()
        (row,) = runner.messages()
        assert row.status == "pending"
        delays.append((as_utc(row.available_at) - world.clock.now).total_seconds())
        world.clock.advance(delays[-1] + 0.001)
    # full jitter: each delay lies in [ceiling/2, ceiling], ceiling = min(cap, 2 * 2^(n-1))
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(20.0, 2.0 * 2 ** (attempt - 1))
        assert ceiling / 2 - 0.01 <= delay <= ceiling + 0.01, (attempt, delays)

    d.run_once()
    (row,) = runner.messages()
    assert row.status == "dead"
    assert row.attempts == 6
    assert "target down" in (row.last_error or "")
    assert handler.delivered == []


def test_crm_outage_delays_the_payment_record_but_delivers_it_once(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    payment = paid(world.ctx, "100.00")
    world.crm.fail_writes(1)

    outbox.drain()
    assert payment["id"] not in world.crm.payments
    world.clock.advance(timedelta(hours=2).total_seconds())
    outbox.drain()

    assert world.crm.payments[payment["id"]].status == "submitted_for_settlement"
    assert all(m.status == "sent" for m in outbox.messages())
