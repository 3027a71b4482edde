"""``FakeCrm``: an in-memory CRM implementing :class:`crm_pay.ports.CrmConnector` and the
optional ``CrmTimeline`` capability. A neutral fake: it follows the port's contract (writes
are idempotent upserts keyed by our ids) and no vendor's API.

It starts empty; :meth:`FakeCrm.add_customer`, :meth:`add_invoice` and :meth:`add_card`
seed it, :meth:`FakeCrm.with_customer` builds the usual one-customer set-up. Every write is
recorded in ``calls`` (in order) and applied to ``payments``, ``balances``, ``receipts``,
``notes``; :meth:`fail_writes` makes the next writes raise ``CrmCallFailed``, like a CRM
that is down (retryable) or that refuses a record (``retryable=False``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from crm_pay.domain.money import Money
from crm_pay.ports import (
    ConnectionReport,
    CrmCallFailed,
    CrmCustomer,
    CrmInvoice,
    CrmInvoiceLine,
    CrmPaymentRecord,
    StoredCard,
)

__all__ = ["FakeCrm"]


class FakeCrm:
    name = "fake"

    def __init__(self) -> None:
        self.customers: dict[str, CrmCustomer] = {}
        self.invoices: dict[str, CrmInvoice] = {}
        self.paid_invoices: set[str] = set()
        self.cards: dict[str, list[StoredCard]] = {}
        self.payments: dict[str, CrmPaymentRecord] = {}
        self.balances: dict[str, tuple[Money, Money]] = {}
        self.receipts: dict[str, tuple[str, str, bytes]] = {}  # number -> (ref, payment, pdf)
        self.notes: dict[str, tuple[str, str]] = {}  # key -> (crm_ref, text)
        self.calls: list[tuple[str, Any]] = []
        self._failures: list[CrmCallFailed] = []

    # ----------------------------------------------------------------- seeding
    def add_customer(self, customer: CrmCustomer) -> CrmCustomer:
        self.customers[customer.crm_ref] = customer
        return customer

    def add_invoice(self, invoice: CrmInvoice, *, paid: bool = False) -> CrmInvoice:
        self.invoices[invoice.crm_ref] = invoice
        if paid:
            self.paid_invoices.add(invoice.crm_ref)
        return invoice

    def add_card(self, crm_ref: str, card: StoredCard) -> StoredCard:
        self.cards.setdefault(crm_ref, []).append(card)
        return card

    @classmethod
    def with_customer(
        cls,
        crm_ref: str = "CUST-0001",
        *,
        invoices: Sequence[tuple[str, str]] = (("INV-1001", "100.00"),),
        currency: str = "USD",
        email: str | None = "ada@example.com",
        phone: str | None = "+15555550101",
    ) -> FakeCrm:
        """A CRM holding one customer with open invoices ``(number, total)`` (one line
        each, no tax, no shipping)."""
        crm = cls()
        crm.add_customer(
            CrmCustomer(crm_ref, "Ada Lovelace", email=email, phone=phone, currency=currency)
        )
        for number, total in invoices:
            crm.add_invoice(
                CrmInvoice(
                    crm_ref=number,
                    customer_ref=crm_ref,
                    currency=currency,
                    issued_on=date(2026, 3, 1),
                    due_on=date(2026, 3, 31),
                    lines=(
                        CrmInvoiceLine(
                            "Services",
                            1,
                            Money.parse(total, currency),
                            Money.zero(currency),
                        ),
                    ),
                    shipping=Money.zero(currency),
                )
            )
        return crm

    def fail_writes(
        self, count: int = 1, *, retryable: bool = True, delay: float | None = None
    ) -> None:
        """The next ``count`` writes raise ``CrmCallFailed`` (nothing is applied)."""
        for _ in range(count):
            self._failures.append(
                CrmCallFailed(
                    "fake CRM refused the write",
                    retryable=retryable,
                    delay=delay,
                    crm_message="FAKE_ERROR: scripted failure",
                )
            )

    def calls_to(self, method: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == method]

    # ----------------------------------------------------------------- reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        return self.customers.get(crm_ref)

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        return [c for c in self.customers.values() if c.phone == e164]

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        return [c for c in self.customers.values() if (c.email or "").lower() == email.lower()]

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        return [
            inv
            for inv in self.invoices.values()
            if inv.customer_ref == crm_ref and inv.crm_ref not in self.paid_invoices
        ]

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        return list(self.cards.get(crm_ref, ()))

    # ----------------------------------------------------------------- writes
    def _write(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if self._failures:
            raise self._failures.pop(0)

    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        self._write("upsert_payment", record)
        self.payments[record.payment_id] = record

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None:
        self._write("update_balance", (crm_ref, balance, credit))
        self.balances[crm_ref] = (balance, credit)

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        self._write("attach_receipt", (crm_ref, payment_id, number))
        self.receipts[number] = (crm_ref, payment_id, pdf)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        self._write("add_timeline_note", (crm_ref, key, text))
        self.notes[key] = (crm_ref, text)

    def test_connection(self) -> ConnectionReport:
        return ConnectionReport(True, (("fake", True, "in-memory CRM"),))
