"""A part-payment receipt says what is still owed, the same in the PDF, its text and the
email; the figure is the one right after the payment, however often it is re-printed."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from crm_pay.services.receipts import receipt_from_row
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import paid


def _pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.split())


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_part_payment_receipt_says_still_owed_in_the_pdf_the_text_and_the_email(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(world.ctx, "40.00")  # INV-1001 is 100.00
    outbox.drain()
    (email,) = world.email.to("ada@example.com")
    ((_, _, pdf),) = email.attachments
    assert "Still owed USD 60.00 on INV-1001" in _pdf_text(pdf)
    assert "Still owed: USD 60.00 on INV-1001" in _words(email.text)
    assert "USD 60.00" in email.html and "still to pay" in email.html


def test_the_rest_paid_later_does_not_change_the_first_receipt(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(world.ctx, "40.00")
    paid(world.ctx, "60.00")  # pays INV-1001 off
    outbox.drain()
    first, second = world.email.to("ada@example.com")
    assert "Still owed" not in second.text
    assert "Still owed" not in _pdf_text(second.attachments[0][2])
    assert "part payment" not in second.text
    # The first receipt, printed again now (receipts page, CRM, API), still says what was
    # owed when it was issued: re-rendering gives the bytes that were emailed.
    with world.ctx.db.transaction() as s:
        rows = list(s.scalars(select(ReceiptRow).order_by(ReceiptRow.id)))
        reprinted = render_receipt_pdf(receipt_from_row(rows[0]))
    assert reprinted == first.attachments[0][2]
    assert "Still owed USD 60.00 on INV-1001" in _pdf_text(reprinted)


def test_a_full_payment_receipt_owes_nothing(world: FakeWorld, outbox: OutboxRunner) -> None:
    paid(world.ctx, "100.00")
    outbox.drain()
    (email,) = world.email.to("ada@example.com")
    assert "Still owed" not in email.text
    assert "Still owed" not in _pdf_text(email.attachments[0][2])
