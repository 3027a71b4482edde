"""The dashboard's daily totals stay exact when an old day changes after the worker's
pass: a refund today of a payment made weeks ago, a settlement decline, the janitor
failing a payment that was ``unknown``, a receipt delivered late, a payment written just
before midnight and committed after the pass. The figures equal the live rows (and what
Python counts over the seeded rows) at once, before the next pass, and after it
(SQLite, and PostgreSQL with CRM_PAY_TEST_DATABASE_URL)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dashboard_seed import NOW, PERIOD, START, SUCCESS, Seeded, seed_rows, store_rows
from sqlalchemy import delete, select, update

from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Customer,
    DashboardRollup,
    Message,
    Payment,
    PaymentEventRow,
)
from crm_pay.ports import DeclineInfo
from crm_pay.services import dashboard
from crm_pay.services.dashboard import PANELS, Period, compute_panel
from crm_pay.services.dashboard_rollup import (
    CHANGE_WINDOW,
    Split,
    run_dashboard_rollup,
    split_period,
)
from crm_pay.services.payment_records import add_event, transition
from crm_pay.services.psp_outcome import apply_decline
from crm_pay.testing import FakeWorld, fake_context
from crm_pay.worker import BackgroundWorkers

LATER = NOW + timedelta(hours=2)  # the late changes happen today, after the pass
YEAR = Period(
    datetime(2025, 4, 16, tzinfo=UTC), datetime(2026, 4, 16, tzinfo=UTC), "USD"
)  # 365 days up to today: today itself is always live
EDGES = Period(START + timedelta(days=5, hours=7), START + timedelta(days=30, hours=3), "USD")


@pytest.fixture
def rolled(db_url: str) -> Iterator[tuple[FakeWorld, Seeded]]:
    world = fake_context(db_url)
    world.clock.now = NOW
    data = seed_rows(random.Random(20260301))
    store_rows(world, data)
    run_dashboard_rollup(world.ctx)
    world.clock.now = LATER
    yield world, data
    world.close()


def _panels(world: FakeWorld, period: Period) -> dict[str, Any]:
    return dashboard.dashboard(world.ctx, period)["panels"]


def _live_panels(world: FakeWorld, period: Period) -> dict[str, Any]:
    """Every panel from the live rows only (the totals' state removed in a transaction
    that is rolled back): the figures the totals must reproduce."""
    s = world.ctx.db.sessions()
    try:
        s.execute(delete(DashboardRollup))
        return {name: compute_panel(s, name, period, now=world.clock.now) for name in PANELS}
    finally:
        s.rollback()
        s.close()


def _usd_payment(data: Seeded, status: str) -> dict[str, Any]:
    return next(
        p
        for p in data.payments
        if p["status"] == status
        and p["currency"] == "USD"
        and PERIOD.start + timedelta(days=1) <= p["created_at"] < PERIOD.end - timedelta(days=1)
    )


def _late_changes(world: FakeWorld, data: Seeded) -> dict[str, Any]:
    """The changes, made through the services' own record functions (which stamp them),
    mirrored in the seeded rows; returns the payments changed."""
    refunded = _usd_payment(data, "settled")
    bounced = _usd_payment(data, "submitted_for_settlement")
    resolved = _usd_payment(data, "unknown")
    with world.ctx.db.transaction() as s:
        row = s.get(Payment, refunded["id"])
        assert row is not None
        part = Money(refunded["amount_minor"] // 2, "USD")
        add_event(s, world.ctx, row, EventKind.REFUND_SUCCEEDED, amount=part)
        row = s.get(Payment, bounced["id"])
        assert row is not None
        transition(s, world.ctx, row, PaymentStatus.SETTLEMENT_DECLINED)
        row = s.get(Payment, resolved["id"])
        assert row is not None
        transition(s, world.ctx, row, PaymentStatus.FAILED)
        row.decline_category = "not_at_psp"
    data.events.append(
        {
            "payment": refunded,
            "kind": "refund_succeeded",
            "amount_minor": refunded["amount_minor"] // 2,
            "created_at": LATER,
        }
    )
    bounced["status"] = "settlement_declined"
    resolved["status"], resolved["decline_category"] = "failed", "not_at_psp"
    return {"refunded": refunded, "bounced": bounced, "resolved": resolved}


def _succeeded(data: Seeded, period: Period) -> tuple[int, int]:
    ours = [
        p
        for p in data.payments
        if p["currency"] == "USD"
        and period.start <= p["created_at"] < period.end
        and p["status"] in SUCCESS
    ]
    return len(ours), sum(p["amount_minor"] for p in ours)


def _refunds(data: Seeded, period: Period) -> int:
    return sum(
        1
        for e in data.events
        if e["payment"]["currency"] == "USD"
        and e["kind"] in ("refund_succeeded", "void_succeeded")
        and period.start <= e["created_at"] < period.end
    )


@pytest.mark.parametrize("period", [PERIOD, YEAR, EDGES], ids=["month", "year", "partial days"])
def test_the_totals_give_the_live_figures(rolled: tuple[FakeWorld, Seeded], period: Period) -> None:
    world, _ = rolled
    assert _panels(world, period) == _live_panels(world, period)


def test_a_late_change_to_an_old_day_shows_before_and_after_the_next_pass(
    rolled: tuple[FakeWorld, Seeded],
) -> None:
    world, data = rolled
    before = _panels(world, YEAR)
    changed = _late_changes(world, data)
    for period in (PERIOD, YEAR):
        now_figures = _panels(world, period)  # no pass yet: the changed day is read live
        assert now_figures == _live_panels(world, period)
        n, minor = _succeeded(data, period)
        assert now_figures["outcomes"]["summary"]["succeeded"] == n
        assert now_figures["outcomes"]["summary"]["succeeded_amount"] == f"{minor / 100:.2f}"
        assert now_figures["refunds"]["rows"][1][1] == _refunds(data, period)
    after = _panels(world, YEAR)
    assert after["outcomes"]["summary"]["succeeded"] == (
        before["outcomes"]["summary"]["succeeded"] - 1
    )
    assert after["refunds"]["rows"][1][1] == before["refunds"]["rows"][1][1] + 1
    declines = {r[0]: r[2] for r in after["declines"]["rows"]}
    assert declines["not_at_psp"] == 1 + sum(
        r[2] for r in before["declines"]["rows"] if r[0] == "not_at_psp"
    )

    report = run_dashboard_rollup(world.ctx)
    # the days of the payments whose status changed (the refund is an event of today)
    days = {changed[k]["created_at"].date() for k in ("bounced", "resolved")}
    # and the days still holding a queued receipt (it may be delivered any time)
    waiting = {
        m["created_at"].date()
        for m in data.messages
        if m["status"] == "queued" and m["created_at"].date() < NOW.date()
    }
    assert report.days == len(days | waiting)
    for period in (PERIOD, YEAR):
        assert _panels(world, period) == _live_panels(world, period)
    # Once no change is younger than the window, the changed days come from the totals.
    world.clock.now = LATER + CHANGE_WINDOW + timedelta(minutes=1)
    run_dashboard_rollup(world.ctx)
    with world.ctx.db.transaction() as s:
        split = split_period(s, PERIOD.start, PERIOD.end, "payments")
    assert split.live == ()
    for period in (PERIOD, YEAR):
        assert _panels(world, period) == _live_panels(world, period)


def test_a_receipt_delivered_after_the_pass_counts_at_once(
    rolled: tuple[FakeWorld, Seeded],
) -> None:
    world, data = rolled
    waiting = next(
        m
        for m in data.messages
        if m["status"] == "queued"
        and PERIOD.start + timedelta(days=1) <= m["created_at"] < PERIOD.end - timedelta(days=1)
    )
    before = _panels(world, PERIOD)["receipts"]["summary"]
    with world.ctx.db.transaction() as s:  # as the outbox's delivery does, unstamped
        message_id = s.scalars(
            select(Message.message_id).where(
                Message.payment_id == waiting["payment"]["id"], Message.kind == "receipt"
            )
        ).one()
        s.execute(update(Message).where(Message.message_id == message_id).values(status="sent"))
    for _ in range(2):  # before the next pass, then after it
        got = _panels(world, PERIOD)["receipts"]["summary"]
        assert (got["sent"], got["waiting"]) == (before["sent"] + 1, before["waiting"] - 1)
        assert _panels(world, PERIOD) == _live_panels(world, PERIOD)
        run_dashboard_rollup(world.ctx)


def test_a_payment_committed_just_after_the_pass_on_a_past_day_counts(
    rolled: tuple[FakeWorld, Seeded],
) -> None:
    """A transaction open across midnight: its payment is stamped on a day the pass has
    just computed as a whole past day, and commits after the pass."""
    world, _ = rolled
    day = Period(datetime(2026, 4, 15, tzinfo=UTC), datetime(2026, 4, 16, tzinfo=UTC), "USD")
    before = _panels(world, day)
    world.clock.now = day.end + timedelta(minutes=1)
    run_dashboard_rollup(world.ctx)  # 2026-04-15 is now a whole past day, computed
    stamped = day.end - timedelta(minutes=2)
    with world.ctx.db.transaction() as s:
        s.add(
            Payment(
                id="pay_late_commit",
                customer_id=s.scalars(select(Customer.id)).first(),
                channel="link",
                status="settled",
                amount_minor=1234,
                currency="USD",
                requested_allocations={},
                created_by="user:1:ana@example.com",
                description="",
                created_at=stamped,
                updated_at=stamped,
            )
        )
        s.flush()
        s.add(
            PaymentEventRow(
                payment_id="pay_late_commit",
                kind="sale_succeeded",
                amount_minor=1234,
                currency="USD",
                detail={},
                created_at=stamped,
            )
        )
        s.add(
            Message(
                message_id="receipt.late@example.com",
                kind="receipt",
                channel="email",
                recipient="someone@example.com",
                payment_id="pay_late_commit",
                status="sent",
                created_at=stamped,
            )
        )
    for _ in range(2):  # before the next pass, then after it
        got = _panels(world, day)
        assert got == _live_panels(world, day)
        assert (
            got["outcomes"]["summary"]["payments"] == before["outcomes"]["summary"]["payments"] + 1
        )
        assert got["refunds"]["rows"][0][1] == before["refunds"]["rows"][0][1] + 1
        assert got["receipts"]["summary"]["sent"] == before["receipts"]["summary"]["sent"] + 1
        run_dashboard_rollup(world.ctx)


def test_the_worker_keeps_the_totals_on_its_own(db_url: str) -> None:
    world = fake_context(db_url)
    world.clock.now = NOW
    store_rows(world, seed_rows(random.Random(20260301)))
    workers = BackgroundWorkers(world.ctx, outbox_interval=5.0, dashboard_interval=0.05)
    workers.start()
    try:
        deadline = time.monotonic() + 20
        split = Split((), ())
        while not split.days and time.monotonic() < deadline:
            time.sleep(0.1)
            with world.ctx.db.transaction() as s:
                split = split_period(s, PERIOD.start, PERIOD.end, "payments")
    finally:
        workers.stop()
        world.close()
    assert split.days == ((PERIOD.first_day, PERIOD.last_day + timedelta(days=1)),)


def test_a_new_decline_reason_on_a_declined_payment_reaches_the_totals(
    rolled: tuple[FakeWorld, Seeded],
) -> None:
    """The PSP reports a different reason for an old decline (a retry's new code): the
    declines panel shows the new reason after the next pass, not the rolled-up old one."""
    world, data = rolled
    old = next(
        p
        for p in data.payments
        if p["status"] == "declined"
        and p["currency"] == "USD"
        and p.get("decline_category") != "expired_card"
        and PERIOD.start + timedelta(days=1) <= p["created_at"] < PERIOD.end - timedelta(days=1)
    )
    before = {r[0]: r[2] for r in _panels(world, PERIOD)["declines"]["rows"]}
    with world.ctx.db.transaction() as s:
        row = s.get(Payment, old["id"])
        assert row is not None
        was = row.decline_category or ""
        new_reason = DeclineInfo(kind="processor", code="2004", category="expired_card")
        apply_decline(s, world.ctx, row, new_reason)
        # the new reason moves updated_at (the roll-up's "changed since" filter reads it,
        # and transition() leaves it alone when the status stays declined)
        assert as_utc(row.updated_at) == world.ctx.now()
    run_dashboard_rollup(world.ctx)
    after = {r[0]: r[2] for r in _panels(world, PERIOD)["declines"]["rows"]}
    assert after["expired_card"] == before.get("expired_card", 0) + 1
    assert after.get(was, 0) == before[was] - 1
    for period in (PERIOD, YEAR):
        assert _panels(world, period) == _live_panels(world, period)
