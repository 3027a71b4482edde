"""The dashboard's payment and money figures: the period (date range and currency),
the shared shape of a panel, and the panels read from payments, payment events and
disputes. :mod:`crm_pay.services.dashboard` adds the operations panels (receipts, cases,
reminders, CSAT) and is what entry points call.

Every panel here is one SQL aggregate over one currency (``Period.currency``): amounts
are never summed across currencies. docs/guides/dashboard.md defines each figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_pay.domain.declines import advice_for
from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.domain.payment import SUCCESSFUL, EventKind
from crm_pay.persistence.models import Dispute, Payment, PaymentEventRow

__all__ = [
    "MAX_DAYS",
    "MONEY_PANELS",
    "Period",
    "PanelFigures",
    "agent_label",
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
_REFUNDS = [str(EventKind.REFUND_SUCCEEDED), str(EventKind.VOID_SUCCEEDED)]
_SALE = str(EventKind.SALE_SUCCEEDED)

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


def _amount(minor: Any, currency: str) -> str:
    return Money(int(minor or 0), currency).to_decimal_str()


def in_range(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _payments_in(period: Period) -> ColumnElement[bool]:
    return and_(Payment.currency == period.currency, in_range(Payment.created_at, period))


def count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sum_if(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


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


def is_postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


# --- panels --------------------------------------------------------------------------


def _currencies(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    rows = s.execute(
        select(Payment.currency, func.count())
        .where(in_range(Payment.created_at, p))
        .group_by(Payment.currency)
        .order_by(Payment.currency)
    ).all()
    return make_panel(
        "currencies",
        "Payments by currency",
        ["currency", "payments"],
        ([c, int(n)] for c, n in rows),
        {"currencies": [c for c, _ in rows]},
    )


def _outcomes(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    found = {
        status: (int(n), int(v or 0))
        for status, n, v in s.execute(
            select(Payment.status, func.count(), func.sum(Payment.amount_minor))
            .where(_payments_in(p))
            .group_by(Payment.status)
        ).all()
    }
    rows = []
    for label, statuses in _OUTCOME_GROUPS:
        n = sum(found.get(st, (0, 0))[0] for st in statuses)
        v = sum(found.get(st, (0, 0))[1] for st in statuses)
        rows.append([label, n, _amount(v, p.currency)])
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
    for category, n in s.execute(
        select(Payment.decline_category, func.count())
        .where(_payments_in(p), Payment.status.in_(_DECLINED))
        .group_by(Payment.decline_category)
    ).all():
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


def _grouped_volume(s: Session, p: Period, column: Any) -> list[tuple[str, int, int, int]]:
    ok = Payment.status.in_(_SUCCESSFUL)
    rows = s.execute(
        select(column, func.count(), count_if(ok), sum_if(ok, Payment.amount_minor))
        .where(_payments_in(p))
        .group_by(column)
    ).all()
    return [(str(k), int(n), int(sn), int(sv)) for k, n, sn, sv in rows]


def _channels(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    rows = sorted(_grouped_volume(s, p, Payment.channel), key=lambda r: (-r[3], r[0]))
    return make_panel(
        "channels",
        "Volume and value by channel",
        ["channel", "payments", "succeeded", f"value ({p.currency})"],
        ([k, n, sn, _amount(sv, p.currency)] for k, n, sn, sv in rows),
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
    rows = sorted(_grouped_volume(s, p, Payment.created_by), key=lambda r: (-r[3], r[0]))
    return make_panel(
        "agents",
        "Volume and value by agent",
        ["agent", "payments", "succeeded", f"value ({p.currency})", "success %"],
        ([agent_label(k), n, sn, _amount(sv, p.currency), rate(sn, n)] for k, n, sn, sv in rows),
    )


def _daily(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    ok = Payment.status.in_(_SUCCESSFUL)
    day = _utc_day(s, Payment.created_at)
    found = {
        str(d): (int(n), int(sn), int(sv))
        for d, n, sn, sv in s.execute(
            select(day, func.count(), count_if(ok), sum_if(ok, Payment.amount_minor))
            .where(_payments_in(p))
            .group_by(day)
        ).all()
    }
    rows = []
    d = p.first_day
    while d <= p.last_day:
        n, sn, sv = found.get(d.isoformat(), (0, 0, 0))
        rows.append([d.isoformat(), n, sn, _amount(sv, p.currency)])
        d += timedelta(days=1)
    return make_panel(
        "daily",
        "Payments by day",
        ["day", "payments", "succeeded", f"value ({p.currency})"],
        rows,
    )


def _utc_day(s: Session, column: Any) -> Any:
    """The UTC calendar day of a stored time (a date on PostgreSQL, ``YYYY-MM-DD`` text
    on SQLite; ``str()`` of either is the ISO day)."""
    if is_postgres(s):
        return cast(func.timezone("UTC", column), Date)  # cheaper per row than to_char
    return func.substr(column, 1, 10)  # SQLite keeps UTC times as ISO text


def _refunds(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    e = PaymentEventRow
    sale, refund = e.kind == _SALE, e.kind.in_(_REFUNDS)
    n_sales, v_sales, n_ref, v_ref = s.execute(
        select(
            count_if(sale),
            sum_if(sale, e.amount_minor),
            count_if(refund),
            sum_if(refund, e.amount_minor),
        ).where(
            e.kind.in_([_SALE, *_REFUNDS]),
            e.currency == p.currency,
            in_range(e.created_at, p),
        )
    ).one()
    rows = [
        ["sales captured", int(n_sales), _amount(v_sales, p.currency)],
        ["refunds and voids", int(n_ref), _amount(v_ref, p.currency)],
    ]
    return make_panel(
        "refunds",
        "Refund rate",
        ["what", "count", f"amount ({p.currency})"],
        rows,
        {
            "refund_rate": rate(n_ref, n_sales),
            "refund_value_rate": rate(v_ref, v_sales),
        },
    )


def _chargebacks(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    e = PaymentEventRow
    n_sales, v_sales = s.execute(
        select(func.count(), func.coalesce(func.sum(e.amount_minor), 0)).where(
            e.kind == _SALE, e.currency == p.currency, in_range(e.created_at, p)
        )
    ).one()
    rows = s.execute(
        select(Dispute.status, func.count(), func.sum(func.coalesce(Dispute.amount_minor, 0)))
        .join(Payment, Payment.id == Dispute.payment_id)
        .where(
            Dispute.kind == "chargeback",
            Payment.currency == p.currency,
            in_range(Dispute.opened_at, p),
        )
        .group_by(Dispute.status)
        .order_by(Dispute.status)
    ).all()
    n_disputes = sum(int(n) for _, n, _ in rows)
    v_disputes = sum(int(v or 0) for _, _, v in rows)
    return make_panel(
        "chargebacks",
        "Chargeback rate",
        ["dispute status", "chargebacks", f"disputed ({p.currency})"],
        ([st, int(n), _amount(v, p.currency)] for st, n, v in rows),
        {
            "chargebacks": n_disputes,
            "sales_captured": int(n_sales),
            "chargeback_rate": rate(n_disputes, n_sales),
            "chargeback_value_rate": rate(v_disputes, v_sales),
        },
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
    "refunds": _refunds,
    "chargebacks": _chargebacks,
    "currencies": _currencies,
}
