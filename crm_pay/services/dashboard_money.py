"""The dashboard's payment and money figures: the period (date range and currency),
the shared shape of a panel, and the panels read from payments.
:mod:`crm_pay.services.dashboard_events` adds the refund and chargeback rates,
:mod:`crm_pay.services.dashboard` the operations panels (receipts, cases, reminders,
CSAT) and is what entry points call.

Every panel here is one SQL aggregate over one currency (``Period.currency``): amounts
are never summed across currencies. docs/guides/dashboard.md defines each figure. Each
adds, in the same statement, the worker's daily totals of the whole past days that are
clean and the live rows of the rest of the range (:mod:`crm_pay.services.dashboard_rollup`
says which is which, and why the sum is exact).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_pay.domain.declines import advice_for
from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.domain.payment import SUCCESSFUL
from crm_pay.persistence.models import (
    DashboardAgentDay,
    DashboardChannelDay,
    DashboardPaymentDay,
    Payment,
)

from .dashboard_rollup import (
    Split,
    combined,
    count_if,
    is_postgres,
    split_period,
    sum_if,
    utc_day,
)

__all__ = [
    "MAX_DAYS",
    "MONEY_PANELS",
    "Period",
    "PanelFigures",
    "agent_label",
    "amount_text",
    "count_if",
    "in_range",
    "is_postgres",
    "make_panel",
    "parse_period",
    "rate",
    "sum_if",
]

#: The longest range one request may ask for (a year and a day, for leap years).
MAX_DAYS = 366
_DEFAULT_DAYS = 30

_SUCCESSFUL = sorted(str(s) for s in SUCCESSFUL)
_DECLINED = ["declined", "failed"]

# The statuses a payment can be in, grouped the way the outcomes panel shows them.
_OUTCOME_GROUPS = (
    ("succeeded", _SUCCESSFUL),
    ("declined", ["declined"]),
    ("failed", ["failed"]),
    ("in doubt", ["processing", "unknown"]),
    ("waiting for the customer", ["created", "awaiting_customer"]),
    ("cancelled or expired", ["cancelled", "expired"]),
    ("voided", ["voided"]),
    ("settlement declined", ["settlement_declined"]),
)


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC, and the currency of every amount."""

    start: datetime
    end: datetime
    currency: str

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


def parse_period(
    start: str | None, end: str | None, currency: str | None, *, today: date, default_currency: str
) -> Period:
    """The period of the dashboard's ``start``/``end`` (``YYYY-MM-DD``, both days
    included; by default the last 30 days up to ``today``) and ``currency``.

    Raises :class:`ValidationError` saying what to type for a malformed day, an end
    before the start, a range longer than :data:`MAX_DAYS` or an unknown currency."""
    last = _day(end, "end", default=today)
    first = _day(start, "start", default=last - timedelta(days=_DEFAULT_DAYS - 1))
    if last < first:
        raise ValidationError(
            f"the range ends ({last.isoformat()}) before it starts ({first.isoformat()}); "
            "pick an end day on or after the start day"
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError(f"pick a range of at most {MAX_DAYS} days")
    code = normalize_currency(currency.strip() if currency else default_currency)
    return Period(
        start=datetime.combine(first, time(), UTC),
        end=datetime.combine(last + timedelta(days=1), time(), UTC),
        currency=code,
    )


def _day(text: str | None, which: str, *, default: date) -> date:
    if text is None or not text.strip():
        return default
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"the {which} day is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31"
        ) from None


# --- helpers -------------------------------------------------------------------------


def rate(part: int | float | None, whole: int | float | None) -> float | None:
    """``part / whole`` as a percentage with one decimal; None when ``whole`` is 0."""
    if not whole:
        return None
    return round(100.0 * float(part or 0) / float(whole), 1)


def amount_text(minor: Any, currency: str) -> str:
    return Money(int(minor or 0), currency).to_decimal_str()


