"""Daily reconciliation (DESIGN.md rule 10): the PSP's transactions of a UTC day matched
against our payments and refunds; every difference becomes a case, nothing is booked.

Sequence, like charging: claim the day (a unique row, so two workers never run the same
day at once), read our rows, then fetch the PSP's rows page by page with no database
transaction open and stream them through the pure matcher
(:class:`crm_pay.domain.reconciliation.DayMatcher`), then write the report and the cases
in one short transaction. Cases are keyed by (kind, ``psp:<id>``): running a day again
opens none twice, and a case a supervisor resolved stays resolved.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_pay.domain.errors import Conflict, CrmPayError, NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind
from crm_pay.domain.reconciliation import (
    DayMatcher,
    DayReport,
    LedgerRecord,
    PspRecord,
    day_bounds,
)
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Payment, PaymentEventRow, ReconciliationRun
from crm_pay.ports import PagedSearch, PspTransaction, SettlementSummaries

from .cases import open_case
from .context import Context

__all__ = [
    "Progress",
    "parse_day",
    "day_range",
    "reconcile",
    "reconciliation_view",
    "recent_reconciliations",
    "run_due_reconciliation",
    "PSP_MARGIN",
    "RUN_DELAY",
    "MAX_DAYS",
]

log = logging.getLogger("crm_pay.reconciliation")

#: ``progress(done, total)`` after each page of PSP rows.
Progress = Callable[[int, int], None]

# The PSP is searched this far beyond the day on both sides, so a sale stamped a few
# minutes apart by us and by the PSP around midnight is matched by id, not reported.
PSP_MARGIN = timedelta(minutes=30)
# Our payments are read from a day earlier: a payment is created when the link is sent
# and charged when the customer pays (link TTL, retries after a decline).
LEDGER_MARGIN = timedelta(days=1)
# Our rows of the day the search did not bring are looked up one by one (the PSP may
# have stamped them outside the margin); beyond this many, they are reported as they are.
LOOKUP_LIMIT = 1000
# A "running" claim older than this is from a process that died: it may be taken over.
STALE_RUN = timedelta(hours=1)
# The worker reconciles a day once it is this long over (late PSP stamps have landed).
RUN_DELAY = timedelta(hours=1)
MAX_DAYS = 31

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> date:
    """``"2026-01-31"`` → a date; anything else is a ``ValidationError`` (code
    ``invalid_date``) that says how to write it."""
    value = text.strip() if isinstance(text, str) else ""
    try:
        if not _DAY.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{value[:20]!r} is not a day; write it as YYYY-MM-DD (UTC), e.g. 2026-01-31",
            code="invalid_date",
        ) from None
    return day


def day_range(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive (at most :data:`MAX_DAYS`)."""
    if last < first:
        raise ValidationError(
            f"the range ends ({last.isoformat()}) before it starts ({first.isoformat()})",
            code="invalid_date",
        )
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValidationError(
            f"reconcile at most {MAX_DAYS} days at once (asked for {count})",
            code="invalid_date",
        )
    return [first + timedelta(days=i) for i in range(count)]


# ------------------------------------------------------------------ reading both sides
def _ledger_records(ctx: Context, start: datetime, end: datetime) -> list[LedgerRecord]:
    """Our payments' sales and our refunds that could belong to ``[start, end)``."""
    with ctx.db.transaction() as s:
        sales = s.execute(
            select(
                Payment.psp_transaction_id,
                Payment.id,
                Payment.status,
                Payment.amount_minor,
                Payment.currency,
                Payment.created_at,
            ).where(
                Payment.psp_transaction_id.is_not(None),
                Payment.created_at >= start - LEDGER_MARGIN,
                Payment.created_at < end + PSP_MARGIN,
            )
        ).all()
        refunds = s.execute(
            select(
                PaymentEventRow.psp_reference,
                PaymentEventRow.payment_id,
                PaymentEventRow.amount_minor,
                PaymentEventRow.currency,
                PaymentEventRow.created_at,
            ).where(
                PaymentEventRow.kind == EventKind.REFUND_SUCCEEDED.value,
                PaymentEventRow.psp_reference.is_not(None),
                PaymentEventRow.created_at >= start - PSP_MARGIN,
                PaymentEventRow.created_at < end + PSP_MARGIN,
            )
        ).all()
    rows = [
        LedgerRecord(psp, pid, "sale", status, minor, cur, as_utc(at))  # type: ignore[arg-type]
        for psp, pid, status, minor, cur, at in sales
    ]
    rows.extend(
        LedgerRecord(ref, pid, "credit", "refunded", minor, cur, as_utc(at))  # type: ignore[arg-type]
        for ref, pid, minor, cur, at in refunds
    )
    return rows


