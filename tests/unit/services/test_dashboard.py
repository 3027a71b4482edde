"""The dashboard's period (date range and currency) with its refusals, CSV cells that a
spreadsheet never runs as formulas, and the throttled live nudge: no database, no HTTP."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from agent_ui.dashboard import csv_cell, panel_csv_text
from crm_pay.dashboard_nudge import EVENT, ROOM, DashboardNudge
from crm_pay.domain.errors import ValidationError
from crm_pay.services.dashboard import agent_label, parse_period

TODAY = date(2026, 4, 15)


def _period(start: str | None = None, end: str | None = None, currency: str | None = None) -> Any:
    return parse_period(start, end, currency, today=TODAY, default_currency="USD")


def test_the_default_is_the_last_30_days_in_the_default_currency() -> None:
    p = _period()
    assert (p.first_day, p.last_day, p.currency) == (date(2026, 3, 17), TODAY, "USD")
    assert p.start == datetime(2026, 3, 17, tzinfo=UTC)
    assert p.end == datetime(2026, 4, 16, tzinfo=UTC)  # the end day is included


def test_both_days_are_included_and_the_currency_is_normalised() -> None:
    p = _period("2026-01-01", "2026-01-01", " eur ")
    assert (p.start, p.end, p.currency) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        "EUR",
    )


@pytest.mark.parametrize(
    ("start", "end", "currency", "words"),
    [
        ("01/02/2026", None, None, "write it as YYYY-MM-DD"),
        (None, "tomorrow", None, "the end day is not a date"),
        ("2026-02-10", "2026-02-01", None, "before it starts"),
        ("2025-01-01", "2026-04-01", None, "at most 366 days"),
        (None, None, "BTC", "not supported"),
    ],
)
def test_a_bad_period_is_refused_with_what_to_type(
    start: str | None, end: str | None, currency: str | None, words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        _period(start, end, currency)


def test_agents_are_named_as_the_console_shows_them() -> None:
    assert agent_label("user:7:ana@example.com") == "ana@example.com"
    assert agent_label("api_key:3:crm") == "crm (API key)"
    assert agent_label("system") == "system"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("ana@example.com", "ana@example.com"),
        (-5, -5),
        (12.5, 12.5),
        (None, ""),
    ],
)
def test_csv_cells_are_never_formulas(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell


def test_a_panel_as_csv() -> None:
    text = panel_csv_text({"columns": ["agent", "payments"], "rows": [["=cmd", 3], ["bo", 0]]})
    assert text == "agent,payments\r\n'=cmd,3\r\nbo,0\r\n"


class _Emits:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str, str]] = []
        self.event = threading.Event()

    def __call__(self, event: str, data: dict[str, Any], *, to: str, namespace: str) -> None:
        self.sent.append((event, data, to, namespace))
        self.event.set()


def test_only_an_outcome_nudges_and_the_nudge_holds_a_time_only() -> None:
    emits = _Emits()
    nudge = DashboardNudge(emits, namespace="/live", interval=60)
    nudge.after({"payment_id": "pay_1", "status": "processing", "at": "x"})
    assert emits.sent == []
    nudge.after({"payment_id": "pay_1", "status": "settled", "receipt_number": "R-1"})
    [(event, data, room, namespace)] = emits.sent
    assert (event, room, namespace) == (EVENT, ROOM, "/live")
    assert list(data) == ["at"]


def test_nudges_inside_the_interval_fold_into_one_sent_when_it_ends() -> None:
    emits = _Emits()
    nudge = DashboardNudge(emits, namespace="/live", interval=0.2)
    nudge.poke()
    emits.event.clear()
    for _ in range(5):
        nudge.poke()
    assert len(emits.sent) == 1  # the first went at once; the rest wait
    assert emits.event.wait(2.0)
    time.sleep(0.3)
    assert len(emits.sent) == 2  # one trailing nudge for the five


def test_a_failing_emitter_never_raises() -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise ConnectionError("queue down")

    DashboardNudge(broken, namespace="/live").poke()
