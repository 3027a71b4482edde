"""The ledger under random sequences of invoices, payments, refunds and lost disputes.

Whatever happens, no money appears or disappears: every amount the customer owes is an
invoice not yet paid, every payment is on an invoice, in credit, or was given back.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from crm_pay.domain import (
    InvoiceStatus,
    Ledger,
    Money,
    ValidationError,
    invoice_status,
    plan_allocation,
)

FIRST_DUE = date(2026, 1, 1)


class LedgerMachine(RuleBasedStateMachine):
    """Drives a ``Ledger`` and keeps a plain model of the money next to it."""

    def __init__(self) -> None:
        super().__init__()
        self.currency = "USD"
        self.ledger = Ledger(self.currency)
        self.invoices: dict[str, int] = {}  # ref → total
        self.due_on: dict[str, date] = {}
        self.captured: dict[str, int] = {}  # payment ref → amount taken
        self.refunded: dict[str, int] = {}
        self.charged_back: dict[str, int] = {}
        self.disputes_charged: dict[str, int] = {}  # by chargebacks only (not reversals)

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    def left(self, payment_ref: str) -> int:
        return (
            self.captured[payment_ref]
            - self.refunded.get(payment_ref, 0)
            - self.charged_back.get(payment_ref, 0)
        )

    def payments_with_money_left(self) -> list[str]:
        return [ref for ref in self.captured if self.left(ref) > 0]

    @initialize(currency=st.sampled_from(["USD", "JPY", "KWD"]))
    def open_account(self, currency: str) -> None:
        self.currency = currency
        self.ledger = Ledger(currency)

    @rule(total=st.integers(1, 50_000), days=st.integers(0, 90))
    def add_invoice(self, total: int, days: int) -> None:
        ref = f"INV-{len(self.invoices) + 1:03d}"
        due_on = FIRST_DUE + timedelta(days=days)
        self.ledger.charge_invoice(ref, self.money(total), due_on)
        self.invoices[ref] = total
        self.due_on[ref] = due_on

    @rule(amount=st.integers(1, 100_000), agent_chooses=st.booleans(), data=st.data())
    def pay(self, amount: int, agent_chooses: bool, data: st.DataObject) -> None:
        open_invoices = self.ledger.open_invoices()
        requested: dict[str, Money] | None = None
        if agent_chooses:
            requested = {}
            budget = amount
            for invoice in open_invoices:
                top = min(invoice.outstanding.minor, budget)
                if top > 0 and data.draw(st.booleans(), label=f"pay {invoice.ref}"):
                    share = data.draw(st.integers(1, top), label=f"amount on {invoice.ref}")
                    requested[invoice.ref] = self.money(share)
                    budget -= share
        plan = plan_allocation(self.money(amount), open_invoices, requested)
        assert plan.allocated + plan.credit == self.money(amount)
        assert all(a.amount.is_positive() for a in plan.allocations)
        if requested is not None:
            assert {a.invoice_ref: a.amount for a in plan.allocations} == requested
        ref = f"pay-{len(self.captured) + 1}"
        self.ledger.record_payment(ref, plan)
        self.captured[ref] = amount

    @precondition(lambda self: self.payments_with_money_left())
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(self.payments_with_money_left()), label="payment")
        amount = data.draw(st.integers(1, self.left(ref)), label="refund")
        self.ledger.record_refund(ref, self.money(amount))
        self.refunded[ref] = self.refunded.get(ref, 0) + amount

    @precondition(lambda self: self.payments_with_money_left())
    @rule(data=st.data())
    def dispute_lost(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(self.payments_with_money_left()), label="payment")
        amount = data.draw(st.integers(1, self.left(ref)), label="chargeback")
        self.ledger.record_chargeback(ref, self.money(amount))
        self.charged_back[ref] = self.charged_back.get(ref, 0) + amount
        self.disputes_charged[ref] = self.disputes_charged.get(ref, 0) + amount

    @precondition(lambda self: any(v > 0 for v in self.won_back_possible().values()))
    @rule(data=st.data())
    def dispute_won_after_loss(self, data: st.DataObject) -> None:
        options = sorted(ref for ref, v in self.won_back_possible().items() if v > 0)
        ref = data.draw(st.sampled_from(options), label="payment")
        top = self.won_back_possible()[ref]
        amount = data.draw(st.integers(1, top), label="won back")
        before = self.ledger.balance()
        entries = self.ledger.record_chargeback_reversal(ref, self.money(amount))
        assert sum(e.amount.minor for e in entries) == -amount
        assert self.ledger.balance() == before - self.money(amount)
        self.charged_back[ref] -= amount
        self.disputes_charged[ref] -= amount

    @precondition(lambda self: self.captured)
    @rule(data=st.data(), extra=st.integers(1, 1_000))
    def reversing_more_than_was_charged_back_is_refused(
        self, data: st.DataObject, extra: int
    ) -> None:
        ref = data.draw(st.sampled_from(sorted(self.captured)), label="payment")
        before = self.ledger.entries
        too_much = self.won_back_possible().get(ref, 0) + extra
        try:
            self.ledger.record_chargeback_reversal(ref, self.money(too_much))
        except ValidationError:
            pass
        else:
            raise AssertionError("a reversal larger than what was charged back was accepted")
        assert self.ledger.entries == before

    def won_back_possible(self) -> dict[str, int]:
        return dict(self.disputes_charged)

    @precondition(lambda self: self.captured)
    @rule(data=st.data())
    def settlement_declined(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.captured)), label="payment")
        left = self.left(ref)
        entries = self.ledger.record_settlement_reversal(ref)
        assert sum(e.amount.minor for e in entries) == left  # all that was still held
        # Taken back like a refund in the model: the customer owes it again.
        self.charged_back[ref] = self.charged_back.get(ref, 0) + left
        assert self.ledger.refundable(ref).is_zero()
        assert self.ledger.record_settlement_reversal(ref) == []  # once

    @precondition(lambda self: self.captured)
    @rule(data=st.data(), extra=st.integers(1, 1_000))
    def refund_too_much_is_refused(self, data: st.DataObject, extra: int) -> None:
        ref = data.draw(st.sampled_from(sorted(self.captured)), label="payment")
        before = self.ledger.entries
        try:
            self.ledger.record_refund(ref, self.money(self.left(ref) + extra))
        except ValidationError:
            pass
        else:
            raise AssertionError("a refund larger than what is left was accepted")
        assert self.ledger.entries == before

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def use_credit(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.invoices)), label="invoice")
        before = self.ledger.balance()
        self.ledger.apply_credit(ref)
        assert self.ledger.balance() == before  # credit moves, it is not created

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def balance_is_the_sum_of_the_entries(self) -> None:
        total = sum(entry.amount.minor for entry in self.ledger.entries)
        assert self.ledger.balance() == self.money(total)

    @invariant()
    def no_money_appears_or_disappears(self) -> None:
        expected = (
            sum(self.invoices.values())
            - sum(self.captured.values())
            + sum(self.refunded.values())
            + sum(self.charged_back.values())
        )
        assert self.ledger.balance() == self.money(expected)

    @invariant()
    def every_payment_is_somewhere(self) -> None:
        paid = sum(self.ledger.paid_on(ref).minor for ref in self.invoices)
        credit = self.ledger.credit()
        assert credit.minor >= 0
        assert paid + credit.minor == sum(self.left(ref) for ref in self.captured)
        # Equivalently: what is owed is what the invoices still ask, less the credit.
        owed = sum(total - self.ledger.paid_on(ref).minor for ref, total in self.invoices.items())
        assert self.ledger.balance() == self.money(owed) - credit

    @invariant()
    def invoices_are_never_paid_beyond_their_total(self) -> None:
        for ref, total in self.invoices.items():
            paid = self.ledger.paid_on(ref)
            assert 0 <= paid.minor <= total
            status = self.ledger.invoice_status(ref)
            assert status is invoice_status(self.money(total), paid)
            assert status is not InvoiceStatus.OVERPAID

    @invariant()
    def refunds_never_exceed_what_was_captured(self) -> None:
        for ref, captured in self.captured.items():
            assert self.refunded.get(ref, 0) + self.charged_back.get(ref, 0) <= captured
            assert self.ledger.captured(ref) == self.money(captured)
            assert self.ledger.refundable(ref) == self.money(self.left(ref))

    @invariant()
    def open_invoices_are_the_unpaid_ones_oldest_first(self) -> None:
        unpaid = [
            ref for ref, total in self.invoices.items() if self.ledger.paid_on(ref).minor < total
        ]
        unpaid.sort(key=lambda ref: (self.due_on[ref], ref))
        assert [invoice.ref for invoice in self.ledger.open_invoices()] == unpaid

    def teardown(self) -> None:
        # Replaying the stored entries rebuilds exactly the same account.
        replayed = Ledger(self.currency, self.ledger.entries)
        assert replayed.balance() == self.ledger.balance()
        assert replayed.credit() == self.ledger.credit()
        assert replayed.open_invoices() == self.ledger.open_invoices()


LedgerMachine.TestCase.settings = settings(
    max_examples=75, stateful_step_count=30, deadline=None, database=None
)
TestLedgerMachine = LedgerMachine.TestCase
