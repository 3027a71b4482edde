"""The ledger and payment allocation, as an agent and a customer would see them."""

from __future__ import annotations

from datetime import date

import pytest

from crm_pay.domain import (
    Allocation,
    AllocationPlan,
    Conflict,
    EntryKind,
    InvoiceStatus,
    Ledger,
    LedgerEntry,
    Money,
    NotFound,
    OpenInvoice,
    ValidationError,
    invoice_status,
    plan_allocation,
)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


JAN, FEB, MAR = date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)


def invoices() -> list[OpenInvoice]:
    return [
        OpenInvoice("INV-3", usd("30.00"), usd("0"), MAR),
        OpenInvoice("INV-1", usd("100.00"), usd("40.00"), JAN),
        OpenInvoice("INV-2", usd("50.00"), usd("0"), FEB),
    ]


def allocations(plan: AllocationPlan) -> dict[str, str]:
    return {a.invoice_ref: a.amount.to_decimal_str() for a in plan.allocations}


# --- invoice status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "paid", "status"),
    [
        ("100.00", "0", InvoiceStatus.OPEN),
        ("100.00", "0.01", InvoiceStatus.PARTIALLY_PAID),
        ("100.00", "99.99", InvoiceStatus.PARTIALLY_PAID),
        ("100.00", "100.00", InvoiceStatus.PAID),
        ("100.00", "100.01", InvoiceStatus.OVERPAID),
        ("0", "0", InvoiceStatus.PAID),  # nothing to pay, e.g. written off
    ],
)
def test_invoice_status(total: str, paid: str, status: InvoiceStatus) -> None:
    assert invoice_status(usd(total), usd(paid)) is status


def test_invoice_status_refuses_negative_amounts() -> None:
    with pytest.raises(ValidationError):
        invoice_status(usd("10.00"), -usd("1.00"))


def test_outstanding_never_below_zero() -> None:
    assert OpenInvoice("A", usd("10.00"), usd("4.00"), JAN).outstanding == usd("6.00")
    assert OpenInvoice("A", usd("10.00"), usd("12.00"), JAN).outstanding == usd("0")


# --- allocation: oldest due first ----------------------------------------------------


def test_oldest_due_invoice_is_paid_first() -> None:
    plan = plan_allocation(usd("80.00"), invoices())
    assert allocations(plan) == {"INV-1": "60.00", "INV-2": "20.00"}
    assert plan.credit.is_zero()
    assert plan.amount == usd("80.00")


def test_same_due_date_goes_in_ref_order() -> None:
    same_day = [
        OpenInvoice("B", usd("10.00"), usd("0"), JAN),
        OpenInvoice("A", usd("10.00"), usd("0"), JAN),
    ]
    plan = plan_allocation(usd("15.00"), same_day)
    assert [a.invoice_ref for a in plan.allocations] == ["A", "B"]
    assert allocations(plan) == {"A": "10.00", "B": "5.00"}


def test_overpayment_becomes_credit() -> None:
    plan = plan_allocation(usd("200.00"), invoices())
    assert allocations(plan) == {"INV-1": "60.00", "INV-2": "50.00", "INV-3": "30.00"}
    assert plan.credit == usd("60.00")
    assert plan.allocated + plan.credit == usd("200.00")


def test_no_invoices_everything_is_credit() -> None:
    plan = plan_allocation(usd("5.00"), [])
    assert plan.allocations == () and plan.credit == usd("5.00")


def test_paid_invoices_get_no_zero_allocation() -> None:
    paid = [OpenInvoice("P", usd("10.00"), usd("10.00"), JAN), *invoices()]
    plan = plan_allocation(usd("10.00"), paid)
    assert allocations(plan) == {"INV-1": "10.00"}
    assert all(a.amount.is_positive() for a in plan.allocations)


# --- allocation: agent's choice ------------------------------------------------------


def test_agent_choice_is_followed_and_the_rest_is_credit() -> None:
    plan = plan_allocation(
        usd("50.00"), invoices(), requested={"INV-3": usd("30.00"), "INV-2": usd("15.00")}
    )
    assert plan.allocations == (
        Allocation("INV-3", usd("30.00")),
        Allocation("INV-2", usd("15.00")),
    )
    assert plan.credit == usd("5.00")