def in_range(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _payments_split(s: Session, period: Period) -> Split:
    return split_period(s, period.start, period.end, "payments")


def make_panel(
    name: str,
    title: str,
    columns: list[str],
    rows: Iterable[list[Any]],
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "columns": columns,
        "rows": [list(r) for r in rows],
        "summary": summary or {},
    }


# --- panels --------------------------------------------------------------------------


def _currencies(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    split, t = _payments_split(s, p), DashboardChannelDay
    rows = combined(
        s,
        [
            select(t.currency, func.sum(t.payments))
            .where(split.in_totals(t.day))
            .group_by(t.currency),
            select(Payment.currency, func.count())
            .where(split.in_live(Payment.created_at))
            .group_by(Payment.currency),
        ],
        keys=1,
    )
    return make_panel(
        "currencies",
        "Payments by currency",
        ["currency", "payments"],
        ([c, int(n)] for c, n in rows),
        {"currencies": [c for c, _ in rows]},
    )


def _by_status(
    s: Session, p: Period, totals_key: Any, live_key: Any, *, declined: bool = False
) -> list[Any]:
    """Payments of ``p`` (in its currency) by status or decline reason, from the daily
    totals and the live rows: (key, payments, amount)."""
    split, t = _payments_split(s, p), DashboardPaymentDay
    totals = select(totals_key, func.sum(t.payments), func.sum(t.amount_minor)).where(
        t.currency == p.currency, split.in_totals(t.day)
    )
    live = select(live_key, func.count(), func.sum(Payment.amount_minor)).where(
        Payment.currency == p.currency, split.in_live(Payment.created_at)
    )
    if declined:
        totals = totals.where(t.status.in_(_DECLINED))
        live = live.where(Payment.status.in_(_DECLINED))
    return combined(s, [totals.group_by(totals_key), live.group_by(live_key)], keys=1)


def _by_channel(s: Session, p: Period, totals_key: Any, live_key: Any) -> list[Any]:
    """Payments of ``p`` (in its currency) by channel or day, from the daily totals and
    the live rows: (key, payments, succeeded, succeeded amount)."""
    split, t = _payments_split(s, p), DashboardChannelDay
    ok = Payment.status.in_(_SUCCESSFUL)
    totals = select(
        totals_key, func.sum(t.payments), func.sum(t.succeeded), func.sum(t.succeeded_minor)
    ).where(t.currency == p.currency, split.in_totals(t.day))
    live = select(live_key, func.count(), count_if(ok), sum_if(ok, Payment.amount_minor)).where(
        Payment.currency == p.currency, split.in_live(Payment.created_at)
    )
    return combined(s, [totals.group_by(totals_key), live.group_by(live_key)], keys=1)


def _outcomes(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    found = {
        status: (int(n), int(v))
        for status, n, v in _by_status(s, p, DashboardPaymentDay.status, Payment.status)
    }
    rows = []
    for label, statuses in _OUTCOME_GROUPS:
        n = sum(found.get(st, (0, 0))[0] for st in statuses)
        v = sum(found.get(st, (0, 0))[1] for st in statuses)
        rows.append([label, n, amount_text(v, p.currency)])
    succeeded, declined, failed = rows[0][1], rows[1][1], rows[2][1]
    return make_panel(
        "outcomes",
        "Payment outcomes",
        ["outcome", "payments", f"amount ({p.currency})"],
        rows,
        {
            "payments": sum(n for n, _ in found.values()),
            "succeeded": succeeded,
            "declined_or_failed": declined + failed,
            "success_rate": rate(succeeded, succeeded + declined + failed),
            "succeeded_amount": rows[0][2],
        },
    )


def _declines(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    by_category: dict[str, int] = {}
    live_key = func.coalesce(Payment.decline_category, "")  # the totals keep "" for none
    for category, n, _ in _by_status(
        s, p, DashboardPaymentDay.decline_category, live_key, declined=True
    ):
        advice = advice_for(category or "", code="unknown")
        by_category[advice.category] = by_category.get(advice.category, 0) + int(n)
    total = sum(by_category.values())
    rows = [
        [category, advice_for(category, code="unknown").message, n, rate(n, total)]
        for category, n in sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return make_panel(
        "declines",
        "Declines by reason",
        ["reason", "in words", "payments", "share %"],
        rows,
        {"declined_or_failed": total},
    )


def _channels(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    found = _by_channel(s, p, DashboardChannelDay.channel, Payment.channel)
    rows = sorted(
        ((str(k), int(n), int(sn), int(sv)) for k, n, sn, sv in found),
        key=lambda r: (-r[3], r[0]),
    )
    return make_panel(
        "channels",
        "Volume and value by channel",
        ["channel", "payments", "succeeded", f"value ({p.currency})"],
        ([k, n, sn, amount_text(sv, p.currency)] for k, n, sn, sv in rows),
    )


def agent_label(created_by: str) -> str:
    """``"user:7:ana@example.com"`` -> ``"ana@example.com"``; ``"api:3:crm"`` ->
    ``"crm (API key)"``: who took the payment, as the console shows them."""
    kind, _, rest = created_by.partition(":")
    name = rest.partition(":")[2] or rest
    if not name:
        return created_by
    if kind == "user":
        return name
    return f"{name} (API key)" if kind.startswith("api") else f"{name} ({kind})"


def _agents(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    split, t = _payments_split(s, p), DashboardAgentDay
    ok = Payment.status.in_(_SUCCESSFUL)
    found = combined(
        s,
        [
            select(
                t.created_by,
                func.sum(t.payments),
                func.sum(t.succeeded),
                func.sum(t.succeeded_minor),
            )
            .where(t.currency == p.currency, split.in_totals(t.day))
            .group_by(t.created_by),
            select(Payment.created_by, func.count(), count_if(ok), sum_if(ok, Payment.amount_minor))
            .where(Payment.currency == p.currency, split.in_live(Payment.created_at))
            .group_by(Payment.created_by),
        ],
        keys=1,
    )
    rows = sorted(
        ((str(k), int(n), int(sn), int(sv)) for k, n, sn, sv in found), key=lambda r: (-r[3], r[0])
    )
    return make_panel(
        "agents",
        "Volume and value by agent",
        ["agent", "payments", "succeeded", f"value ({p.currency})", "success %"],
        (
            [agent_label(k), n, sn, amount_text(sv, p.currency), rate(sn, n)]
            for k, n, sn, sv in rows
        ),
    )


def _daily(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    day = utc_day(s, Payment.created_at)
    found = {
        str(d): (int(n), int(sn), int(sv))
        for d, n, sn, sv in _by_channel(s, p, DashboardChannelDay.day, day)
    }
    rows = []
    d = p.first_day
    while d <= p.last_day:
        n, sn, sv = found.get(d.isoformat(), (0, 0, 0))
        rows.append([d.isoformat(), n, sn, amount_text(sv, p.currency)])
        d += timedelta(days=1)
    return make_panel(
        "daily",
        "Payments by day",
        ["day", "payments", "succeeded", f"value ({p.currency})"],
        rows,
    )


#: A panel: computed in a session, for a period, at a time (``now``).
PanelFigures = Callable[[Session, Period, datetime], dict[str, Any]]
#: The money panels by name.
MONEY_PANELS: dict[str, PanelFigures] = {
    "outcomes": _outcomes,
    "declines": _declines,
    "daily": _daily,
    "channels": _channels,
    "agents": _agents,
    "currencies": _currencies,
}
