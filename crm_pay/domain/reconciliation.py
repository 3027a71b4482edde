"""Daily reconciliation: the PSP's transactions of a day matched against our ledger.

Pure and single-pass, built for a million rows a day: our side is indexed once by PSP
transaction id (and sales also by payment id, for the order-id fallback), then the PSP's
rows stream through :meth:`DayMatcher.feed` without being kept. Rows are plain named
tuples, no per-row objects beyond them.

Which day a row belongs to: the UTC day of the PSP's ``created_at`` when the PSP has the
row (the PSP is the truth about money it moved), else the UTC day of ours. Callers feed
both sides with a margin around the day, so a payment created at 23:59 that the PSP
stamped 00:01 is matched by id and reported on the PSP's day only, never twice.

Chargebacks are matched beside the transactions: our dispute records against the PSP's
disputes, by the PSP's dispute id. A dispute belongs to the day the PSP received it
(Braintree's ``received_date``) and again to the day of its latest status change (a
chargeback lost weeks later is checked that day); our record, to the days we opened it and
last moved its status. What is compared is money: the disputed amount, and whether our
ledger has booked the chargeback exactly when the PSP says the money is gone.

Every difference is one :class:`Difference` (a case for a supervisor); nothing is ever
booked from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, NamedTuple

from .money import Money
from .payment import DISPUTE_MONEY_GONE

__all__ = [
    "DifferenceKind",
    "PspRecord",
    "LedgerRecord",
    "PspDisputeRecord",
    "LedgerDisputeRecord",
    "DISPUTE_MONEY_GONE",
    "Difference",
    "Total",
    "DayReport",
    "DayMatcher",
    "MONEY_MOVING",
    "NO_MONEY",
    "status_agrees",
    "chargeback_due",
    "payment_id_from_order_id",
    "day_bounds",
    "reconcile_day",
]


class DifferenceKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # the PSP has money movement we do not know
    MISSING_AT_PSP = "missing_at_psp"  # we claim a PSP transaction the PSP does not have
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"


class PspRecord(NamedTuple):
    """One PSP transaction, as compact as the matcher needs it."""

    psp_id: str
    kind: str  # "sale" | "credit"
    status: str  # crm_pay.ports.PspTxnStatus value
    amount_minor: int
    currency: str
    order_id: str  # "" when none; ours are "<payment_id>-<attempt>"
    merchant_account: str  # "" when the PSP did not say
    created_at: datetime | None  # aware UTC; None counts as "in the day searched"


class LedgerRecord(NamedTuple):
    """One PSP transaction as our ledger knows it: a payment's sale or a refund."""

    psp_id: str
    payment_id: str
    kind: str  # "sale" | "credit"
    status: str  # sale: the payment's status; credit: "refunded"
    amount_minor: int
    currency: str
    created_at: datetime  # aware UTC


class PspDisputeRecord(NamedTuple):
    """One PSP dispute (chargeback, retrieval, pre-arbitration) as the matcher needs it."""

    psp_id: str
    kind: str  # "chargeback" | "retrieval" | "pre_arbitration"
    status: str  # Braintree's words: open, under_review, disputed, won, lost, ...
    amount_minor: int | None  # the disputed amount; None when the PSP sent none
    currency: str
    transaction_id: str
    payment_id: str  # "" when the disputed transaction is not one of our payments
    received_on: date | None  # the PSP's received date; None counts as "in the day"
    changed_on: date | None  # the day of the PSP's latest status change


class LedgerDisputeRecord(NamedTuple):
    """One of our dispute records."""

    psp_id: str
    payment_id: str
    kind: str
    status: str
    amount_minor: int | None
    currency: str  # "" when unknown
    booked_minor: int  # the chargeback our ledger holds for it now (0: none)
    opened_on: date  # UTC day we first heard of it
    changed_on: date  # UTC day of the PSP time of our latest status


