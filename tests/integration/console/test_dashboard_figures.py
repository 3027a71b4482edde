"""The dashboard's figures against a seeded data set with known answers: every panel
the SQL aggregates compute equals what plain Python counts over the list of rows the test
seeded (SQLite, and PostgreSQL with CRM_PAY_TEST_DATABASE_URL). The seeded rows sit on
the range's edges too: a payment at the first instant is in, one at the end is out.

Every test runs twice: on the live rows (no worker pass yet), and after the worker's
pass, when the whole past days come from the daily totals
(:mod:`crm_pay.services.dashboard_rollup`)."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from dashboard_seed import NOW, PERIOD, SUCCESS, Seeded, seed_rows, store_rows

from crm_pay.domain.declines import advice_for
from crm_pay.services import dashboard, reminders
from crm_pay.services.dashboard import Period
from crm_pay.services.dashboard_rollup import run_dashboard_rollup, split_period
from crm_pay.testing import FakeWorld, fake_context


@pytest.fixture(params=["live rows", "daily totals"])
def seeded(db_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[FakeWorld, Seeded]]:
    world = fake_context(db_url)
    world.clock.now = NOW
    data = seed_rows(random.Random(20260301))
    store_rows(world, data)
    if request.param == "daily totals":
        run_dashboard_rollup(world.ctx)
        with world.ctx.db.transaction() as s:  # the whole range comes from the totals
            split = split_period(s, PERIOD.start, PERIOD.end, "payments")
        assert split.days == ((PERIOD.first_day, PERIOD.last_day + timedelta(days=1)),)
        assert split.live == ()
    yield world, data
    world.close()


def _in(at: datetime, period: Period = PERIOD) -> bool:
    return period.start <= at < period.end


def _ours(data: Seeded) -> list[dict[str, Any]]:
    return [p for p in data.payments if p["currency"] == "USD" and _in(p["created_at"])]


def _figures(world: FakeWorld) -> dict[str, Any]:
    return dashboard.dashboard(world.ctx, PERIOD)["panels"]


def _usd(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def test_edges_of_the_range(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    ids = {p["id"] for p in _ours(data)}
    first, at_end, last = data.payments[0], data.payments[1], data.payments[2]
    assert (first["id"] in ids) == (first["currency"] == "USD")
    assert at_end["id"] not in ids
    assert (last["id"] in ids) == (last["currency"] == "USD")


def test_outcomes_and_success_rate(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    ours = _ours(data)
    got = _figures(world)["outcomes"]
    by_status = Counter(p["status"] for p in ours)
    ok = sum(by_status[s] for s in SUCCESS)
    bad = by_status["declined"] + by_status["failed"]
    assert got["summary"]["payments"] == len(ours)
    assert got["summary"]["succeeded"] == ok
    assert got["summary"]["success_rate"] == _pct(ok, ok + bad)
    assert got["summary"]["succeeded_amount"] == _usd(
        sum(p["amount_minor"] for p in ours if p["status"] in SUCCESS)
    )
    rows = {r[0]: r[1] for r in got["rows"]}
    assert rows["in doubt"] == by_status["processing"] + by_status["unknown"]
    assert sum(rows.values()) == len(ours)


def test_declines_by_plain_words_reason(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    declined = [p for p in _ours(data) if p["status"] in ("declined", "failed")]
    expected = Counter(p["decline_category"] or "outcome_unknown" for p in declined)
    got = _figures(world)["declines"]
    assert {r[0]: r[2] for r in got["rows"]} == dict(expected)
    for category, words, *_ in got["rows"]:
        assert words == advice_for(category, code="unknown").message
    assert got["summary"]["declined_or_failed"] == len(declined)


@pytest.mark.parametrize(("panel", "key"), [("channels", "channel"), ("agents", "created_by")])
def test_volume_and_value_by_channel_and_agent(
    seeded: tuple[FakeWorld, Seeded], panel: str, key: str
) -> None:
    world, data = seeded
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in _ours(data):
        label = dashboard.agent_label(p[key]) if key == "created_by" else p[key]
        expected[label][0] += 1
        if p["status"] in SUCCESS:
            expected[label][1] += 1
            expected[label][2] += p["amount_minor"]
    got = {r[0]: r[1:4] for r in _figures(world)[panel]["rows"]}
    assert got == {k: [n, sn, _usd(v)] for k, (n, sn, v) in expected.items()}


def test_daily_rows_cover_every_day(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    rows = _figures(world)["daily"]["rows"]
    assert [r[0] for r in rows] == [
        (PERIOD.start.date() + timedelta(days=d)).isoformat() for d in range(25)
    ]
    per_day = Counter(p["created_at"].date().isoformat() for p in _ours(data))
    assert {r[0]: r[1] for r in rows if r[1]} == dict(per_day)


def test_refund_and_chargeback_rates(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    usd = [e for e in data.events if e["payment"]["currency"] == "USD" and _in(e["created_at"])]
    sales = [e for e in usd if e["kind"] == "sale_succeeded"]
    refunds = [e for e in usd if e["kind"] in ("refund_succeeded", "void_succeeded")]
    figures = _figures(world)
    summary = figures["refunds"]["summary"]
    assert summary["refund_rate"] == _pct(len(refunds), len(sales))
    assert summary["refund_value_rate"] == _pct(
        sum(e["amount_minor"] for e in refunds), sum(e["amount_minor"] for e in sales)
    )
    chargebacks = [
        d
        for d in data.disputes
        if d["kind"] == "chargeback" and d["payment"]["currency"] == "USD" and _in(d["opened_at"])
    ]
    cb = figures["chargebacks"]["summary"]
    assert cb["chargebacks"] == len(chargebacks)
    assert cb["chargeback_rate"] == _pct(len(chargebacks), len(sales))
    assert cb["chargeback_value_rate"] == _pct(
        sum(d["amount_minor"] or 0 for d in chargebacks), sum(e["amount_minor"] for e in sales)
    )


def test_receipt_delivery_rate(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    ours = [m for m in data.messages if _in(m["created_at"])]
    sent = sum(m["status"] == "sent" for m in ours)
    failed = sum(m["status"] == "failed" for m in ours)
    got = _figures(world)["receipts"]["summary"]
    assert (got["sent"], got["failed"]) == (sent, failed)
    assert got["waiting"] == len(ours) - sent - failed
    assert got["delivery_rate"] == _pct(sent, sent + failed)


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what percentile_cont does)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=10 if q == 0.9 else 2, method="inclusive")[
        8 if q == 0.9 else 0
    ]


def test_resolution_time_median_and_p90(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    done = [c for c in data.cases if c["resolved_at"] is not None and _in(c["resolved_at"])]
    seconds = [(c["resolved_at"] - c["opened_at"]).total_seconds() for c in done]
    got = _figures(world)["resolution"]
    assert got["summary"]["resolved"] == len(done)
    assert got["summary"]["median_seconds"] == pytest.approx(_quantile(seconds, 0.5), abs=0.2)
    assert got["summary"]["p90_seconds"] == pytest.approx(_quantile(seconds, 0.9), abs=0.2)
    for kind, n, median_h, p90_h in got["rows"]:
        mine = [s for c, s in zip(done, seconds, strict=True) if c["kind"] == kind]
        assert n == len(mine)
        assert median_h == pytest.approx(_quantile(mine, 0.5) / 3600, abs=0.01)
        assert p90_h == pytest.approx(_quantile(mine, 0.9) / 3600, abs=0.01)


def test_open_cases_by_kind_and_age(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for c in data.cases:
        if c["status"] in ("resolved", "closed"):
            continue
        age = (NOW - c["opened_at"]).total_seconds()
        bucket = 0 if age < 3600 else 1 if age < 86400 else 2 if age < 7 * 86400 else 3
        expected[c["kind"]][0] += 1
        expected[c["kind"]][1 + bucket] += 1
    got = _figures(world)["open_cases"]
    assert {r[0]: r[1:] for r in got["rows"]} == dict(expected)


def test_amounts_follow_the_currency_filter(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, data = seeded
    jpy = Period(PERIOD.start, PERIOD.end, "JPY")
    got = dashboard.dashboard(world.ctx, jpy)["panels"]
    ours = [p for p in data.payments if p["currency"] == "JPY" and _in(p["created_at"], jpy)]
    taken = sum(p["amount_minor"] for p in ours if p["status"] in SUCCESS)
    assert got["outcomes"]["summary"]["succeeded_amount"] == str(taken)  # JPY: no decimals
    assert got["outcomes"]["columns"][2] == "amount (JPY)"
    currencies = {r[0]: r[1] for r in got["currencies"]["rows"]}
    assert currencies == dict(Counter(p["currency"] for p in data.payments if _in(p["created_at"])))


def test_reminders_and_csat_show_the_notification_figures(
    seeded: tuple[FakeWorld, Seeded],
) -> None:
    world, data = seeded
    with world.ctx.db.transaction() as s:
        sent = reminders.reminder_figures(s, start=PERIOD.start, end=PERIOD.end)
    got = _figures(world)
    assert [r[1] for r in got["reminders"]["rows"]] == [
        sent["queued"],
        sent["sent"],
        sent["invoices_reminded"],
        sent["converted"],
    ]
    scores = [a["score"] for a in data.answers if _in(a["created_at"])]
    assert scores, "the seed has answers in the range"
    assert got["csat"]["summary"] == {
        "answers": len(scores),
        "average": round(sum(scores) / len(scores), 2),
    }
    assert [r[1] for r in got["csat"]["rows"]] == [scores.count(k) for k in range(1, 6)]


def test_an_empty_range_has_no_rates(seeded: tuple[FakeWorld, Seeded]) -> None:
    world, _ = seeded
    empty = dashboard.parse_period(
        "2020-01-01", "2020-01-31", "USD", today=date(2026, 4, 15), default_currency="USD"
    )
    got = dashboard.dashboard(world.ctx, empty)["panels"]
    assert got["outcomes"]["summary"]["success_rate"] is None
    assert got["refunds"]["summary"]["refund_rate"] is None
    assert got["resolution"]["summary"]["median_seconds"] is None
    assert got["declines"]["rows"] == []
