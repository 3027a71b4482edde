"""Customer emails: deterministic, escaped, and never more card data than last 4."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt, ReceiptLine
from crm_pay.rendering.email import (
    FailureNotice,
    PayLinkNotice,
    render_failure_email,
    render_failure_sms,
    render_pay_link_email,
    render_pay_link_sms,
    render_receipt_email,
)
from vault.pan import find_pans

MERCHANT = Merchant(name="Northwind & Co.", address="12 Harbor St", phone="+16175550100")
EVIL = "<script>alert(1)</script>"


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.fixture
def receipt() -> Receipt:
    return Receipt(
        number="R-2026-000123",
        kind="payment",
        issued_at=datetime(2026, 3, 2, 14, 5, tzinfo=UTC),
        merchant=MERCHANT,
        customer_name=f"Eve {EVIL}",
        customer_ref="CUST-0001",
        payment_id="pay_1",
        lines=(ReceiptLine(f"Widget {EVIL}", 2, usd(1_000), usd(160), "INV-1"),),
        tax_breakdown=(("Tax", usd(160)),),
        shipping=usd(0),
        allocations=(("INV-1", usd(2_160)),),
        credit=usd(0),
        amount_paid=usd(2_160),
        method="Visa 4111 1111 1111 1111",  # even a careless label prints only the last 4
        psp_reference="bt-1",
    )


def test_receipt_email(receipt: Receipt) -> None:
    email = render_receipt_email(receipt, portal_url="https://shop.test/pay/r/abc.def", pdf=b"%PDF")
    assert email.subject == "Your receipt R-2026-000123 from Northwind & Co."
    assert email.attachments == (("R-2026-000123.pdf", "application/pdf", b"%PDF"),)
    for body in (email.text, email.html):
        assert "USD 21.60" in body and "Visa ending 1111" in body
        assert "https://shop.test/pay/r/abc.def" in body
        assert find_pans(body) == []
    assert EVIL not in email.html
    assert "Eve &lt;script&gt;" in email.html and "Widget &lt;script&gt;" in email.html
    assert "Northwind &amp; Co." in email.html
    assert render_receipt_email(receipt, portal_url="x", pdf=b"%PDF") == render_receipt_email(
        receipt, portal_url="x", pdf=b"%PDF"
    )


def test_refund_receipt_and_default_pdf(receipt: Receipt) -> None:
    email = render_receipt_email(dataclasses.replace(receipt, kind="refund"))
    assert email.subject.startswith("Your refund receipt R-2026-000123")
    assert "We have refunded USD 21.60" in email.text
    assert email.attachments[0][2].startswith(b"%PDF")
    assert "receipts" not in email.text.split("PSP reference")[1]  # no portal link given


def test_pay_link_email_and_sms() -> None:
    notice = PayLinkNotice(
        merchant=MERCHANT,
        customer_name=EVIL,
        amount=usd(5_500),
        url="https://shop.test/pay/p/tok?a=1&b=2",
        expires_at=datetime(2026, 3, 2, 14, 20, tzinfo=UTC),
        invoices=("INV-1", "INV-2"),
    )
    email = render_pay_link_email(notice)
    assert email.subject == "Northwind & Co.: payment request for USD 55.00"
    assert "invoices INV-1, INV-2" in email.text
    assert "2026-03-02 14:20:00 UTC" in email.text
    assert 'href="https://shop.test/pay/p/tok?a=1&amp;b=2"' in email.html
    assert EVIL not in email.html
    sms = render_pay_link_sms(notice)
    assert sms == (
        "Northwind & Co.: please pay USD 55.00 securely at https://shop.test/pay/p/tok?a=1&b=2 "
        "(link valid until 14:20 UTC)."
    )


def test_failure_notice_with_and_without_a_retry_link() -> None:
    notice = FailureNotice(
        merchant=MERCHANT,
        customer_name="Eve",
        amount=usd(5_500),
        reason="Your bank declined the payment.",
        next_step="Try another card or call your bank.",
        retry_url="https://shop.test/pay/p/tok",
        expires_at=datetime(2026, 3, 2, 14, 20, tzinfo=UTC),
        method="Visa ending 0002",
    )
    email = render_failure_email(notice)
    assert email.subject == "Your payment to Northwind & Co. did not go through"
    for body in (email.text, email.html):
        assert "https://shop.test/pay/p/tok" in body and "Visa ending 0002" in body
        assert "Your bank declined the payment." in body
    assert "try again" in render_failure_sms(notice)
    closed = dataclasses.replace(notice, retry_url=None, expires_at=None)
    assert "/pay/p/" not in render_failure_email(closed).html
    assert "+16175550100" in render_failure_sms(closed)


def test_templates_are_packaged_next_to_the_module() -> None:
    import crm_pay.rendering

    folder = Path(crm_pay.rendering.__file__).parent / "templates" / "email"
    assert {p.name for p in folder.iterdir()} >= {"receipt.html", "receipt.txt"}
