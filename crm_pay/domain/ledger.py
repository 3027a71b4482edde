"""The customer ledger: invoice charges, payments, refunds, chargebacks, adjustments, credit.

Public API (what the services layer codes against)::

    EntryKind, InvoiceStatus                        # StrEnums
    invoice_status(total: Money, paid: Money) -> InvoiceStatus
    OpenInvoice(ref, total, paid, due_on)           # .outstanding
    Allocation(invoice_ref, amount)
    AllocationPlan(allocations, credit)             # .allocated, .amount
    plan_allocation(amount, invoices, requested=None) -> AllocationPlan
    LedgerEntry(kind, amount, invoice_ref=None, payment_ref=None, memo="", due_on=None)

    Ledger(currency, entries=())
        .currency -> str
        .entries -> tuple[LedgerEntry, ...]
        .append(entry) -> None
        .balance() -> Money
        .charge_invoice(ref, total, due_on, *, memo="") -> LedgerEntry
        .record_payment(payment_ref, plan, *, memo="") -> list[LedgerEntry]
        .apply_credit(invoice_ref, amount=None, *, memo="") -> list[LedgerEntry]
        .record_refund(payment_ref, amount, *, memo="") -> list[LedgerEntry]
        .record_chargeback(payment_ref, amount, *, memo="") -> list[LedgerEntry]
        .record_adjustment(amount, memo, *, invoice_ref=None) -> LedgerEntry
        .paid_on(invoice_ref) -> Money
        .invoice_total(invoice_ref) -> Money
        .invoice_status(invoice_ref) -> InvoiceStatus
        .credit() -> Money
        .captured(payment_ref) -> Money
        .refundable(payment_ref) -> Money
        .open_invoices() -> list[OpenInvoice]

Sign convention: a positive amount means the customer owes more (invoice charge, refund
paid back to the card, chargeback, fee); a negative amount means the customer owes less
(payment, goodwill adjustment). The balance is the plain sum of the entries.

Every payment's money is placed on *targets*: an invoice (``invoice_ref``) or the
customer's credit (``invoice_ref=None``). Each entry that moves a payment's money names
the payment (``payment_ref``) and the target, so the ledger can always say where a
payment went, and a refund or chargeback can take it back from exactly there: first from
what is still credit, then from the invoices it paid, latest first. The refunded part of
an invoice is owed again (its status goes back to partially paid or open).

Idempotency: recording the same fact twice (same invoice charge, same payment with the
same allocation) returns the entries already recorded and appends nothing; a different
fact under the same reference raises ``Conflict``. Refunds and chargebacks have no
reference of their own here: the caller deduplicates them on the PSP's id.

Memos are free text stored as given: callers pass them through the PAN redactor first.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import Conflict, NotFound, ValidationError
from .money import Money, normalize_currency

__all__ = [
    "EntryKind",
    "InvoiceStatus",
    "invoice_status",
    "OpenInvoice",
    "Allocation",
    "AllocationPlan",
    "plan_allocation",
    "LedgerEntry",
    "Ledger",
]


class EntryKind(StrEnum):
    INVOICE_CHARGE = "invoice_charge"
    PAYMENT = "payment"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    # The PSP's settlement batch declined a captured payment: taken back like a refund.
    SETTLEMENT_REVERSAL = "settlement_reversal"
    # A dispute won after its chargeback was booked: the money comes back to the payment
    # (negative: the customer owes less again). Never more than was charged back.
    CHARGEBACK_REVERSAL = "chargeback_reversal"
    ADJUSTMENT = "adjustment"
    # Customer credit used to pay an invoice. Always a pair under one payment_ref:
    # +amount on the credit (invoice_ref=None) and -amount on the invoice; net zero.
    CREDIT_APPLIED = "credit_applied"


# Entries that take a payment's money back from where it sits (the customer owes it again).
_TAKE_BACK = frozenset({EntryKind.REFUND, EntryKind.CHARGEBACK, EntryKind.SETTLEMENT_REVERSAL})


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERPAID = "overpaid"


def invoice_status(total: Money, paid: Money) -> InvoiceStatus:
    """Status of an invoice of ``total`` of which ``paid`` has been paid.

    An invoice with nothing to pay (total zero, e.g. written off) counts as paid.
    """
    if total.minor < 0 or paid.minor < 0:
        raise ValidationError("an invoice total and the amount paid on it cannot be negative")
    if paid > total:
        return InvoiceStatus.OVERPAID
    if paid == total:
        return InvoiceStatus.PAID
    if paid.is_zero():
        return InvoiceStatus.OPEN
    return InvoiceStatus.PARTIALLY_PAID


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An invoice as the allocation sees it: what it was for, what is paid, when it is due."""

    ref: str
    total: Money
    paid: Money
    due_on: datetime.date

    def __post_init__(self) -> None:
        if self.total.currency != self.paid.currency:
            raise ValidationError(
                f"invoice {self.ref}: total is in {self.total.currency} "
                f"but paid is in {self.paid.currency}"
            )

    @property
    def outstanding(self) -> Money:
        """What is still to pay; never below zero (an overpaid invoice owes nothing)."""
        left = self.total - self.paid
        return left if left.is_positive() else Money.zero(self.total.currency)


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_ref: str
    amount: Money


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    """How one payment is split: amounts to invoices, the rest kept as customer credit."""

    allocations: tuple[Allocation, ...]
    credit: Money

    @property
    def allocated(self) -> Money:
        total = Money.zero(self.credit.currency)
        for allocation in self.allocations:
            total += allocation.amount
        return total

    @property
    def amount(self) -> Money:
        """The whole payment: allocated plus credit."""
        return self.allocated + self.credit


