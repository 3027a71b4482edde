"""Receipt numbers: gapless, readable, and read back exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_pay.domain import (
    Merchant,
    Money,
    Receipt,
    ReceiptLine,
    ValidationError,
    format_receipt_number,
    parse_receipt_number,
)


def test_number_format() -> None:
    assert format_receipt_number(2026, 123) == "R-2026-000123"
    assert format_receipt_number(2026, 1, prefix="RF") == "RF-2026-000001"
    assert format_receipt_number(2026, 1234567) == "R-2026-1234567"


def test_consecutive_numbers_have_no_gaps_and_sort_in_order() -> None:
    numbers = [format_receipt_number(2026, seq) for seq in range(1, 1001)]
    assert [parse_receipt_number(n)[2] for n in numbers] == list(range(1, 1001))
    assert sorted(numbers) == numbers


@pytest.mark.parametrize("seq", [1, 999999, 1000000])
def test_round_trip(seq: int) -> None:
    assert parse_receipt_number(format_receipt_number(2026, seq, "INV")) == ("INV", 2026, seq)


def test_sequence_starts_at_one() -> None:
    with pytest.raises(ValidationError):
        format_receipt_number(2026, 0)


@pytest.mark.parametrize("prefix", ["", "r", "TOOLONG", "R-1"])
def test_only_readable_prefixes_are_issued(prefix: str) -> None:
    with pytest.raises(ValidationError):
        format_receipt_number(2026, 1, prefix=prefix)


@pytest.mark.parametrize(
    "text",
    ["R-2026-123", "r-2026-000123", "R-26-000123", "R2026000123", "R-２０２６-000123", ""],
)
def test_parse_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_receipt_number(text)


def _receipt(issued_at: datetime) -> Receipt:
    usd = Money.parse("10.00", "USD")
    return Receipt(
        number="R-2026-000001",
        kind="payment",
        issued_at=issued_at,
        merchant=Merchant("Acme"),
        customer_name="Ada",
        customer_ref="C-1",
        payment_id="p1",
        lines=(ReceiptLine("Service", 2, Money(500, "USD"), Money(0, "USD")),),
        tax_breakdown=(),
        shipping=Money(0, "USD"),
        allocations=(("INV-1", usd),),
        credit=Money(0, "USD"),
        amount_paid=usd,
        method="Visa •••• 1111",
        psp_reference="txn",
    )


def test_receipt_needs_a_time_zone() -> None:
    assert _receipt(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)).lines[0].net == Money(1000, "USD")
    with pytest.raises(ValidationError, match="time zone"):
        _receipt(datetime(2026, 1, 2, 3, 4))
