"""Daily reconciliation (reliability rule 10, docs/architecture.md): the PSP's
transactions of a UTC day matched against our payments and refunds; every difference
becomes a case, nothing is booked.

Sequence, like charging: claim the day (a unique row, so two workers never run the same
day at once), read our rows, then fetch the PSP's rows page by page with no database
transaction open and stream them through the pure matcher
(:class:`crm_pay.domain.reconciliation.DayMatcher`), then write the report and the cases
in one short transaction. Cases are keyed by (kind, ``psp:<id>``): running a day again
opens none twice, and a case a supervisor resolved stays resolved.

Chargebacks: where the PSP offers the ``DisputeGateway`` capability, its disputes of the
day (received, or with a status change, from a day before to a day after) are matched to
our ``Dispute`` records the same way; their cases are keyed ``psp-dispute:<id>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from crm_pay.domain.errors import Conflict, CrmPayError, NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind
from crm_pay.domain.reconciliation import (
    DayMatcher,
    DayReport,
    LedgerDisputeRecord,
    LedgerRecord,
    PspDisputeRecord,
    PspRecord,
    day_bounds,
)
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Dispute, Payment, PaymentEventRow, ReconciliationRun
from crm_pay.ports import (
    DisputeGateway,
    PagedSearch,
    PspDispute,
    PspTransaction,
    SettlementSummaries,
    capability,
)

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
# Disputes are searched by date (Braintree's dispute dates have no time of day), this many
# days beyond the day on both sides; ours are read as far.
DISPUTE_MARGIN = timedelta(days=1)
# The PSP's disputes are fed to the matcher in batches of this many (one payment lookup each).
DISPUTE_BATCH = 50
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
    paged = capability(ctx.psp, PagedSearch)
    if paged is not None:
        yield from paged.iter_search(start, end)
        return
    rows = ctx.psp.search(start, end)
    yield len(rows), rows


def _dispute_records(ctx: Context, start: datetime, end: datetime) -> list[LedgerDisputeRecord]:
    """Our dispute records opened, or last moved, near ``[start, end)``."""
    low, high = start - DISPUTE_MARGIN, end + DISPUTE_MARGIN
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(Dispute).where(
                or_(
                    (Dispute.opened_at >= low) & (Dispute.opened_at < high),
                    (Dispute.status_at >= low) & (Dispute.status_at < high),
                )
            )
        ).all()
        return [
            LedgerDisputeRecord(
                row.psp_dispute_id,
                row.payment_id,
                row.kind,
                row.status,
                row.amount_minor,
                row.currency or "",
                row.booked_minor,
                as_utc(row.opened_at).date(),  # type: ignore[union-attr]
                as_utc(row.status_at).date(),  # type: ignore[union-attr]
            )
            for row in rows
        ]


def _dispute_record(dispute: PspDispute, payment_id: str) -> PspDisputeRecord:
    # The latest status change: the PSP's status history, else its last update.
    moments = [at for _, at in dispute.status_history if at is not None]
    latest = max(moments) if moments else dispute.updated_at
    return PspDisputeRecord(
        dispute.id,
        dispute.kind,
        dispute.status,
        dispute.amount.minor if dispute.amount is not None else None,
        dispute.amount.currency if dispute.amount is not None else "",
        dispute.transaction_id or "",
        payment_id,
        dispute.received_on,
        latest.date() if latest is not None else None,
    )


def _payments_of(ctx: Context, disputes: Sequence[PspDispute]) -> dict[str, str]:
    """PSP transaction id -> our payment id, for the disputed transactions of a batch."""
    ids = {d.transaction_id for d in disputes if d.transaction_id}
    if not ids:
        return {}
    with ctx.db.transaction() as s:
        found = s.execute(
            select(Payment.psp_transaction_id, Payment.id).where(
                Payment.psp_transaction_id.in_(ids)
            )
        ).all()
    return {txn: pid for txn, pid in found if txn}


def _match_disputes(ctx: Context, psp: DisputeGateway, day: date, matcher: DayMatcher) -> None:
    batch: list[PspDispute] = []

    def flush() -> None:
        payments = _payments_of(ctx, batch)
        matcher.feed_disputes(
            _dispute_record(d, payments.get(d.transaction_id or "", "")) for d in batch
        )
        batch.clear()

    for dispute in psp.iter_disputes(day - DISPUTE_MARGIN, day + DISPUTE_MARGIN):
        batch.append(dispute)
        if len(batch) >= DISPUTE_BATCH:
            flush()
    flush()
    for i, row in enumerate(list(matcher.unmatched_disputes())):
        if i >= LOOKUP_LIMIT:
            log.warning("reconciliation %s: more than %d disputes unmatched", day, LOOKUP_LIMIT)
            break
        found = psp.find_dispute(row.psp_id)
        if found is not None:
            matcher.feed_disputes([_dispute_record(found, row.payment_id)])


def _settlement_summary(ctx: Context, day: date) -> list[dict[str, Any]] | None:
    """The PSP's own totals of what it settled on ``day``, where it offers them. Shown
    beside the matching; a PSP that cannot give them leaves the summary out (None)."""
    summaries = capability(ctx.psp, SettlementSummaries)
    if summaries is None:
        return None
    try:
        lines = summaries.settlement_summary(day)
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
    disputes = capability(ctx.psp, DisputeGateway)
    # Without the PSP's disputes ours are not read: none would be reported missing.
    matcher = DayMatcher(
        day,
        _ledger_records(ctx, start, end),
        _dispute_records(ctx, start, end) if disputes is not None else (),
    )
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
    if disputes is not None:
        _match_disputes(ctx, disputes, day, matcher)
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
                    psp_disputes=0,
                    ledger_disputes=0,
                    disputes_matched=0,
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
        run.psp_disputes, run.ledger_disputes = report.psp_disputes, report.ledger_disputes
        run.disputes_matched = report.disputes_matched
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
        "psp_disputes": run.psp_disputes,
        "ledger_disputes": run.ledger_disputes,
        "disputes_matched": run.disputes_matched,
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