def plan_allocation(
    amount: Money,
    invoices: Sequence[OpenInvoice],
    requested: Mapping[str, Money] | None = None,
) -> AllocationPlan:
    """Split a payment of ``amount`` over ``invoices``; what is left becomes credit.

    With ``requested`` (the agent's choice, invoice ref → amount) exactly those amounts are
    allocated. Without it the oldest due invoice is paid first (ties in ref order), each up
    to what it still owes. The allocations plus the credit always add up to ``amount``.
    """
    if not amount.is_positive():
        raise ValidationError(f"a payment must be more than zero, not {amount}")
    by_ref: dict[str, OpenInvoice] = {}
    for invoice in invoices:
        if invoice.total.currency != amount.currency:
            raise ValidationError(
                f"invoice {invoice.ref} is in {invoice.total.currency}; "
                f"a payment in {amount.currency} cannot pay it"
            )
        if invoice.ref in by_ref:
            raise ValidationError(f"invoice {invoice.ref} is listed twice")
        by_ref[invoice.ref] = invoice

    allocations: list[Allocation] = []
    remaining = amount
    if requested is not None:
        for ref, wanted in requested.items():
            target = by_ref.get(ref)
            if target is None:
                raise ValidationError(f"invoice {ref} is not one of this customer's open invoices")
            if wanted.currency != amount.currency:
                raise ValidationError(
                    f"the amount for invoice {ref} is in {wanted.currency}, "
                    f"the payment is in {amount.currency}"
                )
            if not wanted.is_positive():
                raise ValidationError(f"the amount for invoice {ref} must be more than zero")
            if wanted > target.outstanding:
                raise ValidationError(
                    f"invoice {ref} has {target.outstanding} outstanding; "
                    f"allocate at most that, not {wanted}"
                )
            if wanted > remaining:
                raise ValidationError(
                    f"the amounts for the invoices add up to more than the payment of {amount}"
                )
            allocations.append(Allocation(ref, wanted))
            remaining -= wanted
    else:
        for invoice in sorted(by_ref.values(), key=lambda inv: (inv.due_on, inv.ref)):
            if remaining.is_zero():
                break
            share = min(invoice.outstanding, remaining)
            if share.is_positive():
                allocations.append(Allocation(invoice.ref, share))
                remaining -= share
    return AllocationPlan(tuple(allocations), remaining)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of a customer's ledger. Entries are never edited or deleted.

    ``due_on`` is set on invoice charges only (it orders the oldest-due-first allocation).
    """

    kind: EntryKind
    amount: Money
    invoice_ref: str | None = None
    payment_ref: str | None = None
    memo: str = ""
    due_on: datetime.date | None = None

    def __post_init__(self) -> None:
        kind = EntryKind(self.kind)
        object.__setattr__(self, "kind", kind)
        sign = self.amount.minor
        if kind is EntryKind.INVOICE_CHARGE:
            if not self.invoice_ref or self.due_on is None or self.payment_ref is not None:
                raise ValidationError("an invoice charge needs an invoice ref and a due date only")
            if sign < 0:
                raise ValidationError("an invoice charge cannot be negative")
        elif kind is EntryKind.ADJUSTMENT:
            if sign == 0:
                raise ValidationError("an adjustment of zero changes nothing")
            if self.payment_ref is not None:
                raise ValidationError("an adjustment belongs to the account or an invoice")
        else:
            if not self.payment_ref:
                raise ValidationError(f"a {kind.value} entry needs the payment ref")
            if kind is EntryKind.PAYMENT and sign >= 0:
                raise ValidationError("a payment entry is negative (the customer owes less)")
            if kind is EntryKind.CHARGEBACK_REVERSAL and sign >= 0:
                raise ValidationError(
                    "a chargeback reversal is negative (the customer owes less again)"
                )
            if kind in _TAKE_BACK and sign <= 0:
                raise ValidationError(f"a {kind.value} entry is positive (the customer owes more)")
            if kind is EntryKind.CREDIT_APPLIED and (
                sign == 0 or (sign > 0) != (self.invoice_ref is None)
            ):
                raise ValidationError(
                    "credit applied is +amount off the credit and -amount on the invoice"
                )
        if self.due_on is not None and kind is not EntryKind.INVOICE_CHARGE:
            raise ValidationError("only an invoice charge has a due date")


# A payment's money sits on invoice refs, or on the customer's credit (None).
_Target = str | None


@dataclass(slots=True)
class _Invoice:
    total: int
    due_on: datetime.date


@dataclass(slots=True)
class _Book:
    """Everything derived from the entries, in minor units; rebuilt by replaying them."""

    invoices: dict[str, _Invoice] = field(default_factory=dict)
    # payment ref → target → money of that payment sitting there now (never negative).
    placed: dict[str, dict[_Target, int]] = field(default_factory=dict)
    captured: dict[str, int] = field(default_factory=dict)
    reversed: dict[str, int] = field(default_factory=dict)
    charged_back: dict[str, int] = field(default_factory=dict)

    def copy(self) -> _Book:
        return _Book(
            invoices={ref: _Invoice(i.total, i.due_on) for ref, i in self.invoices.items()},
            placed={ref: dict(targets) for ref, targets in self.placed.items()},
            captured=dict(self.captured),
            reversed=dict(self.reversed),
            charged_back=dict(self.charged_back),
        )

    def paid_on(self, invoice_ref: str) -> int:
        return sum(targets.get(invoice_ref, 0) for targets in self.placed.values())

    def credit(self) -> int:
        return sum(targets.get(None, 0) for targets in self.placed.values())

    def apply(self, entry: LedgerEntry) -> None:
        kind, minor, ref = entry.kind, entry.amount.minor, entry.invoice_ref
        if ref is not None and kind is not EntryKind.INVOICE_CHARGE and ref not in self.invoices:
            raise NotFound(f"invoice {ref} has not been charged to this account")
        if kind is EntryKind.INVOICE_CHARGE:
            assert ref is not None and entry.due_on is not None  # checked by LedgerEntry
            if ref in self.invoices:
                raise Conflict(f"invoice {ref} is already charged to this account")
            self.invoices[ref] = _Invoice(minor, entry.due_on)
            return
        if kind is EntryKind.ADJUSTMENT:
            if ref is not None:
                invoice = self.invoices[ref]
                if invoice.total + minor < 0:
                    raise ValidationError(f"an adjustment cannot take invoice {ref} below zero")
                invoice.total += minor
            return
        assert entry.payment_ref is not None  # checked by LedgerEntry
        pref = entry.payment_ref
        targets = self.placed.setdefault(pref, {})
        if kind is EntryKind.PAYMENT:
            self.captured[pref] = self.captured.get(pref, 0) - minor
        elif pref not in self.captured:
            raise NotFound(f"payment {pref} is not recorded on this account")
        if kind in _TAKE_BACK or kind is EntryKind.CHARGEBACK_REVERSAL:
            self.reversed[pref] = self.reversed.get(pref, 0) + minor
        if kind in (EntryKind.CHARGEBACK, EntryKind.CHARGEBACK_REVERSAL):
            now_charged = self.charged_back.get(pref, 0) + minor
            if now_charged < 0:
                raise ValidationError(
                    f"payment {pref} has {self.charged_back.get(pref, 0)} charged back; "
                    "a reversal cannot give back more"
                )
            self.charged_back[pref] = now_charged
        # Payment money moves onto a target with a negative amount, off it with a positive one.
        now = targets.get(ref, 0) - minor
        if now < 0:
            where = f"invoice {ref}" if ref is not None else "the customer's credit"
            raise ValidationError(f"payment {pref} does not have that much on {where}")
        targets[ref] = now
        if ref is not None and minor < 0:
            invoice = self.invoices[ref]
            if self.paid_on(ref) > invoice.total:
                raise ValidationError(f"this would pay more than invoice {ref} asks for")

    def check_balanced(self) -> None:
        for pref, targets in self.placed.items():
            if sum(targets.values()) != self.captured[pref] - self.reversed.get(pref, 0):
                raise ValidationError(
                    f"the entries for payment {pref} do not add up; "
                    "credit applied must come as a balanced pair"
                )


class Ledger:
    """The append-only ledger of one customer account in one currency (in memory).

    Every entry goes through the same checks, whether appended one by one, recorded by a
    method below, or replayed from storage through the constructor: an entry that would
    make money appear or disappear is refused and the ledger is left unchanged.
    """

    __slots__ = ("_currency", "_entries", "_book")

    def __init__(self, currency: str, entries: Iterable[LedgerEntry] = ()) -> None:
        self._currency = normalize_currency(currency)
        self._entries: list[LedgerEntry] = []
        self._book = _Book()
        self._commit(list(entries))

    @property
    def currency(self) -> str:
        return self._currency

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(self._entries)

    def append(self, entry: LedgerEntry) -> None:
        """Append one entry after checking it against the ledger (currency, references,
        amounts available). There is no way to edit or delete an entry."""
        self._commit([entry])

    def _commit(self, batch: list[LedgerEntry]) -> None:
        # All or nothing: the batch is checked on a copy, so a refused entry leaves no trace.
        book = self._book.copy()
        for entry in batch:
            if entry.amount.currency != self._currency:
                raise ValidationError(
                    f"this ledger is in {self._currency}; an entry in "
                    f"{entry.amount.currency} cannot be added"
                )
            book.apply(entry)
        book.check_balanced()
        self._book = book
        self._entries.extend(batch)

    def _money(self, minor: int) -> Money:
        return Money(minor, self._currency)

    def _invoice(self, ref: str) -> _Invoice:
        try:
            return self._book.invoices[ref]
        except KeyError:
            raise NotFound(f"invoice {ref} has not been charged to this account") from None

    def balance(self) -> Money:
        """What the customer owes (negative: what the merchant owes the customer)."""
        return self._money(sum(entry.amount.minor for entry in self._entries))

    def charge_invoice(
        self, ref: str, total: Money, due_on: datetime.date, *, memo: str = ""
    ) -> LedgerEntry:
        """Charge invoice ``ref``. Charging the same invoice again with the same total and
        due date returns the first entry; with a different one it raises ``Conflict``."""
        entry = LedgerEntry(
            EntryKind.INVOICE_CHARGE, total, invoice_ref=ref, memo=memo, due_on=due_on
        )
        for existing in self._entries:
            if existing.kind is EntryKind.INVOICE_CHARGE and existing.invoice_ref == ref:
                if (existing.amount, existing.due_on) == (total, due_on):
                    return existing
                raise Conflict(
                    f"invoice {ref} is already charged as {existing.amount} due "
                    f"{existing.due_on}; correct it with an adjustment"
                )
        self.append(entry)
        return entry

    def record_payment(
        self, payment_ref: str, plan: AllocationPlan, *, memo: str = ""
    ) -> list[LedgerEntry]:
        """Record a successful payment split as ``plan``: one PAYMENT entry per allocation
        and one for the credit (``invoice_ref=None``) if there is any.

        Recording the same payment with the same plan again returns the first entries; with
        a different plan it raises ``Conflict``.
        """
        new = [
            LedgerEntry(EntryKind.PAYMENT, -a.amount, a.invoice_ref, payment_ref, memo)
            for a in plan.allocations
        ]
        if plan.credit.is_positive():
            new.append(LedgerEntry(EntryKind.PAYMENT, -plan.credit, None, payment_ref, memo))
        elif plan.credit.minor < 0:
            raise ValidationError("an allocation plan cannot have negative credit")
        if not new:
            raise ValidationError("a payment must be more than zero")
        if payment_ref in self._book.captured:
            existing = [
                e
                for e in self._entries
                if e.kind is EntryKind.PAYMENT and e.payment_ref == payment_ref
            ]
            if [(e.amount, e.invoice_ref) for e in existing] == [
                (e.amount, e.invoice_ref) for e in new
            ]:
                return existing
            raise Conflict(f"payment {payment_ref} is already recorded with another allocation")
        self._commit(new)
        return new

    def apply_credit(
        self, invoice_ref: str, amount: Money | None = None, *, memo: str = ""
    ) -> list[LedgerEntry]:
        """Use the customer's credit to pay invoice ``invoice_ref``: ``amount``, or as much
        as both the credit and the invoice allow. Oldest credit is used first."""
        outstanding = self.invoice_total(invoice_ref) - self.paid_on(invoice_ref)
        credit = self.credit()
        if amount is None:
            amount = min(credit, outstanding)
            if not amount.is_positive():
                return []
        elif not amount.is_positive():
            raise ValidationError("credit to apply must be more than zero")
        if amount > credit:
            raise ValidationError(f"the customer has {credit} credit; apply at most that")
        if amount > outstanding:
            raise ValidationError(
                f"invoice {invoice_ref} has {max(outstanding, self._money(0))} outstanding; "
                "apply at most that"
            )
        new: list[LedgerEntry] = []
        left = amount.minor
        for pref, targets in self._book.placed.items():
            share = min(left, targets.get(None, 0))
            if share:
                used = self._money(share)
                kind = EntryKind.CREDIT_APPLIED
                new.append(LedgerEntry(kind, used, None, pref, memo))
                new.append(LedgerEntry(kind, -used, invoice_ref, pref, memo))
                left -= share
            if not left:
                break
        self._commit(new)
        return new

    def _take_back(
        self, kind: EntryKind, payment_ref: str, amount: Money, memo: str
    ) -> list[LedgerEntry]:
        if payment_ref not in self._book.captured:
            raise NotFound(f"payment {payment_ref} is not recorded on this account")
        if not amount.is_positive():
            raise ValidationError(f"a {kind.value} must be more than zero")
        available = self.refundable(payment_ref)
        if amount > available:
            raise ValidationError(
                f"payment {payment_ref} has {available} left that can be taken back; "
                f"a {kind.value} of {amount} is too much"
            )
        targets = self._book.placed[payment_ref]
        # Credit first (nobody has used it yet), then the invoices, latest allocated first.
        order: list[_Target] = [None, *[t for t in reversed(targets) if t is not None]]
        new: list[LedgerEntry] = []
        left = amount.minor
        for target in order:
            share = min(left, targets.get(target, 0))
            if share:
                new.append(LedgerEntry(kind, self._money(share), target, payment_ref, memo))
                left -= share
        self._commit(new)
        return new

    def record_refund(
        self, payment_ref: str, amount: Money, *, memo: str = ""
    ) -> list[LedgerEntry]:
        """Record money paid back to the customer's card: the customer owes it again.

        Returns one REFUND entry per target it is taken back from (credit first, then the
        invoices the payment paid, latest first). At most ``refundable(payment_ref)``.
        """
        return self._take_back(EntryKind.REFUND, payment_ref, amount, memo)

    def record_chargeback(
        self, payment_ref: str, amount: Money, *, memo: str = ""
    ) -> list[LedgerEntry]:
        """Record a lost dispute: the card issuer took ``amount`` of the payment back.
        Taken back like a refund; the customer owes it again."""
        return self._take_back(EntryKind.CHARGEBACK, payment_ref, amount, memo)

    def record_chargeback_reversal(
        self, payment_ref: str, amount: Money, *, memo: str = ""
    ) -> list[LedgerEntry]:
        """Record a dispute won after its chargeback was booked: ``amount`` comes back to
        the payment, onto the invoices the chargebacks reopened while they still owe it
        (latest chargeback first), the rest as the customer's credit. At most what was
        charged back."""
        if not amount.is_positive():
            raise ValidationError("a chargeback reversal must be more than zero")
        charged = self.charged_back(payment_ref)
        if amount > charged:
            raise ValidationError(
                f"payment {payment_ref} has {charged} charged back; a reversal of {amount} "
                "is too much"
            )
        left = amount.minor
        room: dict[str, int] = {}
        new: list[LedgerEntry] = []
        for entry in reversed(self._entries):
            ref = entry.invoice_ref
            if left == 0:
                break
            if entry.kind is not EntryKind.CHARGEBACK or entry.payment_ref != payment_ref:
                continue
            if ref is None:
                continue
            if ref not in room:
                room[ref] = self._book.invoices[ref].total - self._book.paid_on(ref)
            share = min(left, entry.amount.minor, room[ref])
            if share > 0:
                new.append(
                    LedgerEntry(
                        EntryKind.CHARGEBACK_REVERSAL, self._money(-share), ref, payment_ref, memo
                    )
                )
                room[ref] -= share
                left -= share
        if left:
            new.append(
                LedgerEntry(
                    EntryKind.CHARGEBACK_REVERSAL, self._money(-left), None, payment_ref, memo
                )
            )
        self._commit(new)
        return new

    def charged_back(self, payment_ref: str) -> Money:
        """What of payment ``payment_ref`` is charged back now (chargebacks less reversals)."""
        return self._money(self._book.charged_back.get(payment_ref, 0))

    def record_settlement_reversal(self, payment_ref: str, *, memo: str = "") -> list[LedgerEntry]:
        """Record that the PSP's settlement declined payment ``payment_ref``: all of it
        that is still held (not refunded or charged back) is taken back, so the balance
        is as if the payment had never been made. Nothing left: no entries."""
        left = self.refundable(payment_ref)
        if not left.is_positive():
            return []
        return self._take_back(EntryKind.SETTLEMENT_REVERSAL, payment_ref, left, memo)

    def record_adjustment(
        self, amount: Money, memo: str, *, invoice_ref: str | None = None
    ) -> LedgerEntry:
        """Adjust the account (a fee: positive; goodwill: negative), or an invoice's total
        when ``invoice_ref`` is given. The memo says why and is required."""
        if not memo.strip():
            raise ValidationError("say why in the memo: an adjustment without a reason is not kept")
        entry = LedgerEntry(EntryKind.ADJUSTMENT, amount, invoice_ref=invoice_ref, memo=memo)
        self.append(entry)
        return entry

    def paid_on(self, invoice_ref: str) -> Money:
        """How much of the customer's payments (and credit) sits on this invoice now."""
        self._invoice(invoice_ref)
        return self._money(self._book.paid_on(invoice_ref))

    def invoice_total(self, invoice_ref: str) -> Money:
        """The invoice's charge plus its adjustments."""
        return self._money(self._invoice(invoice_ref).total)

    def invoice_status(self, invoice_ref: str) -> InvoiceStatus:
        return invoice_status(self.invoice_total(invoice_ref), self.paid_on(invoice_ref))

    def credit(self) -> Money:
        """Payment money not (or no longer) allocated to an invoice; never negative."""
        return self._money(self._book.credit())

    def captured(self, payment_ref: str) -> Money:
        """What payment ``payment_ref`` took from the customer."""
        if payment_ref not in self._book.captured:
            raise NotFound(f"payment {payment_ref} is not recorded on this account")
        return self._money(self._book.captured[payment_ref])

    def refundable(self, payment_ref: str) -> Money:
        """What of payment ``payment_ref`` has not been refunded or charged back yet."""
        taken_back = self._book.reversed.get(payment_ref, 0)
        return self.captured(payment_ref) - self._money(taken_back)

    def open_invoices(self) -> list[OpenInvoice]:
        """Invoices with something left to pay, oldest due first (ties in ref order)."""
        result = [
            OpenInvoice(
                ref, self._money(inv.total), self._money(self._book.paid_on(ref)), inv.due_on
            )
            for ref, inv in self._book.invoices.items()
        ]
        result = [inv for inv in result if inv.outstanding.is_positive()]
        result.sort(key=lambda inv: (inv.due_on, inv.ref))
        return result
