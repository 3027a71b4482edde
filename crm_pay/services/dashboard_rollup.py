"""The dashboard's daily totals: what the worker sums once per whole past UTC day, so a
year of figures is a few thousand rows to add, not a million payments to scan.

Per day: payments by currency, status and decline reason (count and amount), payments
by channel and by agent (count, succeeded, succeeded amount), sales/refunds/voids of the
payment events (count and amount), receipt messages by channel and status. Today is
never summed; it is always read live.

**Exact, always.** A payment's status changes long after its day (settlement declined,
voided, the janitor resolving ``unknown``), so a day's totals go stale. Two rules keep
every figure equal to what the live rows say:

- The worker's pass (:func:`run_dashboard_rollup`, under ``exclusive(ctx.db,
  "dashboard.rollup")``) computes again every day with a payment whose ``updated_at``
  (moved by every status change) is at or after the last pass's start minus
  :data:`CHANGE_WINDOW`, every day from that moment on (new payments, events and
  messages are stamped when written), every day still holding a queued receipt (its
  status will change), and, on its first pass, every day since the first payment.
- The dashboard (:func:`split_period`) reads the totals only for the days that are
  computed and *clean*: no payment of that day changed, and nothing was created on it,
  since the last pass started minus :data:`CHANGE_WINDOW`; for receipts also no receipt
  waiting. Every other part of the range (today, a partial day at an edge, a day changed
  since, any day when no pass ran yet) is read from the live rows, in the same SQL
  statement (``UNION ALL`` of the totals and the live rows, summed in the database).

:data:`CHANGE_WINDOW` is the bound on how long before its commit a change may be stamped
(a transaction's length, plus clock differences between processes): a change committed
after a pass started carries a stamp no older than that pass's start minus the window,
so the next pass and every dashboard read see it. Payment events and messages are
never updated (their status aside, see receipts above) and are stamped with the time they
are written; payments, events and messages are never deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Date, Select, and_, case, cast, delete, false, func, or_, select
from sqlalchemy import insert as sql_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_pay.domain.payment import SUCCESSFUL, EventKind
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    DashboardAgentDay,
    DashboardChannelDay,
    DashboardDay,
    DashboardEventDay,
    DashboardPaymentDay,
    DashboardReceiptDay,
    DashboardRollup,
    Message,
    Payment,
    PaymentEventRow,
)

from .context import Context

__all__ = [
    "CHANGE_WINDOW",
    "EVENT_KINDS",
    "ROLLUP_JOB",
    "RollupReport",
    "Source",
    "Split",
    "combined",
    "count_if",
    "is_postgres",
    "run_dashboard_rollup",
    "split_period",
    "sum_if",
    "utc_day",
]

log = logging.getLogger("crm_pay.dashboard")

#: How much older than its commit a change's stamp can be (see the module docstring).
CHANGE_WINDOW = timedelta(minutes=10)
#: The name of the worker's one-at-a-time job (:func:`crm_pay.persistence.locks.exclusive`).
ROLLUP_JOB = "dashboard.rollup"
#: The payment events the totals keep.
EVENT_KINDS = (
    str(EventKind.SALE_SUCCEEDED),
    str(EventKind.REFUND_SUCCEEDED),
    str(EventKind.VOID_SUCCEEDED),
)
# A pass computes at most this many consecutive days per transaction (the first pass
# over a year does not hold SQLite's write lock for the whole of it).
_DAYS_PER_TRANSACTION = 31
_SUCCESSFUL = sorted(str(s) for s in SUCCESSFUL)
_RECEIPT_DONE = ("sent", "failed")  # a receipt in any other status may still change

#: Which live rows a figure reads: payments, payment events or receipt messages.
Source = Literal["payments", "events", "receipts"]


def is_postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def utc_day(s: Session, column: Any) -> Any:
    """The UTC calendar day of a stored time (a date on PostgreSQL, ``YYYY-MM-DD`` text
    on SQLite, as a ``Date`` column is stored there; ``str()`` of either is the ISO day)."""
    if is_postgres(s):
        return cast(func.timezone("UTC", column), Date)  # cheaper per row than to_char
    return func.substr(column, 1, 10)  # SQLite keeps UTC times as ISO text


def count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sum_if(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _runs(days: Iterable[date], *, longest: int | None = None) -> list[tuple[date, date]]:
    """Consecutive days as ``[first, end)`` runs (each at most ``longest`` days)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day and (longest is None or (day - runs[-1][0]).days < longest):
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """A range cut into the whole days read from the totals (``days``, ``[first, end)``
    runs) and the times read from the live rows (``live``, ``[start, end)`` ranges)."""

    days: tuple[tuple[date, date], ...]
    live: tuple[tuple[datetime, datetime], ...]

    def in_totals(self, day: Any) -> ColumnElement[bool]:
        """The condition on a totals table's ``day`` column."""
        return or_(false(), *(and_(day >= a, day < b) for a, b in self.days))

    def in_live(self, at: Any) -> ColumnElement[bool]:
        """The condition on a live table's creation time."""
        return or_(false(), *(and_(at >= a, at < b) for a, b in self.live))