# Dispute statuses in which the issuer keeps the disputed amount: our ledger books the
# chargeback then, and only then (crm_pay.services.dispute_records follows this rule).

# PSP statuses in which money moved or is held on the card.
MONEY_MOVING: Final = frozenset({"authorized", "submitted_for_settlement", "settling", "settled"})
# PSP statuses of transactions that moved no money (or gave it back).
NO_MONEY: Final = frozenset(
    {"processor_declined", "gateway_rejected", "failed", "settlement_declined", "other"}
)

_CAPTURED = frozenset({"submitted_for_settlement", "settling", "settled"})
# (our kind, our status) -> the PSP statuses that agree with it. The PSP may be *ahead*
# of us in the capture lifecycle (we learn settlement by polling, there is no webhook
# for card settlement), never behind; "settling" is as good as "settled" because it is
# Braintree's transitional state before the batch closes.
_AGREES: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("sale", "authorized"): MONEY_MOVING,
    ("sale", "submitted_for_settlement"): _CAPTURED,
    ("sale", "settled"): frozenset({"settling", "settled"}),
    ("sale", "voided"): frozenset({"voided"}),
    # Held by the fraud rules: authorized at the PSP, not captured, not booked.
    ("sale", "held"): frozenset({"authorized"}),
    # An attempt that was declined (and perhaps the payment later expired or was
    # cancelled) keeps the declined transaction's id; one the fraud rules declined after
    # its authorization keeps the voided authorization's.
    ("sale", "declined"): NO_MONEY | {"voided"},
    ("sale", "failed"): NO_MONEY,
    ("sale", "expired"): NO_MONEY,
    ("sale", "cancelled"): NO_MONEY | {"voided"},
    # The capture bounced at settlement: the ledger was reversed, as the PSP says.
    ("sale", "settlement_declined"): frozenset({"settlement_declined"}),
    ("credit", "refunded"): _CAPTURED,
    # "unknown" / "processing" agree with nothing: by the time a day is reconciled the
    # janitor should have resolved them, so a leftover is worth a supervisor's look.
}
_NOTHING: Final = frozenset[str]()


def status_agrees(kind: str, ours: str, theirs: str) -> bool:
    """True if our status ``ours`` of a ``kind`` row and the PSP's ``theirs`` agree."""
    return theirs in _AGREES.get((kind, ours), _NOTHING)


def payment_id_from_order_id(order_id: str) -> str | None:
    """``"pay_abc-2"`` → ``"pay_abc"``; None for an order id that is not ours."""
    head, sep, attempt = order_id.rpartition("-")
    if not sep or not head or not attempt.isdigit():
        return None
    return head


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a UTC day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Difference:
    """One line of the report (and one case). ``ours``/``theirs`` say, in words, what
    each side holds (``"10.00 USD settled"``); None when a side has nothing."""

    kind: DifferenceKind
    psp_id: str  # a transaction id, or a dispute id when txn_kind is "dispute"
    payment_id: str | None
    txn_kind: str  # "sale" | "credit" | "dispute"
    ours: str | None
    theirs: str | None

    @property
    def case_subject(self) -> str:
        """Stable per difference, so running a day again opens no second case. Dispute
        ids live in their own namespace: one may equal a transaction id."""
        if self.txn_kind == "dispute":
            return f"psp-dispute:{self.psp_id}"
        return f"psp:{self.psp_id}"


@dataclass(frozen=True, slots=True)
class Total:
    """What matched cleanly for one currency and merchant account."""

    currency: str
    merchant_account: str
    sales_count: int
    sales_minor: int
    refunds_count: int
    refunds_minor: int

    @property
    def net_minor(self) -> int:
        return self.sales_minor - self.refunds_minor


