"""Receipts as PDF and text: content, stable bytes, card digits, non-latin-1 names."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt, ReceiptLine
from crm_pay.rendering import render_receipt_pdf, render_receipt_text


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.fixture
def receipt() -> Receipt:
    return Receipt(
        number="R-2026-000123",
        kind="payment",
        issued_at=datetime(2026, 3, 2, 14, 5, tzinfo=ZoneInfo("America/New_York")),
        merchant=Merchant(
            name="Northwind Supply Co.",
            address="12 Harbor Street\nBoston, MA 02110",
            email="billing@example.com",
            phone="+1 617 555 0100",
            tax_id="US-12-3456789",
        ),
        customer_name="Eleanor Whitfield",
        customer_ref="CUST-0001",
        payment_id="pay-7f3a",
        lines=(
            ReceiptLine(
                "Cedar raised garden bed, 4 x 8 ft", 2, usd(18_900), usd(3_357), "INV-1001"
            ),
            ReceiptLine("Organic potting soil, 40 qt", 6, usd(1_450), usd(773), "INV-1001"),
        ),
        tax_breakdown=(("NY sales tax 8.88%", usd(4_130)),),
        shipping=usd(3_500),
        allocations=(("INV-1001", usd(54_130)),),
        credit=usd(870),
        amount_paid=usd(55_000),
        method="Visa •••• 1111",
        psp_reference="bt-txn-9k2m",
    )


def content(receipt: Receipt) -> bytes:
    """The PDF with readable page content."""
    return render_receipt_pdf(receipt, compress=False)


def shown_text(receipt: Receipt) -> str:
    """The text a reader of the PDF sees (and copies), read back by pypdf, one line of the
    page per line, runs of spaces as one."""
    pages = PdfReader(io.BytesIO(render_receipt_pdf(receipt))).pages
    text = "\n".join(page.extract_text() for page in pages)
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def test_pdf_is_a_pdf_and_the_same_receipt_gives_the_same_bytes(receipt: Receipt) -> None:
    pdf = render_receipt_pdf(receipt)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert render_receipt_pdf(receipt) == pdf
    other = dataclasses.replace(receipt, number="R-2026-000124")
    assert render_receipt_pdf(other) != pdf


def test_pdf_dates_come_from_the_receipt(receipt: Receipt) -> None:
    assert b"/CreationDate (D:20260302140500-05'00')" in content(receipt)


def test_pdf_shows_what_the_receipt_says(receipt: Receipt) -> None:
    drawn = shown_text(receipt)
    for text in (
        "Northwind Supply Co.",
        "Boston, MA 02110",
        "Tax ID: US-12-3456789",
        "Receipt",
        "R-2026-000123",
        "2026-03-02 14:05:00 EST (UTC-05:00)",
        "Eleanor Whitfield (CUST-0001)",
        "pay-7f3a",
        "USD 14.50",
        "NY sales tax 8.88%",
        "Shipping",
        "USD 35.00",
        "Payment applied to",
        "USD 541.30",
        "Customer credit",
        "USD 8.70",
        "Total paid",
        "USD 550.00",
        "Visa ending 1111",
        "bt-txn-9k2m",
    ):
        assert text in drawn, text
    assert "Receipt number R-2026-000123" in drawn.splitlines()
    assert "Total paid USD 550.00" in drawn.splitlines()
    assert "Organic potting soil, 40 qt" in drawn  # the table may wrap the invoice number
    assert "Refund receipt" not in drawn


def test_text_version_says_the_same(receipt: Receipt) -> None:
    text = render_receipt_text(receipt)
    assert "RECEIPT" in text and "R-2026-000123" in text
    assert re.search(r"Total paid +USD 550\.00", text)
    assert re.search(r"Subtotal +USD 465\.00", text)  # 2 x 189.00 + 6 x 14.50
    assert re.search(r"Cedar raised.* 2 +USD 189\.00 +USD 33\.57 +USD 411\.57", text)
    assert re.search(r"Customer credit +USD 8\.70", text)
    assert "Paid with:      Visa ending 1111" in text
    assert "PSP reference:  bt-txn-9k2m" in text
    assert all(len(line) <= 72 for line in text.splitlines())


def test_refund_receipt(receipt: Receipt) -> None:
    refund = dataclasses.replace(
        receipt, kind="refund", lines=(), tax_breakdown=(), shipping=usd(0), credit=usd(0)
    )
    text = render_receipt_text(refund)
    assert text.splitlines()[7] == "REFUND RECEIPT"
    assert "Total refunded" in text and "Total paid" not in text
    assert "Subtotal" not in text and "Shipping" not in text
    drawn = shown_text(refund).splitlines()
    assert "Refund receipt" in drawn and "Total refunded USD 550.00" in drawn


def test_a_time_in_utc_is_shown_once(receipt: Receipt) -> None:
    utc = dataclasses.replace(receipt, issued_at=datetime(2026, 3, 2, 19, 5, tzinfo=UTC))
    assert "Date:           2026-03-02 19:05:00 UTC\n" in render_receipt_text(utc)


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("Visa •••• 1111", "Visa ending 1111"),
        ("MasterCard **** 4444", "MasterCard ending 4444"),
        ("Visa ending 1111", "Visa ending 1111"),
        ("Visa 4111111111111111", "Visa ending 1111"),
        ("American Express 3782 822463 10005", "American Express ending 0005"),
        ("Apple Pay", "Apple Pay"),
        ("Google Pay (Visa •••• 1111)", "Google Pay (Visa ending 1111)"),
    ],
)
def test_the_method_shows_at_most_the_last_four_digits(
    receipt: Receipt, method: str, label: str
) -> None:
    paid_with = dataclasses.replace(receipt, method=method)
    assert f"Paid with:      {label}\n" in render_receipt_text(paid_with)


def test_a_full_card_number_never_reaches_the_receipt(receipt: Receipt) -> None:
    leaky = dataclasses.replace(receipt, method="Visa 4111 1111 1111 1111")
    text = render_receipt_text(leaky)
    pdf = content(leaky)
    shown = shown_text(leaky)
    assert "Visa ending 1111" in text and "Paid with Visa ending 1111" in shown
    assert "4111" not in shown.replace("ending 1111", "")
    for document in (text.encode(), pdf):
        # Braintree's test Visa: neither the number, its BIN nor any 5+ digit part of it.
        assert not re.search(rb"4111[\s-]*1", document)
        assert b"41111" not in document


def test_text_outside_latin_1_is_printed_as_it_is(receipt: Receipt) -> None:
    named = dataclasses.replace(
        receipt,
        customer_name="Zoë Łukasiewicz-Ősz 王小明 — “VIP”",
        merchant=dataclasses.replace(receipt.merchant, name="Café Ørsted • Ümlaut GmbH"),
        lines=(ReceiptLine("Über-Kabel ≥ 2 m, 10 €", 1, usd(999), usd(0)),),
    )
    drawn = shown_text(named)
    assert "Zoë Łukasiewicz-Ősz 王小明 — “VIP” (CUST-0001)" in drawn
    assert "Café Ørsted • Ümlaut GmbH" in drawn
    assert "Über-Kabel ≥ 2 m, 10 €" in drawn
    assert "?" not in drawn
    assert "Zoë Łukasiewicz-Ősz 王小明" in render_receipt_text(named)


def test_a_payment_without_lines_still_makes_a_receipt(receipt: Receipt) -> None:
    on_account = dataclasses.replace(
        receipt, lines=(), tax_breakdown=(), shipping=usd(0), allocations=(), credit=usd(55_000)
    )
    text = render_receipt_text(on_account)
    assert "Description" not in text and "Subtotal" not in text
    assert re.search(r"Customer credit +USD 550\.00", text)
    assert render_receipt_pdf(on_account).startswith(b"%PDF-")