def split_period(s: Session, start: datetime, end: datetime, source: Source) -> Split:
    """Which part of ``[start, end)`` the totals answer exactly for ``source``, and
    which part the live rows must (see the module docstring)."""
    everything_live = Split((), ((start, end),))
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(1)
    end_day = end.date()
    state = s.get(DashboardRollup, 1)
    if state is None or first >= end_day:
        return everything_live
    since = as_utc(state.as_of) - CHANGE_WINDOW  # type: ignore[operator]
    computed = select(DashboardDay.day).where(
        DashboardDay.day >= first, DashboardDay.day < min(end_day, since.date())
    )
    if source == "receipts":
        computed = computed.where(DashboardDay.receipts_waiting == 0)
    clean = {_as_date(d) for d in s.scalars(computed)}
    if source == "payments" and clean:
        clean -= _changed_payment_days(s, since)
    runs = _runs(clean)
    if not runs:
        return everything_live
    live, at = [], start
    for a, b in runs:
        if at < _midnight(a):
            live.append((at, _midnight(a)))
        at = _midnight(b)
    if at < end:
        live.append((at, end))
    return Split(tuple(runs), tuple(live))


def _changed_payment_days(s: Session, since: datetime) -> set[date]:
    """The creation days of the payments changed since ``since``. Only ``updated_at``
    bounds the query, so it reads the few recent entries of its index (a range on the
    creation time too would tempt SQLite's planner into reading a year of payments)."""
    day = utc_day(s, Payment.created_at)
    return {
        _as_date(d) for d in s.scalars(select(day).distinct().where(Payment.updated_at >= since))
    }


def combined(s: Session, parts: Sequence[Select[Any]], *, keys: int) -> list[Any]:
    """The rows of ``parts`` (the same columns: ``keys`` grouping columns, then values)
    added up by the grouping columns in one statement, ordered by them."""
    both = parts[0].union_all(*parts[1:]).subquery()
    cols = list(both.c)
    query = select(*cols[:keys], *(func.coalesce(func.sum(c), 0) for c in cols[keys:]))
    if keys:
        query = query.group_by(*cols[:keys]).order_by(*cols[:keys])
    return list(s.execute(query).all())


# --- the worker's pass -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollupReport:
    """One pass: the days computed, how long it took, and the start it is valid from."""

    days: int
    seconds: float
    as_of: datetime


def run_dashboard_rollup(ctx: Context) -> RollupReport:
    """Compute the totals of every day that needs it (see the module docstring); call
    it under ``exclusive(ctx.db, ROLLUP_JOB)``. Safe to repeat and to interrupt: a day's
    totals are replaced in one transaction and the pass's start is written last."""
    clock = time.perf_counter()
    as_of = ctx.now()
    with ctx.db.transaction() as s:
        days = _due_days(s, as_of)
    for a, b in _runs(days, longest=_DAYS_PER_TRANSACTION):
        with ctx.db.transaction() as s:
            _compute(s, a, b, as_of)
    seconds = time.perf_counter() - clock
    with ctx.db.transaction() as s:
        state = s.get(DashboardRollup, 1)
        if state is None:
            state = DashboardRollup(id=1)
            s.add(state)
        state.as_of, state.days, state.pass_ms = as_of, len(days), round(seconds * 1000)
    if days:
        log.info("dashboard totals: %d day(s) computed in %.1f s", len(days), seconds)
    return RollupReport(days=len(days), seconds=seconds, as_of=as_of)


