"""A payment's receipt carries the lines, tax and shipping of the invoices it paid, exactly
as the CRM sent them, and nothing of the invoices it did not pay (the outcome reads every
invoice of the customer, but decodes only the lines of those on the receipt)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_pay.domain.money import Money
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import CrmCustomer, CrmInvoice, CrmInvoiceLine
from crm_pay.services.charging import pay_with_nonce
from crm_pay.testing import FakeCrm, FakeWorld, fake_context
from servicetest import link, token_of


def _usd(text: str) -> Money:
    return Money.parse(text, "USD")


def _invoice(ref: str, due: date, lines: tuple[CrmInvoiceLine, ...], **extra: Any) -> CrmInvoice:
    return CrmInvoice(
        crm_ref=ref,
        customer_ref="CUST-0001",
        currency="USD",
        issued_on=date(2026, 3, 1),
        due_on=due,
        lines=lines,
        shipping=extra.pop("shipping", _usd("0.00")),
        **extra,
    )


@pytest.fixture
def world(tmp_path: Path) -> Any:
    crm = FakeCrm()
    crm.add_customer(CrmCustomer("CUST-0001", "Zoë Ångström", email="zoe@example.com"))
    crm.add_invoice(
        _invoice(
            "INV-1",
            date(2026, 3, 10),
            (
                CrmInvoiceLine("Cedar bed — 4 × 8 ft «Ø»", 2, _usd("10.00"), _usd("1.50"), "SKU-1"),
                CrmInvoiceLine("Soil", 3, _usd("2.00"), _usd("0.00")),
            ),
            shipping=_usd("5.00"),
            tax_label="NY sales tax 8.88%",
        )
    )
    crm.add_invoice(
        _invoice(
            "INV-2",
            date(2026, 3, 20),
            (CrmInvoiceLine("Not on this receipt", 1, _usd("40.00"), _usd("0.00")),),
        )
    )
    w = fake_context(f"sqlite:///{tmp_path / 'services.sqlite3'}", crm=crm)
    yield w
    w.close()


def _receipt_content(world: FakeWorld, number: str) -> dict[str, Any]:
    with world.ctx.db.transaction() as s:
        row = s.scalars(select(ReceiptRow).where(ReceiptRow.number == number)).one()
        return dict(row.content)


def test_the_receipt_has_the_paid_invoices_lines_as_the_crm_sent_them(world: FakeWorld) -> None:
    # INV-1 is 20.00 + 6.00 + 1.50 tax + 5.00 shipping = 32.50; oldest due first pays it.
    view = pay_with_nonce(world.ctx, token_of(link(world.ctx, "32.50")), "fake-valid-nonce")
    content = _receipt_content(world, view["receipt_number"])
    assert content["lines"] == [
        {
            "description": "Cedar bed — 4 × 8 ft «Ø»",
            "quantity": 2,
            "unit_price_minor": 1000,
            "tax_minor": 150,
            "sku": "SKU-1",
            "invoice_ref": "INV-1",
        },
        {
            "description": "Soil",
            "quantity": 3,
            "unit_price_minor": 200,
            "tax_minor": 0,
            "sku": None,
            "invoice_ref": "INV-1",
        },
    ]
    assert content["tax_breakdown"] == [["NY sales tax 8.88%", 150]]
    assert content["shipping_minor"] == 500
    assert content["allocations"] == [["INV-1", 3250]]


def test_a_payment_over_two_invoices_lists_both_in_allocation_order(world: FakeWorld) -> None:
    view = pay_with_nonce(world.ctx, token_of(link(world.ctx, "52.50")), "fake-valid-nonce")
    content = _receipt_content(world, view["receipt_number"])
    assert [(line["invoice_ref"], line["description"]) for line in content["lines"]] == [
        ("INV-1", "Cedar bed — 4 × 8 ft «Ø»"),
        ("INV-1", "Soil"),
        ("INV-2", "Not on this receipt"),
    ]
    assert content["allocations"] == [["INV-1", 3250], ["INV-2", 2000]]
    assert content["still_owed"] == [["INV-2", 2000]]


def test_a_credit_only_payment_has_no_invoice_lines(world: FakeWorld) -> None:
    pay_with_nonce(world.ctx, token_of(link(world.ctx, "72.50")), "fake-valid-nonce")  # all paid
    view = pay_with_nonce(world.ctx, token_of(link(world.ctx, "3.00")), "fake-valid-nonce")
    content = _receipt_content(world, view["receipt_number"])
    assert content["lines"] == [] and content["allocations"] == []
    assert content["credit_minor"] == 300