def test_agent_may_choose_to_keep_it_all_as_credit() -> None:
    plan = plan_allocation(usd("50.00"), invoices(), requested={})
    assert plan.allocations == () and plan.credit == usd("50.00")


def test_agent_cannot_allocate_more_than_an_invoice_owes() -> None:
    with pytest.raises(ValidationError, match=r"INV-1 has 60.00 USD outstanding; allocate at most"):
        plan_allocation(usd("100.00"), invoices(), requested={"INV-1": usd("60.01")})


def test_agent_cannot_allocate_more_than_the_payment() -> None:
    with pytest.raises(ValidationError, match="more than the payment"):
        plan_allocation(
            usd("50.00"), invoices(), requested={"INV-1": usd("40.00"), "INV-2": usd("10.01")}
        )


def test_agent_cannot_allocate_to_an_unknown_invoice() -> None:
    with pytest.raises(ValidationError, match="INV-9"):
        plan_allocation(usd("10.00"), invoices(), requested={"INV-9": usd("10.00")})


@pytest.mark.parametrize("minor", [0, -100])
def test_agent_amounts_must_be_positive(minor: int) -> None:
    with pytest.raises(ValidationError, match="more than zero"):
        plan_allocation(usd("10.00"), invoices(), requested={"INV-1": Money(minor, "USD")})


@pytest.mark.parametrize("amount", [Money(0, "USD"), Money(-100, "USD")])
def test_payment_must_be_positive(amount: Money) -> None:
    with pytest.raises(ValidationError, match="more than zero"):
        plan_allocation(amount, invoices())


def test_currencies_must_match() -> None:
    with pytest.raises(ValidationError, match="EUR"):
        plan_allocation(Money(1000, "EUR"), invoices())
    with pytest.raises(ValidationError, match="EUR"):
        plan_allocation(usd("10.00"), invoices(), requested={"INV-1": Money(100, "EUR")})


def test_duplicate_invoices_are_refused() -> None:
    with pytest.raises(ValidationError, match="twice"):
        plan_allocation(usd("10.00"), [*invoices(), invoices()[0]])


# --- the ledger ----------------------------------------------------------------------


def ledger_with_invoices() -> Ledger:
    ledger = Ledger("USD")
    ledger.charge_invoice("INV-1", usd("100.00"), JAN)
    ledger.charge_invoice("INV-2", usd("50.00"), FEB)
    return ledger


def pay(
    ledger: Ledger, ref: str, amount: str, requested: dict[str, str] | None = None
) -> list[LedgerEntry]:
    wanted = None if requested is None else {k: usd(v) for k, v in requested.items()}
    plan = plan_allocation(usd(amount), ledger.open_invoices(), wanted)
    return ledger.record_payment(ref, plan)


def test_new_ledger_is_empty() -> None:
    ledger = Ledger("usd")
    assert ledger.currency == "USD"
    assert ledger.balance() == usd("0") and ledger.credit() == usd("0")
    assert ledger.entries == () and ledger.open_invoices() == []


def test_invoices_raise_the_balance_and_are_open() -> None:
    ledger = ledger_with_invoices()
    assert ledger.balance() == usd("150.00")
    assert ledger.invoice_status("INV-1") is InvoiceStatus.OPEN
    assert [i.ref for i in ledger.open_invoices()] == ["INV-1", "INV-2"]


def test_partial_payment() -> None:
    ledger = ledger_with_invoices()
    entries = pay(ledger, "p1", "30.00")
    assert entries == [LedgerEntry(EntryKind.PAYMENT, -usd("30.00"), "INV-1", "p1")]
    assert ledger.balance() == usd("120.00")
    assert ledger.paid_on("INV-1") == usd("30.00")
    assert ledger.invoice_status("INV-1") is InvoiceStatus.PARTIALLY_PAID
    assert ledger.invoice_status("INV-2") is InvoiceStatus.OPEN
    assert ledger.open_invoices()[0].outstanding == usd("70.00")