@dataclass(frozen=True, slots=True)
class DayReport:
    day: date
    psp_rows: int  # PSP rows of the day
    ledger_rows: int  # our rows of the day (matched or not)
    matched: int  # rows of the day that agree on both sides
    no_money: int  # PSP rows of the day we do not know that moved no money (declines)
    totals: tuple[Total, ...]
    differences: tuple[Difference, ...]
    psp_disputes: int = 0  # PSP disputes of the day
    ledger_disputes: int = 0  # our dispute records of the day (matched or not)
    disputes_matched: int = 0  # disputes of the day that agree on both sides


def _words(minor: int, currency: str, status: str | None = None) -> str:
    text = f"{Money(minor, currency).to_decimal_str()} {currency}"
    return f"{text} {status}" if status else text


@dataclass(slots=True)
class DayMatcher:
    """Stateful, single-pass matcher for one day.

    Build it with our rows (the day plus a margin), :meth:`feed` it the PSP's rows (the
    day plus a margin, any number of times, duplicates ignored), ask
    :meth:`unmatched_ledger` which of our rows of the day the PSP did not send (the
    caller may look those up one by one and feed what it finds), then :meth:`finish`.
    Disputes go the same way: our records in ``disputes``, the PSP's through
    :meth:`feed_disputes`, the leftovers from :meth:`unmatched_disputes`.
    """

    day: date
    ledger: Iterable[LedgerRecord]
    disputes: Iterable[LedgerDisputeRecord] = ()
    _start: datetime = field(init=False)
    _end: datetime = field(init=False)
    _by_psp: dict[str, LedgerRecord] = field(init=False)
    _sales_by_payment: dict[str, LedgerRecord] = field(init=False)
    _seen: set[str] = field(init=False)
    _totals: dict[tuple[str, str], list[int]] = field(init=False)
    _diffs: list[Difference] = field(init=False)
    _psp_rows: int = field(init=False, default=0)
    _matched_in_day: int = field(init=False, default=0)
    _ledger_in_day_matched: int = field(init=False, default=0)
    _matched: int = field(init=False, default=0)
    _no_money: int = field(init=False, default=0)
    _our_disputes: dict[str, LedgerDisputeRecord] = field(init=False)
    _seen_disputes: set[str] = field(init=False)
    _psp_disputes: int = field(init=False, default=0)
    _ledger_disputes_matched: int = field(init=False, default=0)
    _disputes_matched: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._start, self._end = day_bounds(self.day)
        self._by_psp = {}
        self._sales_by_payment = {}
        for row in self.ledger:
            self._by_psp[row.psp_id] = row
            if row.kind == "sale":
                self._sales_by_payment[row.payment_id] = row
        self.ledger = ()  # the index holds what is needed; let the caller's list go
        self._our_disputes = {row.psp_id: row for row in self.disputes}
        self.disputes = ()
        self._seen_disputes = set()
        self._seen = set()
        self._totals = {}
        self._diffs = []

    def feed(self, rows: Iterable[PspRecord]) -> None:
        """Match PSP rows. Rows outside the day are matched (so ours are not reported
        missing) but neither counted nor reported."""
        by_psp, seen, totals, diffs = self._by_psp, self._seen, self._totals, self._diffs
        start, end = self._start, self._end
        agrees, moving = _AGREES, MONEY_MOVING
        for psp in rows:
            psp_id, kind, status, minor, currency, order_id, account, created = psp
            if psp_id in seen:
                continue  # a search page repeated while results shifted
            seen.add(psp_id)
            in_day = created is None or start <= created < end
            ours = by_psp.get(psp_id)
            if ours is None:
                if in_day:
                    self._psp_rows += 1
                    self._psp_only(psp)
                continue
            if not in_day:
                continue
            self._psp_rows += 1
            self._ledger_in_day_matched += 1
            if (
                ours[4] == minor
                and ours[5] == currency
                and ours[2] == kind
                and status in agrees.get((kind, ours[3]), _NOTHING)
            ):
                self._matched += 1
                if status in moving:
                    key = (currency, account)
                    acc = totals.get(key)
                    if acc is None:
                        acc = totals[key] = [0, 0, 0, 0]
                    if kind == "sale":
                        acc[0] += 1
                        acc[1] += minor
                    else:
                        acc[2] += 1
                        acc[3] += minor
                continue
            diffs.extend(_compare(ours, psp))

    def _psp_only(self, psp: PspRecord) -> None:
        """A PSP row of the day whose id we do not hold."""
        payment: LedgerRecord | None = None
        if psp.order_id:
            pid = payment_id_from_order_id(psp.order_id)
            if pid is not None:
                payment = self._sales_by_payment.get(pid)
        if psp.status not in MONEY_MOVING:
            # A declined earlier attempt of one of our payments, or someone else's
            # decline: no money moved, nothing to book or chase.
            self._no_money += 1
            return
        self._diffs.append(
            Difference(
                DifferenceKind.MISSING_IN_LEDGER,
                psp.psp_id,
                payment.payment_id if payment is not None else None,
                psp.kind,
                None,
                _words(psp.amount_minor, psp.currency, psp.status),
            )
        )

    def feed_disputes(self, rows: Iterable[PspDisputeRecord]) -> None:
        """Match PSP disputes, like :meth:`feed`: outside the day they are matched (so
        ours are not reported missing) but neither counted nor reported."""
        ours_by_id, seen, day = self._our_disputes, self._seen_disputes, self.day
        for psp in rows:
            if psp.psp_id in seen:
                continue
            seen.add(psp.psp_id)
            in_day = (psp.received_on is None and psp.changed_on is None) or day in (
                psp.received_on,
                psp.changed_on,
            )
            if not in_day:
                continue
            self._psp_disputes += 1
            ours = ours_by_id.get(psp.psp_id)
            if ours is None:
                self._diffs.append(
                    Difference(
                        DifferenceKind.MISSING_IN_LEDGER,
                        psp.psp_id,
                        psp.payment_id or None,
                        "dispute",
                        None,
                        _dispute_words(psp.kind, psp.status, psp.amount_minor, psp.currency),
                    )
                )
                continue
            self._ledger_disputes_matched += 1
            found = _compare_dispute(ours, psp)
            if found:
                self._diffs.extend(found)
            else:
                self._disputes_matched += 1

    def unmatched_disputes(self) -> Iterator[LedgerDisputeRecord]:
        """Our dispute records of the day that no PSP dispute has matched (yet)."""
        day, seen = self.day, self._seen_disputes
        for row in self._our_disputes.values():
            if row.psp_id not in seen and day in (row.opened_on, row.changed_on):
                yield row

    def unmatched_ledger(self) -> Iterator[LedgerRecord]:
        """Our rows of the day that no PSP row has matched (yet)."""
        start, end, seen = self._start, self._end, self._seen
        for row in self._by_psp.values():
            if row.psp_id not in seen and start <= row.created_at < end:
                yield row

    def finish(self) -> DayReport:
        """The day's report; our rows of the day still unmatched are ``missing_at_psp``."""
        missing = [
            Difference(
                DifferenceKind.MISSING_AT_PSP,
                row.psp_id,
                row.payment_id,
                row.kind,
                _words(row.amount_minor, row.currency, row.status),
                None,
            )
            for row in self.unmatched_ledger()
        ]
        missing_disputes = [
            Difference(
                DifferenceKind.MISSING_AT_PSP,
                row.psp_id,
                row.payment_id,
                "dispute",
                _dispute_words(row.kind, row.status, row.amount_minor, row.currency),
                None,
            )
            for row in self.unmatched_disputes()
        ]
        totals = tuple(
            Total(currency, account, *acc)
            for (currency, account), acc in sorted(self._totals.items())
        )
        return DayReport(
            day=self.day,
            psp_rows=self._psp_rows,
            ledger_rows=self._ledger_in_day_matched + len(missing),
            matched=self._matched,
            no_money=self._no_money,
            totals=totals,
            differences=tuple(self._diffs + missing + missing_disputes),
            psp_disputes=self._psp_disputes,
            ledger_disputes=self._ledger_disputes_matched + len(missing_disputes),
            disputes_matched=self._disputes_matched,
        )


