"""Money: exact parsing, formatting and arithmetic in minor units."""

from __future__ import annotations

import operator
from collections.abc import Callable

import pytest

from crm_pay.domain import Money, ValidationError, currency_exponent


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12.3", "USD", 1230),
        ("12", "USD", 1200),
        ("0.01", "USD", 1),
        ("0", "USD", 0),
        ("12.34", "usd", 1234),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("0.5", "KWD", 500),
    ],
)
def test_parse_is_exact(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency.upper())


@pytest.mark.parametrize(
    "text",
    [
        "12.345",  # more decimals than USD has: never rounded
        "-1",
        "+1",
        "NaN",
        "inf",
        "1e3",
        "",
        " ",
        "1,000.00",
        "1 000",
        "0x10",
        "１２",  # full-width digits
        "٣",  # Arabic-Indic digit
        "12.",
        ".5",
        " 12.00",  # whitespace is refused, not trimmed: one rule for the API and the domain
        "12.00 ",
        "\t12.00",
        "12.00\n",
        "\u00a012.00",  # no-break space
        "+12",
        "012",
        "1" * 5000,  # would trip Python's int() digit limit
    ],
)
def test_parse_refuses_anything_but_a_plain_decimal(text: str) -> None:
    with pytest.raises(ValidationError):
        Money.parse(text, "USD")


def test_parse_error_does_not_echo_what_was_typed() -> None:
    # A card number typed into the amount field must not end up in an error message/log.
    with pytest.raises(ValidationError) as info:
        Money.parse("4111 1111 1111 1111", "USD")
    assert "1111" not in info.value.message


def test_yen_has_no_decimals() -> None:
    with pytest.raises(ValidationError, match="more decimals than JPY"):
        Money.parse("500.5", "JPY")


def test_dinar_has_three_decimals() -> None:
    assert currency_exponent("KWD") == 3
    with pytest.raises(ValidationError):
        Money.parse("1.2345", "KWD")


def test_amounts_beyond_any_payment_are_refused() -> None:
    with pytest.raises(ValidationError, match="too large"):
        Money.parse("99999999999999999", "USD")


@pytest.mark.parametrize("currency", ["XXX", "US", "usd1", "", "€"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValidationError, match="not supported"):
        Money.parse("1", currency)
    with pytest.raises(ValidationError):
        Money(100, currency)


def test_minor_units_must_be_an_integer() -> None:
    with pytest.raises(ValidationError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money(True, "USD")


@pytest.mark.parametrize(
    ("money", "decimal", "display"),
    [
        (Money(123450, "USD"), "1234.50", "USD 1,234.50"),
        (Money(-5, "USD"), "-0.05", "-USD 0.05"),
        (Money(500, "JPY"), "500", "JPY 500"),
        (Money(1234567, "JPY"), "1234567", "JPY 1,234,567"),
        (Money(1234, "KWD"), "1.234", "KWD 1.234"),
        (Money(0, "EUR"), "0.00", "EUR 0.00"),
    ],
)
def test_formatting(money: Money, decimal: str, display: str) -> None:
    assert money.to_decimal_str() == decimal
    assert money.format() == display
    assert str(money) == f"{decimal} {money.currency}"


def test_round_trip_through_text() -> None:
    for money in (Money(1, "USD"), Money(100, "JPY"), Money(1001, "KWD")):
        assert Money.parse(money.to_decimal_str(), money.currency) == money


def test_arithmetic_and_comparison_in_one_currency() -> None:
    a, b = Money.parse("10.00", "USD"), Money.parse("2.50", "USD")
    assert a + b == Money(1250, "USD")
    assert a - b == Money(750, "USD")
    assert -b == Money(-250, "USD")
    assert b < a and a > b and a >= a and b <= b
    assert min(a, b) == b
    assert Money.zero("USD").is_zero() and a.is_positive() and not (-a).is_positive()


@pytest.mark.parametrize(
    "op", [operator.add, operator.sub, operator.lt, operator.le, operator.gt, operator.ge]
)
def test_currencies_never_mix(op: Callable[[Money, Money], object]) -> None:
    with pytest.raises(ValidationError, match="currency mismatch: USD vs EUR"):
        op(Money(100, "USD"), Money(100, "EUR"))


def test_same_amount_other_currency_is_not_equal() -> None:
    assert Money(100, "USD") != Money(100, "EUR")


def test_money_with_anything_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Money(100, "USD") + 1  # type: ignore[operator]