def test_overpayment_pays_everything_and_keeps_the_rest_as_credit() -> None:
    ledger = ledger_with_invoices()
    entries = pay(ledger, "p1", "175.00")
    assert [(e.invoice_ref, e.amount) for e in entries] == [
        ("INV-1", -usd("100.00")),
        ("INV-2", -usd("50.00")),
        (None, -usd("25.00")),
    ]
    assert ledger.balance() == -usd("25.00")
    assert ledger.credit() == usd("25.00")
    assert ledger.invoice_status("INV-1") is InvoiceStatus.PAID
    assert ledger.invoice_status("INV-2") is InvoiceStatus.PAID
    assert ledger.open_invoices() == []


def test_agent_choice_on_the_ledger() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "50.00", {"INV-2": "50.00"})
    assert ledger.invoice_status("INV-2") is InvoiceStatus.PAID
    assert ledger.invoice_status("INV-1") is InvoiceStatus.OPEN


def test_credit_can_pay_a_later_invoice() -> None:
    ledger = Ledger("USD")
    pay(ledger, "p1", "40.00")  # paid before any invoice: all credit
    ledger.charge_invoice("INV-1", usd("25.00"), JAN)
    assert ledger.balance() == -usd("15.00")
    entries = ledger.apply_credit("INV-1")
    assert sum(e.amount.minor for e in entries) == 0  # moves money, creates none
    assert ledger.invoice_status("INV-1") is InvoiceStatus.PAID
    assert ledger.credit() == usd("15.00")
    assert ledger.balance() == -usd("15.00")
    ledger.charge_invoice("INV-2", usd("100.00"), FEB)
    with pytest.raises(ValidationError, match="15.00 USD credit"):
        ledger.apply_credit("INV-2", usd("20.00"))
    with pytest.raises(ValidationError, match="0.00 USD outstanding"):
        ledger.apply_credit("INV-1", usd("1.00"))
    assert ledger.apply_credit("INV-1") == []  # nothing left to pay there


def test_refund_takes_back_credit_first_then_reopens_the_invoice() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "110.00")  # INV-1 100 + INV-2 10
    pay(ledger, "p2", "60.00")  # INV-2 40 + credit 20
    entries = ledger.record_refund("p2", usd("30.00"))
    assert [(e.invoice_ref, e.amount) for e in entries] == [
        (None, usd("20.00")),
        ("INV-2", usd("10.00")),
    ]
    assert all(e.kind is EntryKind.REFUND and e.payment_ref == "p2" for e in entries)
    assert ledger.credit() == usd("0")
    assert ledger.invoice_status("INV-2") is InvoiceStatus.PARTIALLY_PAID
    assert ledger.balance() == usd("10.00")  # the refunded 10 is owed again
    assert ledger.refundable("p2") == usd("30.00")


def test_refund_cannot_exceed_what_is_left_of_the_payment() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "60.00")
    ledger.record_refund("p1", usd("50.00"))
    with pytest.raises(ValidationError, match="10.00 USD left"):
        ledger.record_refund("p1", usd("10.01"))
    with pytest.raises(NotFound):
        ledger.record_refund("nope", usd("1.00"))
    assert ledger.balance() == usd("140.00")


def test_lost_dispute_is_owed_again() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "150.00")
    ledger.record_chargeback("p1", usd("50.00"))
    assert ledger.balance() == usd("50.00")
    assert ledger.invoice_status("INV-2") is InvoiceStatus.OPEN
    assert ledger.refundable("p1") == usd("100.00")


def test_adjustment_on_an_invoice_can_make_it_overpaid() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "100.00")
    ledger.record_adjustment(-usd("10.00"), "goodwill discount", invoice_ref="INV-1")
    assert ledger.invoice_total("INV-1") == usd("90.00")
    assert ledger.invoice_status("INV-1") is InvoiceStatus.OVERPAID
    assert ledger.balance() == usd("40.00")
    with pytest.raises(ValidationError, match="why"):
        ledger.record_adjustment(usd("5.00"), "  ")


def test_charging_the_same_invoice_twice() -> None:
    ledger = ledger_with_invoices()
    first = ledger.entries[0]
    assert ledger.charge_invoice("INV-1", usd("100.00"), JAN) is first  # a retry: no change
    with pytest.raises(Conflict, match="adjustment"):
        ledger.charge_invoice("INV-1", usd("120.00"), JAN)
    assert len(ledger.entries) == 2 and ledger.balance() == usd("150.00")