def _record(txn: PspTransaction) -> PspRecord:
    return PspRecord(
        txn.id,
        txn.kind,
        txn.status.value,
        txn.amount.minor,
        txn.amount.currency,
        txn.order_id or "",
        txn.merchant_account_id or "",
        txn.created_at,
    )


def _psp_pages(
    ctx: Context, start: datetime, end: datetime
) -> Iterator[tuple[int, Sequence[PspTransaction]]]:
    """The PSP's rows in pages; adapters without paging give one page."""
    if isinstance(ctx.psp, PagedSearch):
        yield from ctx.psp.iter_search(start, end)
        return
    rows = ctx.psp.search(start, end)
    yield len(rows), rows


def _settlement_summary(ctx: Context, day: date) -> list[dict[str, Any]] | None:
    """The PSP's own totals of what it settled on ``day``, where it offers them. Shown
    beside the matching; a PSP that cannot give them leaves the summary out (None)."""
    if not isinstance(ctx.psp, SettlementSummaries):
        return None
    try:
        lines = ctx.psp.settlement_summary(day)
    except CrmPayError as exc:
        log.warning("reconciliation %s: no settlement summary (%s)", day, exc.message)
        return None
    return [
        {
            "merchant_account": line.merchant_account_id,
            "card_type": line.card_type,
            "kind": line.kind,
            "count": line.count,
            "amount": line.amount.to_decimal_str(),
            "currency": line.amount.currency,
        }
        for line in lines
    ]


def _match(ctx: Context, day: date, progress: Progress | None) -> DayReport:
    start, end = day_bounds(day)
    matcher = DayMatcher(day, _ledger_records(ctx, start, end))
    done = 0
    for total, page in _psp_pages(ctx, start - PSP_MARGIN, end + PSP_MARGIN):
        matcher.feed(_record(txn) for txn in page)
        done += len(page)
        if progress is not None:
            progress(done, total)
    for i, row in enumerate(list(matcher.unmatched_ledger())):
        if i >= LOOKUP_LIMIT:
            log.warning("reconciliation %s: more than %d rows unmatched", day, LOOKUP_LIMIT)
            break
        found = ctx.psp.find(row.psp_id)
        if found is not None:
            matcher.feed([_record(found)])
    return matcher.finish()


# ------------------------------------------------------------------ running a day
def _claim(ctx: Context, day: date, actor: str) -> None:
    now = ctx.now()
    try:
        with ctx.db.transaction() as s:
            run = s.scalars(
                select(ReconciliationRun).where(ReconciliationRun.day == day).with_for_update()
            ).first()
            if run is None:
                run = ReconciliationRun(
                    day=day,
                    status="running",
                    started_at=now,
                    finished_at=None,
                    psp_rows=0,
                    ledger_rows=0,
                    matched=0,
                    no_money=0,
                    cases_opened=0,
                    totals=[],
                    differences=[],
                    settlement_summary=None,
                    runs=0,
                    triggered_by=actor,
                    error=None,
                )
                s.add(run)
            elif run.status == "running" and as_utc(run.started_at) > now - STALE_RUN:  # type: ignore[operator]
                raise Conflict(
                    f"a reconciliation of {day.isoformat()} is running since "
                    f"{as_utc(run.started_at).isoformat()}; wait for it to finish",  # type: ignore[union-attr]
                    code="reconciliation_running",
                )
            else:
                run.status, run.started_at, run.triggered_by = "running", now, actor
    except IntegrityError:
        # Another process inserted the claim between our read and our insert.
        raise Conflict(
            f"a reconciliation of {day.isoformat()} has just started elsewhere",
            code="reconciliation_running",
        ) from None


def _fail(ctx: Context, day: date, message: str) -> None:
    with ctx.db.transaction() as s:
        run = s.scalars(select(ReconciliationRun).where(ReconciliationRun.day == day)).first()
        if run is not None:
            run.status, run.error, run.finished_at = "failed", message[:2000], ctx.now()