def _compare(ours: LedgerRecord, psp: PspRecord) -> list[Difference]:
    """The differences of one matched pair (a currency mismatch hides the amount one:
    amounts in two currencies cannot be compared)."""
    found: list[Difference] = []

    def add(kind: DifferenceKind, mine: str, theirs: str) -> None:
        found.append(Difference(kind, psp.psp_id, ours.payment_id, ours.kind, mine, theirs))

    if ours.currency != psp.currency:
        add(
            DifferenceKind.CURRENCY_MISMATCH,
            _words(ours.amount_minor, ours.currency),
            _words(psp.amount_minor, psp.currency),
        )
    elif ours.amount_minor != psp.amount_minor:
        add(
            DifferenceKind.AMOUNT_MISMATCH,
            _words(ours.amount_minor, ours.currency),
            _words(psp.amount_minor, psp.currency),
        )
    if ours.kind != psp.kind or not status_agrees(ours.kind, ours.status, psp.status):
        add(
            DifferenceKind.STATUS_MISMATCH,
            f"{ours.kind} {ours.status}",
            f"{psp.kind} {psp.status}",
        )
    return found


def _dispute_words(kind: str, status: str, minor: int | None, currency: str) -> str:
    amount = _words(minor, currency) if minor is not None and currency else "no amount"
    return f"{amount} {kind} {status}"


