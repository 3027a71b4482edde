"""Card numbers (PANs) are found and redacted in free text and JSON-like payloads."""

from __future__ import annotations

import time
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault import REDACTED_PAN, contains_pan, find_pans, redact, redact_obj

# Braintree's published test card numbers only.
VISA = "4111111111111111"
TEST_CARDS = [
    VISA,
    "5555555555554444",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "4000111111111115",
    "4005519200000004",
    "4012000033330026",
    "4012888888881881",
    "5105105105105100",
    "2223000048400011",
]


def _with_check_digit(body: str) -> str:
    """Append the Luhn check digit, to show that Luhn alone is not what rejects a number."""
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str(-total % 10)


@pytest.mark.parametrize("card", TEST_CARDS)
def test_finds_every_brand(card: str) -> None:
    assert find_pans(f"card is {card}, thanks")[0].digit_count == len(card)


@pytest.mark.parametrize(
    "text",
    [
        "customer read out 4111 1111 1111 1111 on the call",
        "customer read out 4111-1111-1111-1111 on the call",
        "customer read out 4111.1111.1111.1111 on the call",
        "customer read out 4111111111111111 on the call",
        "customer read out 3782 822463 10005 on the call",
        "ref:4111111111111111;",
        "card=4111111111111111&exp=1226",
    ],
)
def test_finds_pan_inside_text(text: str) -> None:
    matches = find_pans(text)

    assert len(matches) == 1
    assert "".join(c for c in text[matches[0].start : matches[0].end] if c.isdigit()) in (
        VISA,
        "378282246310005",
    )


def test_card_followed_by_expiry_and_cvv_is_still_found() -> None:
    # Groups are joined by single spaces, so the run has 23 digits; the card is the
    # leading 16 of them and must not escape because of what follows it.
    assert redact("4111 1111 1111 1111 1226 123") == f"{REDACTED_PAN} 1226 123"
    assert redact("4111111111111111 1226") == f"{REDACTED_PAN} 1226"


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # fails Luhn
        "4111111111111112",  # fails Luhn
        "41111111111111110000",  # 20-digit run
        "ref 12345678901234567890123",  # 23-digit run
        "account 411111111111",  # 12 digits
        "call +1 (415) 555-2671",
        "call +44 20 7946 0958 or 0044 20 7946 0958",
        "order ORD-2026-000123",
        f"order {_with_check_digit('202601150000123')}",  # Luhn-valid, but no card prefix
        f"at {_with_check_digit('173693760000')} ms",  # epoch milliseconds, Luhn-valid
        "at 2026-01-15T10:22:33.123456+00:00",
        "at 20260115T102233Z and 2026-01-15 10:22:33",
        "total 1234.56 USD for 12 items",
        "",
    ],
)
def test_ignores_numbers_that_are_not_cards(text: str) -> None:
    assert find_pans(text) == []
    assert not contains_pan(text)
    assert redact(text) == text


def test_redact_replaces_each_card_and_keeps_the_rest() -> None:
    text = "first 4111 1111 1111 1111, second 5555-5555-5555-4444. order 12345"

    assert redact(text) == f"first {REDACTED_PAN}, second {REDACTED_PAN}. order 12345"


def test_redaction_keeps_no_digits_of_the_card() -> None:
    assert "1111" not in redact(f"card {VISA}")


def test_full_width_digits_are_caught() -> None:
    full_width = "".join(chr(ord(c) - 0x30 + 0xFF10) for c in VISA)

    assert redact(f"カード {full_width} です") == f"カード {REDACTED_PAN} です"


def test_match_repr_does_not_leak_the_card() -> None:
    assert VISA not in repr(find_pans(f"card {VISA}"))


def test_redact_obj_walks_nested_payloads() -> None:
    payload = {
        "note": f"customer said {VISA}",
        "lines": [{"text": "ok"}, {"text": "4111-1111-1111-1111 and 5555555555554444"}],
        "pair": ("x", VISA),
        "amount": 1250,
        "paid": True,
        "missing": None,
    }

    redacted, hits = redact_obj(payload)

    assert hits == 4
    assert redacted == {
        "note": f"customer said {REDACTED_PAN}",
        "lines": [{"text": "ok"}, {"text": f"{REDACTED_PAN} and {REDACTED_PAN}"}],
        "pair": ("x", REDACTED_PAN),
        "amount": 1250,
        "paid": True,
        "missing": None,
    }
    assert payload["note"] == f"customer said {VISA}"  # the input is left alone


@pytest.mark.parametrize("card", TEST_CARDS)
def test_redact_obj_catches_every_test_card_wherever_it_sits(card: str) -> None:
    class Word(str):
        """A str subclass, as a ``StrEnum`` member is."""

    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    full_width = card.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    payload = OrderedDict(
        [
            (card, "as a key"),
            ("exact", card),  # a bare card: 15 or 16 characters, no room to spare
            ("spaced", [spaced]),
            ("wide", (full_width,)),
            ("sub", Word(card)),
            ("deep", {"a": [{"b": (f"x{card}x", 7, None, 1.5)}]}),
        ]
    )

    redacted, hits = redact_obj(payload)

    assert hits == 6
    assert type(redacted) is dict and card not in repr(redacted)
    assert redacted == {
        REDACTED_PAN: "as a key",
        "exact": REDACTED_PAN,
        "spaced": [REDACTED_PAN],
        "wide": (REDACTED_PAN,),
        "sub": REDACTED_PAN,
        "deep": {"a": [{"b": (f"x{REDACTED_PAN}x", 7, None, 1.5)}]},
    }


def test_redact_obj_catches_the_shortest_card_and_leaves_shorter_digits() -> None:
    thirteen = _with_check_digit("411111111111")  # 13 digits: a Visa may be that short
    assert redact_obj({"a": thirteen, "b": thirteen[:12]}) == (
        {"a": REDACTED_PAN, "b": thirteen[:12]},
        1,
    )


def test_redact_obj_without_cards_counts_zero() -> None:
    payload = {"a": ["b", 1, {"c": "2026-01-15"}]}

    assert redact_obj(payload) == (payload, 0)


@pytest.mark.parametrize(
    "text",
    [
        "no digits at all in this line of text. " * 256,
        "order 123 amount 45.67 on 2026-01-15 phone +1 415 555 2671; " * 170,
    ],
    ids=["no_digits", "short_numbers"],
)
def test_scanning_10kb_is_fast(text: str) -> None:
    text = text[:10240]
    started = time.perf_counter()
    for _ in range(100):
        redact(text)
    per_call = (time.perf_counter() - started) / 100

    # Measured around 5 us (no digits) and 0.5 ms (digit-dense); the bound leaves room
    # for slow CI machines while still catching a regex that backtracks.
    assert per_call < 0.02


@given(st.text(alphabet="0123456789 .-x", max_size=80))
def test_redacted_text_never_holds_a_card(text: str) -> None:
    assert not contains_pan(redact(text))


@given(
    st.sampled_from(TEST_CARDS),
    st.text(alphabet="abc :;,/()", max_size=10),
    st.text(alphabet="abc :;,/()", max_size=10),
)
def test_a_card_between_non_digits_is_always_found(card: str, before: str, after: str) -> None:
    assert redact(f"{before}{card}{after}") == f"{before}{REDACTED_PAN}{after}"
