"""The dashboard's refund and chargeback rates: sales, refunds and voids from the payment
events (the worker's daily totals for clean whole past days, the live events for the
rest, summed in one statement: :mod:`crm_pay.services.dashboard_rollup`), chargebacks
from the disputes (few: always read live). One currency per panel (``Period.currency``);
docs/guides/dashboard.md defines each figure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_pay.domain.payment import EventKind
from crm_pay.persistence.models import DashboardEventDay, Dispute, Payment, PaymentEventRow

from .dashboard_money import PanelFigures, Period, amount_text, in_range, make_panel, rate
from .dashboard_rollup import EVENT_KINDS, combined, split_period

__all__ = ["EVENT_PANELS"]

_REFUNDS = [str(EventKind.REFUND_SUCCEEDED), str(EventKind.VOID_SUCCEEDED)]
_SALE = str(EventKind.SALE_SUCCEEDED)


def _events(s: Session, p: Period) -> dict[str, tuple[int, int]]:
    """Sales, refunds and voids of ``p`` in its currency: kind -> (count, amount)."""
    split = split_period(s, p.start, p.end, "events")
    t, e = DashboardEventDay, PaymentEventRow
    rows = combined(
        s,
        [
            select(t.kind, func.sum(t.events), func.sum(t.amount_minor))
            .where(t.currency == p.currency, split.in_totals(t.day))
            .group_by(t.kind),
            select(e.kind, func.count(), func.sum(e.amount_minor))
            .where(e.kind.in_(EVENT_KINDS), e.currency == p.currency, split.in_live(e.created_at))
            .group_by(e.kind),
        ],
        keys=1,
    )
    return {str(kind): (int(n), int(v)) for kind, n, v in rows}


def _refunds(s: Session, p: Period, now: datetime) -> dict[str, Any]:
    events = _events(s, p)
    n_sales, v_sales = events.get(_SALE, (0, 0))
    n_ref = sum(events.get(k, (0, 0))[0] for k in _REFUNDS)
    v_ref = sum(events.get(k, (0, 0))[1] for k in _REFUNDS)
    rows = [
        ["sales captured", n_sales, amount_text(v_sales, p.currency)],
        ["refunds and voids", n_ref, amount_text(v_ref, p.currency)],
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
    n_sales, v_sales = _events(s, p).get(_SALE, (0, 0))
    rows = s.execute(  # chargebacks are few: always read live
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
        ([st, int(n), amount_text(v, p.currency)] for st, n, v in rows),
        {
            "chargebacks": n_disputes,
            "sales_captured": n_sales,
            "chargeback_rate": rate(n_disputes, n_sales),
            "chargeback_value_rate": rate(v_disputes, v_sales),
        },
    )


#: The event panels by name.
EVENT_PANELS: dict[str, PanelFigures] = {"refunds": _refunds, "chargebacks": _chargebacks}