def _due_days(s: Session, now: datetime) -> list[date]:
    today = now.date()
    state = s.get(DashboardRollup, 1)
    if state is None:
        oldest = as_utc(s.scalar(select(func.min(Payment.created_at))))
        first = oldest.date() if oldest is not None else today
        return [first + timedelta(n) for n in range((today - first).days)]
    since = as_utc(state.as_of) - CHANGE_WINDOW  # type: ignore[operator]
    due = {since.date() + timedelta(n) for n in range((today - since.date()).days)}
    due |= _changed_payment_days(s, since)
    due |= {
        _as_date(d)
        for d in s.scalars(select(DashboardDay.day).where(DashboardDay.receipts_waiting > 0))
    }
    return sorted(d for d in due if d < today)


def _compute(s: Session, first: date, end: date, now: datetime) -> None:
    """Replace the totals of the days ``[first, end)``, one statement per table."""
    for model in (
        DashboardPaymentDay,
        DashboardChannelDay,
        DashboardAgentDay,
        DashboardEventDay,
        DashboardReceiptDay,
        DashboardDay,
    ):
        s.execute(delete(model).where(model.day >= first, model.day < end))
    start, stop = _midnight(first), _midnight(end)
    p, e, m = Payment, PaymentEventRow, Message
    day, category = utc_day(s, p.created_at), func.coalesce(p.decline_category, "")
    ok = p.status.in_(_SUCCESSFUL)
    of_days = and_(p.created_at >= start, p.created_at < stop)
    _insert(
        s,
        DashboardPaymentDay,
        select(day, p.currency, p.status, category, func.count(), func.sum(p.amount_minor))
        .where(of_days)
        .group_by(day, p.currency, p.status, category),
    )
    _insert(
        s,
        DashboardChannelDay,
        select(day, p.currency, p.channel, func.count(), count_if(ok), sum_if(ok, p.amount_minor))
        .where(of_days)
        .group_by(day, p.currency, p.channel),
    )
    _insert(
        s,
        DashboardAgentDay,
        select(
            day, p.currency, p.created_by, func.count(), count_if(ok), sum_if(ok, p.amount_minor)
        )
        .where(of_days)
        .group_by(day, p.currency, p.created_by),
    )
    event_day = utc_day(s, e.created_at)
    _insert(
        s,
        DashboardEventDay,
        select(event_day, e.currency, e.kind, func.count(), func.sum(e.amount_minor))
        .where(e.kind.in_(EVENT_KINDS), e.created_at >= start, e.created_at < stop)
        .group_by(event_day, e.currency, e.kind),
    )
    message_day = utc_day(s, m.created_at)
    _insert(
        s,
        DashboardReceiptDay,
        select(message_day, m.channel, m.status, func.count())
        .where(m.kind == "receipt", m.created_at >= start, m.created_at < stop)
        .group_by(message_day, m.channel, m.status),
    )
    r = DashboardReceiptDay
    waiting = {
        _as_date(d): int(n)
        for d, n in s.execute(
            select(r.day, func.sum(r.messages))
            .where(r.day >= first, r.day < end, r.status.not_in(_RECEIPT_DONE))
            .group_by(r.day)
        ).all()
    }
    s.execute(
        sql_insert(DashboardDay),
        [
            {"day": d, "computed_at": now, "receipts_waiting": waiting.get(d, 0)}
            for d in (first + timedelta(n) for n in range((end - first).days))
        ],
    )


def _insert(s: Session, model: Any, rows: Select[Any]) -> None:
    columns = [c.name for c in model.__table__.columns]
    s.execute(sql_insert(model).from_select(columns, rows))