def _save(ctx: Context, report: DayReport, summary: list[dict[str, Any]] | None) -> None:
    with ctx.db.transaction() as s:
        opened = 0
        lines: list[dict[str, Any]] = []
        for diff in report.differences:
            case = open_case(
                s,
                ctx,
                kind=diff.kind.value,
                subject=diff.case_subject,
                payment_id=diff.payment_id,
                detail={
                    "day": report.day.isoformat(),
                    "psp_id": diff.psp_id,
                    "txn_kind": diff.txn_kind,
                    "ours": diff.ours,
                    "theirs": diff.theirs,
                },
            )
            if case in s.new:
                opened += 1
                s.flush()
            lines.append(
                {
                    "kind": diff.kind.value,
                    "psp_id": diff.psp_id,
                    "payment_id": diff.payment_id,
                    "txn_kind": diff.txn_kind,
                    "ours": diff.ours,
                    "theirs": diff.theirs,
                    "case_id": case.id,
                }
            )
        run = s.scalars(select(ReconciliationRun).where(ReconciliationRun.day == report.day)).one()
        run.status, run.finished_at, run.error = "completed", ctx.now(), None
        run.psp_rows, run.ledger_rows = report.psp_rows, report.ledger_rows
        run.matched, run.no_money, run.cases_opened = report.matched, report.no_money, opened
        run.runs += 1
        run.totals = [
            {
                "currency": t.currency,
                "merchant_account": t.merchant_account,
                "sales_count": t.sales_count,
                "sales_minor": t.sales_minor,
                "refunds_count": t.refunds_count,
                "refunds_minor": t.refunds_minor,
            }
            for t in report.totals
        ]
        run.differences = lines
        run.settlement_summary = summary
    if opened:
        log.warning("reconciliation %s: %d case(s) opened", report.day, opened)


def reconcile(
    ctx: Context, day: date, *, actor: str = "system", progress: Progress | None = None
) -> dict[str, Any]:
    """Reconcile one UTC day and return its report (see :func:`reconciliation_view`).

    Raises ``ValidationError`` for a day that has not begun, ``Conflict`` while another
    run of the day is in progress, ``PspUnavailable`` when the PSP cannot be searched
    (the run is then recorded as failed and nothing is reported missing).
    """
    if day > ctx.now().date():
        raise ValidationError(
            f"{day.isoformat()} has not begun yet (UTC); reconcile a past day or today",
            code="invalid_date",
        )
    _claim(ctx, day, actor)
    try:
        report = _match(ctx, day, progress)
    except CrmPayError as exc:
        _fail(ctx, day, exc.message)
        raise
    except Exception as exc:
        _fail(ctx, day, f"unexpected {type(exc).__name__}")
        raise
    _save(ctx, report, _settlement_summary(ctx, day))
    return reconciliation_view(ctx, day)


# ------------------------------------------------------------------ reading reports
def _money(minor: int, currency: str) -> str:
    return Money(minor, currency).to_decimal_str()


def _view(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "date": run.day.isoformat(),
        "status": run.status,
        "started_at": as_utc(run.started_at).isoformat(),  # type: ignore[union-attr]
        "finished_at": run.finished_at and as_utc(run.finished_at).isoformat(),  # type: ignore[union-attr]
        "runs": run.runs,
        "triggered_by": run.triggered_by,
        "error": run.error,
        "psp_rows": run.psp_rows,
        "ledger_rows": run.ledger_rows,
        "matched": run.matched,
        "no_money": run.no_money,
        "cases_opened": run.cases_opened,
        "totals": [
            {
                "currency": t["currency"],
                "merchant_account": t["merchant_account"],
                "sales_count": t["sales_count"],
                "sales": _money(t["sales_minor"], t["currency"]),
                "refunds_count": t["refunds_count"],
                "refunds": _money(t["refunds_minor"], t["currency"]),
                "net": _money(t["sales_minor"] - t["refunds_minor"], t["currency"]),
            }
            for t in run.totals
        ],
        "differences": list(run.differences),
        "settlement_summary": run.settlement_summary,
    }


def reconciliation_view(ctx: Context, day: date) -> dict[str, Any]:
    """The stored report of ``day``; ``NotFound`` when the day was never reconciled."""
    with ctx.db.transaction() as s:
        run = s.scalars(select(ReconciliationRun).where(ReconciliationRun.day == day)).first()
        if run is None:
            raise NotFound(
                f"{day.isoformat()} has not been reconciled yet; run "
                f"`crm-pay reconcile --date {day.isoformat()}` or POST to this URL",
                code="not_reconciled",
            )
        return _view(run)


def recent_reconciliations(ctx: Context, *, limit: int = 14) -> list[dict[str, Any]]:
    """The latest reports, newest day first."""
    with ctx.db.transaction() as s:
        runs = s.scalars(
            select(ReconciliationRun).order_by(ReconciliationRun.day.desc()).limit(limit)
        ).all()
        return [_view(r) for r in runs]


def run_due_reconciliation(ctx: Context) -> dict[str, Any] | None:
    """The worker's daily job: reconcile yesterday once (idempotent: a day with a
    completed or fresh running run is left alone; a failed one is tried again)."""
    day = (ctx.now() - RUN_DELAY).date() - timedelta(days=1)
    with ctx.db.transaction() as s:
        run = s.scalars(select(ReconciliationRun).where(ReconciliationRun.day == day)).first()
        if run is not None and run.status == "completed":
            return None
    try:
        return reconcile(ctx, day, actor="worker")
    except Conflict:
        return None  # another worker has it