def test_recording_the_same_payment_twice() -> None:
    ledger = ledger_with_invoices()
    plan = plan_allocation(usd("30.00"), ledger.open_invoices())
    first = ledger.record_payment("p1", plan)
    assert ledger.record_payment("p1", plan) == first  # a retry: no change
    with pytest.raises(Conflict):
        ledger.record_payment("p1", plan_allocation(usd("31.00"), ledger.open_invoices()))
    assert ledger.balance() == usd("120.00")


def test_a_stale_plan_cannot_overpay_an_invoice() -> None:
    ledger = ledger_with_invoices()
    plan = plan_allocation(usd("100.00"), ledger.open_invoices())
    ledger.record_payment("p1", plan)
    with pytest.raises(ValidationError, match="more than invoice INV-1"):
        ledger.record_payment("p2", plan)
    assert ledger.balance() == usd("50.00")  # the refused payment left no trace


def test_entries_in_another_currency_are_refused() -> None:
    ledger = Ledger("USD")
    with pytest.raises(ValidationError, match="in USD"):
        ledger.charge_invoice("INV-1", Money(100, "EUR"), JAN)


def test_unknown_invoice() -> None:
    ledger = Ledger("USD")
    with pytest.raises(NotFound):
        ledger.invoice_status("INV-1")
    with pytest.raises(NotFound):
        ledger.append(LedgerEntry(EntryKind.PAYMENT, -usd("1.00"), "INV-1", "p1"))


@pytest.mark.parametrize(
    "entry",
    [
        LedgerEntry(EntryKind.REFUND, usd("1.00"), None, "p1"),  # refund of nothing
        LedgerEntry(EntryKind.CREDIT_APPLIED, usd("1.00"), None, "p1"),  # half a pair
    ],
)
def test_money_cannot_appear_from_nowhere(entry: LedgerEntry) -> None:
    with pytest.raises((NotFound, ValidationError)):
        Ledger("USD").append(entry)


@pytest.mark.parametrize(
    ("kind", "minor", "invoice_ref", "payment_ref"),
    [
        (EntryKind.PAYMENT, 100, None, "p1"),  # a payment lowers the balance
        (EntryKind.REFUND, -100, None, "p1"),  # a refund raises it
        (EntryKind.CHARGEBACK, -100, None, "p1"),
        (EntryKind.PAYMENT, -100, None, None),  # no payment ref
        (EntryKind.INVOICE_CHARGE, 100, None, None),  # no invoice ref
        (EntryKind.INVOICE_CHARGE, -100, "INV-1", None),
        (EntryKind.ADJUSTMENT, 0, None, None),
        (EntryKind.CREDIT_APPLIED, -100, None, "p1"),  # credit used is +, invoice paid is -
    ],
)
def test_entries_with_the_wrong_sign_or_refs_cannot_be_made(
    kind: EntryKind, minor: int, invoice_ref: str | None, payment_ref: str | None
) -> None:
    due_on = JAN if kind is EntryKind.INVOICE_CHARGE else None
    with pytest.raises(ValidationError):
        LedgerEntry(kind, Money(minor, "USD"), invoice_ref, payment_ref, due_on=due_on)


def test_replaying_the_entries_gives_the_same_ledger() -> None:
    ledger = ledger_with_invoices()
    pay(ledger, "p1", "120.00")
    ledger.record_refund("p1", usd("15.00"))
    ledger.charge_invoice("INV-3", usd("10.00"), MAR)
    ledger.apply_credit("INV-3")
    copy = Ledger("USD", ledger.entries)
    assert copy.entries == ledger.entries
    assert copy.balance() == ledger.balance()
    assert copy.credit() == ledger.credit()
    assert copy.open_invoices() == ledger.open_invoices()
    assert copy.balance().minor == sum(e.amount.minor for e in ledger.entries)


def test_entries_cannot_be_edited() -> None:
    ledger = ledger_with_invoices()
    entries = ledger.entries
    assert isinstance(entries, tuple)
    with pytest.raises(AttributeError):
        entries[0].amount = usd("1.00")  # type: ignore[misc]
