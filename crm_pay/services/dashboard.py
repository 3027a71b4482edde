"""The payment operations dashboard: figures over a date range and one currency, each
computed by one SQL aggregate in the database (``GROUP BY``, ``COUNT``, ``SUM``), never
by loading rows into Python. Whole past days come from the worker's daily totals when
nothing changed on them since, the rest of the range from the live rows, added up in the
same statement (:mod:`crm_pay.services.dashboard_rollup`): the figures are always exact.

A figure is a *panel*: ``{"name", "title", "columns", "rows", "summary"}``. ``rows``
are lists of plain values in the order of ``columns`` (counts are ints, amounts decimal
strings in the period's currency, rates percentages with one decimal or None when there
is nothing to divide by), so the page, its JSON and every CSV export read one shape.
docs/guides/dashboard.md defines each figure exactly. The period and the payment
panels are in :mod:`crm_pay.services.dashboard_money`, the refund and chargeback rates in
:mod:`crm_pay.services.dashboard_events`; the operations panels
(receipts, cases, reminders, CSAT) and the calls entry points make are here.

Amounts are never summed across currencies: every panel about payments and money reads
one currency (``Period.currency``). Receipt delivery, cases, reminders and CSAT do not
depend on a payment's currency and count all of them. The reminder and CSAT figures come
from :func:`crm_pay.services.reminders.reminder_figures` and
:func:`crm_pay.services.csat.csat_figures`, in the dashboard's transaction.

Percentiles (case resolution time) are exact, never summed from daily totals:
``percentile_cont`` on PostgreSQL, every kind and the total in one ``GROUP BY ROLLUP``
statement; on SQLite, which
has none, the same linear interpolation from the one or two ordered values at the
percentile's position (``ORDER BY ... LIMIT 2 OFFSET k``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, cast, func, literal, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound
from crm_pay.persistence.models import Case, DashboardReceiptDay, Message

from . import csat, reminders
from .context import Context
from .dashboard_events import EVENT_PANELS
from .dashboard_money import (
    MAX_DAYS,
    MONEY_PANELS,
    PanelFigures,
    Period,
    agent_label,
    count_if,
    in_range,
    is_postgres,
    make_panel,
    parse_period,
    rate,
)
from .dashboard_rollup import combined, split_period

__all__ = [
    "PANELS",
    "Period",
    "parse_period",
    "dashboard",
    "panel",
    "compute_panel",
    "agent_label",
    "MAX_DAYS",
]

_CLOSED_CASES = ("resolved", "closed")
# Open cases by age: (label, lower bound in seconds, upper bound or None)
_AGES = (
    ("under 1 hour", 0, 3600),
    ("1 to 24 hours", 3600, 86400),
    ("1 to 7 days", 86400, 7 * 86400),
    ("over 7 days", 7 * 86400, None),
)


def _receipts(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    split, t = split_period(s, p.start, p.end, "receipts"), DashboardReceiptDay
    rows = combined(
        s,
        [
            select(t.channel, t.status, func.sum(t.messages))
            .where(split.in_totals(t.day))
            .group_by(t.channel, t.status),
            select(Message.channel, Message.status, func.count())
            .where(Message.kind == "receipt", split.in_live(Message.created_at))
            .group_by(Message.channel, Message.status),
        ],
        keys=2,
    )
    sent = sum(int(n) for _, st, n in rows if st == "sent")
    failed = sum(int(n) for _, st, n in rows if st == "failed")
    return make_panel(
        "receipts",
        "Receipt delivery",
        ["channel", "status", "receipts"],
        ([ch, st, int(n)] for ch, st, n in rows),
        {
            "sent": sent,
            "failed": failed,
            "waiting": sum(int(n) for _, st, n in rows) - sent - failed,
            "delivery_rate": rate(sent, sent + failed),
        },
    )


def _seconds_open(s: Session) -> Any:
    if is_postgres(s):
        return func.extract("epoch", Case.resolved_at - Case.opened_at)
    return (func.julianday(Case.resolved_at) - func.julianday(Case.opened_at)) * literal(86400.0)


# (kind, resolved, median seconds, p90 seconds) per case kind, and the same for all kinds
_Resolution = tuple[list[tuple[str, int, float | None, float | None]], tuple[int, Any, Any]]


def _resolution_times(s: Session, resolved: list[Any]) -> _Resolution:
    """Median and 90th percentile (linear interpolation, as ``percentile_cont``) of the
    resolution time of the cases matching ``resolved``, per kind and for all of them.

    PostgreSQL: one statement, ``GROUP BY ROLLUP (kind)`` (one read of the index for
    every kind and the total). SQLite: a count per kind, then the one or two values at
    each percentile's position."""
    seconds = cast(_seconds_open(s), Float)
    if is_postgres(s):
        found = s.execute(
            select(
                func.grouping(Case.kind),
                Case.kind,
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .where(*resolved)
            .group_by(func.rollup(Case.kind))
            .order_by(Case.kind)
        ).all()
        kinds = [(k, int(n), _secs(m), _secs(q)) for g, k, n, m, q in found if not g]
        totals = [(int(n), _secs(m), _secs(q)) for g, _, n, m, q in found if g]
        return kinds, (totals[0] if totals else (0, None, None))
    counts = s.execute(
        select(Case.kind, func.count()).where(*resolved).group_by(Case.kind).order_by(Case.kind)
    ).all()
    kinds = [
        (kind, int(n), *_sqlite_percentiles(s, seconds, [*resolved, Case.kind == kind], int(n)))
        for kind, n in counts
    ]
    total = sum(n for _, n, _, _ in kinds)
    return kinds, (total, *_sqlite_percentiles(s, seconds, resolved, total))


def _sqlite_percentiles(
    s: Session, seconds: Any, where: list[Any], n: int
) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    return _sqlite_percentile(s, seconds, where, n, 0.5), _sqlite_percentile(
        s, seconds, where, n, 0.9
    )


def _sqlite_percentile(s: Session, seconds: Any, where: list[Any], n: int, q: float) -> float:
    position = q * (n - 1)
    low = math.floor(position)
    values = [
        float(v)
        for v in s.scalars(
            select(seconds).where(*where).order_by(seconds).limit(2).offset(low)
        ).all()
    ]
    high = values[1] if len(values) > 1 else values[0]
    return _secs(values[0] + (high - values[0]) * (position - low)) or 0.0


def _secs(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _resolution(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    resolved = [Case.resolved_at.is_not(None), in_range(Case.resolved_at, p)]
    kinds, (total, median, p90) = _resolution_times(s, resolved)
    rows = [[kind, n, _hours(m), _hours(q)] for kind, n, m, q in kinds]
    return make_panel(
        "resolution",
        "Discrepancy resolution time",
        ["case kind", "resolved", "median hours", "p90 hours"],
        rows,
        {
            "resolved": total,
            "median_seconds": median,
            "p90_seconds": p90,
            "median_hours": _hours(median),
            "p90_hours": _hours(p90),
        },
    )


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _open_cases(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    buckets = []
    for _, low, high in _AGES:
        cond = Case.opened_at <= now - timedelta(seconds=low)
        if high is not None:
            cond = and_(cond, Case.opened_at > now - timedelta(seconds=high))
        buckets.append(count_if(cond))
    rows = s.execute(
        select(Case.kind, func.count(), *buckets)
        .where(Case.status.not_in(_CLOSED_CASES))
        .group_by(Case.kind)
        .order_by(func.count().desc(), Case.kind)
    ).all()
    return make_panel(
        "open_cases",
        "Open cases by kind and age (now)",
        ["case kind", "open", *(label for label, _, _ in _AGES)],
        ([kind, *(int(v) for v in values)] for kind, *values in rows),
        {"open": sum(int(r[1]) for r in rows)},
    )


def _reminders(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    figures = reminders.reminder_figures(s, start=p.start, end=p.end)
    conversion = figures.get("conversion")
    return make_panel(
        "reminders",
        "Payment reminders",
        ["what", "count"],
        [
            ["reminders queued", int(figures.get("queued") or 0)],
            ["reminders sent", int(figures.get("sent") or 0)],
            ["invoices reminded", int(figures.get("invoices_reminded") or 0)],
            ["invoices paid after a reminder", int(figures.get("converted") or 0)],
        ],
        {"conversion_rate": None if conversion is None else round(100.0 * conversion, 1)},
    )


def _csat(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    figures = csat.csat_figures(s, start=p.start, end=p.end)
    count = int(figures.get("count") or 0)
    distribution = figures.get("distribution") or {}
    rows = [
        [score, int(distribution.get(score, 0)), rate(distribution.get(score, 0), count)]
        for score in range(1, 6)
    ]
    return make_panel(
        "csat",
        "Customer satisfaction (CSAT)",
        ["score", "answers", "share %"],
        rows,
        {"answers": count, "average": figures.get("average")},
    )


#: Every panel, in the order the page shows them.
_PANELS: dict[str, PanelFigures] = {
    **MONEY_PANELS,
    **EVENT_PANELS,
    "receipts": _receipts,
    "resolution": _resolution,
    "open_cases": _open_cases,
    "reminders": _reminders,
    "csat": _csat,
}
_PANELS["currencies"] = _PANELS.pop("currencies")  # last: it fills the currency list
PANELS: tuple[str, ...] = tuple(_PANELS)


def compute_panel(session: Session, name: str, period: Period, *, now: datetime) -> dict[str, Any]:
    """One panel computed in ``session`` (what the benchmark times, panel by panel)."""
    if name not in _PANELS:
        raise NotFound(f"there is no dashboard panel {name!r}; the panels are {', '.join(PANELS)}")
    return _PANELS[name](session, period, now)


def panel(ctx: Context, name: str, period: Period) -> dict[str, Any]:
    """One panel (its CSV export), in one read transaction."""
    with ctx.db.transaction() as s:
        return compute_panel(s, name, period, now=ctx.now())


def dashboard(ctx: Context, period: Period) -> dict[str, Any]:
    """Every panel of ``period``, read in one transaction, with the period itself."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        panels = {name: compute(s, period, now) for name, compute in _PANELS.items()}
    return {
        "period": {
            "start": period.first_day.isoformat(),
            "end": period.last_day.isoformat(),
            "currency": period.currency,
        },
        "generated_at": now.isoformat(),
        "panels": panels,
    }