def chargeback_due(kind: str, status: str) -> bool:
    """True if a dispute of ``kind`` in the PSP's ``status`` has taken the money: our
    ledger must then hold its chargeback (a retrieval only asks, it takes nothing)."""
    return status in DISPUTE_MONEY_GONE and kind != "retrieval"


def _compare_dispute(ours: LedgerDisputeRecord, psp: PspDisputeRecord) -> list[Difference]:
    """The differences of one matched dispute: its amount, then whether our chargeback
    booking agrees with the PSP's status (statuses that move no money, such as open and
    under review, are the dispute case's business, not the reconciliation's)."""
    found: list[Difference] = []

    def add(kind: DifferenceKind, mine: str, theirs: str) -> None:
        found.append(Difference(kind, psp.psp_id, ours.payment_id, "dispute", mine, theirs))

    theirs_words = _dispute_words(psp.kind, psp.status, psp.amount_minor, psp.currency)
    if ours.currency and psp.currency and ours.currency != psp.currency:
        add(DifferenceKind.CURRENCY_MISMATCH, ours.currency, psp.currency)
    elif psp.amount_minor is not None and ours.amount_minor != psp.amount_minor:
        mine = _words(ours.amount_minor, ours.currency) if ours.amount_minor is not None else "-"
        add(DifferenceKind.AMOUNT_MISMATCH, mine, _words(psp.amount_minor, psp.currency))
    booked = ours.booked_minor
    booked_words = f"{ours.kind} {ours.status}, " + (
        f"{_words(booked, ours.currency)} charged back" if booked else "no chargeback booked"
    )
    due = chargeback_due(psp.kind, psp.status)
    if due != (booked != 0):
        add(DifferenceKind.STATUS_MISMATCH, booked_words, theirs_words)
    elif due and psp.amount_minor is not None and booked != psp.amount_minor and not found:
        add(DifferenceKind.AMOUNT_MISMATCH, booked_words, theirs_words)
    return found


def reconcile_day(day: date, ledger: Iterable[LedgerRecord], psp: Iterable[PspRecord]) -> DayReport:
    """One call: match ``psp`` against ``ledger`` for ``day``."""
    matcher = DayMatcher(day, ledger)
    matcher.feed(psp)
    return matcher.finish()
