"""Card numbers are caught however a person types them, and ordinary numbers are not.

Only Braintree's published test card numbers are written here; every other Luhn-valid
number is built at run time from a random body and its computed check digit.
"""

from __future__ import annotations

import base64
import logging
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault import REDACTED_PAN, PanRedactingFilter, contains_pan, find_pans, redact, redact_obj

# Braintree's published sandbox test cards: braintree_python
# braintree/test/credit_card_numbers.py and braintree_ruby lib/braintree/test/credit_card.rb
# (Test::CreditCardNumbers: AmExes, CarteBlanches, DinersClubs, Discovers, JCBs, Maestro,
# MasterCards, Visas), and Braintree docs "Testing > Credit card numbers" (2223000048400011).
BRAINTREE_TEST_CARDS = [
    "4111111111111111",
    "4012888888881881",
    "4500600000000061",
    "5555555555554444",
    "5105105105105100",
    "2223000048400011",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "3566002020360505",
    "38520000023237",
    "30569309025904",
    "6304000000000000",
]
VISA = BRAINTREE_TEST_CARDS[0]

# Spelled out here rather than imported from vault.pan, so the test is an independent
# statement of what a person (or their keyboard, phone or word processor) puts between
# the digits of a card number.
SPACES = [
    " ",
    "\t",
    "\n",
    "\r",
    "\u00a0",  # no-break space
    "\u202f",  # narrow no-break space (French thousands separator)
    "\u2009",  # thin space
    "\u2002",  # en space
    "\u2007",  # figure space
    "\u200a",  # hair space
    "\u205f",  # medium mathematical space
    "\u3000",  # ideographic space
]
INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space (BOM)
    "\u00ad",  # soft hyphen
]
PUNCTUATION = [
    "-",
    ".",
    "/",
    "_",
    "\u2010",  # hyphen
    "\u2011",  # non-breaking hyphen
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\u2212",  # minus sign
    "\uff0d",  # full-width hyphen-minus
    "\uff0e",  # full-width full stop
    "\uff0f",  # full-width solidus
    "\uff3f",  # full-width low line
]
SEPARATORS = SPACES + INVISIBLE + PUNCTUATION
# The zero of every Unicode decimal-digit block (ASCII, full-width, Arabic-Indic,
# Devanagari, Thai, mathematical bold...): Unicode keeps each block's 0-9 contiguous.
DIGIT_ZEROS = [
    code
    for code in range(0x110000)
    if unicodedata.category(chr(code)) == "Nd" and unicodedata.decimal(chr(code)) == 0
]
# Prefixes of the brands PCI DSS covers (Visa, Mastercard, Amex, Discover, JCB, Diners...).
CARD_PREFIXES = ["4", "51", "55", "2221", "2720", "34", "37", "6011", "65", "35", "36"]


def with_check_digit(body: str) -> str:
    """Append the Luhn check digit to ``body``."""
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str(-total % 10)


def luhn_ok(digits: str) -> bool:
    return with_check_digit(digits[:-1]) == digits


def ascii_digits(text: str) -> str:
    """``text`` with Unicode digits written as ASCII and the separators above dropped."""
    kept = (char for char in text if char not in SEPARATORS)
    return "".join(
        str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c for c in kept
    )


@st.composite
def generated_cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(CARD_PREFIXES))
    length = draw(st.integers(13, 19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1 - len(prefix), max_size=18))
    return with_check_digit((prefix + body)[: length - 1])


cards = st.sampled_from(BRAINTREE_TEST_CARDS) | generated_cards()
separator_runs = st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=4).map("".join)


@st.composite
def typed(draw: st.DrawFn, card: str) -> str:
    """``card`` as a person might type it: random separators, random digit forms."""
    one_script = draw(st.booleans())
    zero = draw(st.sampled_from(DIGIT_ZEROS))
    pieces = []
    for index, char in enumerate(card):
        if index and draw(st.integers(0, 3)) == 0:
            pieces.append(draw(separator_runs))
        digit_zero = zero if one_script else draw(st.sampled_from(DIGIT_ZEROS))
        pieces.append(chr(digit_zero + int(char)))
    return "".join(pieces)


# Surrounding text holds no digits, and no "+" or hex letters: a "+" right before a
# number of up to 15 digits makes it a phone number, and hex letters could complete a
# UUID, the two shapes the detector leaves alone on purpose (tested below).
plain_text = st.text(
    alphabet=st.characters(
        exclude_categories=("Nd", "Cs"), exclude_characters="+\uff0babcdefABCDEF"
    ),
    max_size=20,
)


@pytest.mark.parametrize(
    "spelled",
    [
        "4111  1111  1111  1111",
        "4111\t1111\t1111\t1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111\u202f1111\u202f1111\u202f1111",
        "4111\u20091111\u20091111\u20091111",
        "4111\u200b1111\u200c1111\u200d1111",
        "4111\u20601111\u00ad1111\ufeff1111",
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "4111 - 1111 - 1111 - 1111",
        "4111 / 1111 _ 1111 . 1111",
        "4111\n1111\n1111\n1111",
        "\u200b".join(VISA),
        "４１１１\u3000１１１１\u3000１１１１\u3000１１１１",
        "٤١١١ ١١١١ ١١١١ ١١١١",
        "४१११-११११-११११-११११",
        "4111 ١١١١ １１１１ 1111",
    ],
    ids=[
        "double-spaces",
        "tabs",
        "no-break-space",
        "narrow-no-break-space",
        "thin-space",
        "zero-width-space-non-joiner-joiner",
        "word-joiner-soft-hyphen-bom",
        "slashes",
        "underscores",
        "spaced-hyphens",
        "mixed",
        "line-breaks",
        "zero-width-between-every-digit",
        "full-width",
        "arabic-indic",
        "devanagari",
        "mixed-scripts",
    ],
)
def test_each_way_of_typing_the_card_is_redacted_whole(spelled: str) -> None:
    text = f"customer read out {spelled}, exp next year"

    assert [m.digit_count for m in find_pans(text)] == [16]
    assert redact(text) == f"customer read out {REDACTED_PAN}, exp next year"


@given(cards.flatmap(lambda card: st.tuples(st.just(card), typed(card))), plain_text, plain_text)
def test_a_typed_card_is_always_found_and_redacted_alone(
    card_and_spelling: tuple[str, str], before: str, after: str
) -> None:
    card, spelled = card_and_spelling
    assert luhn_ok(card)
    text = before + spelled + after

    assert contains_pan(text)
    assert redact(text) == before + REDACTED_PAN + after
    assert [m.digit_count for m in find_pans(text)] == [len(card)]


noisy_text = st.text(alphabet=st.sampled_from([*"0123456789gxyz:;,", *SEPARATORS]), max_size=40)


@given(cards.flatmap(typed), noisy_text, noisy_text)
def test_no_card_survives_redaction_among_other_digits(
    spelled: str, before: str, after: str
) -> None:
    # The neighbours' digits may join the card's run; whichever window wins, the card
    # must not come out whole and nothing card-like may be left.
    text = f"{before} {spelled} {after}"
    card = ascii_digits(spelled)

    redacted = redact(text)

    assert contains_pan(text)
    assert not contains_pan(redacted)
    assert card not in ascii_digits(redacted)


@given(
    st.text(
        alphabet=st.sampled_from(
            [*"0123456789+af-x", "٤", "١", "４", "１", *SEPARATORS[::3]],
        ),
        max_size=80,
    )
)
def test_redacting_twice_changes_nothing(text: str) -> None:
    once = redact(text)

    assert not contains_pan(once)
    assert redact(once) == once


def test_a_16_digit_card_after_a_plus_is_still_found() -> None:
    assert redact(f"amount+{VISA}") == f"amount+{REDACTED_PAN}"
    assert redact("+4111 1111 1111 1111") == f"+{REDACTED_PAN}"


def test_international_phone_numbers_are_not_cards() -> None:
    # Luhn-valid on purpose, with a card-like leading digit: the "+" makes it E.164.
    phone = with_check_digit("491512345678")
    assert luhn_ok(phone) and len(phone) == 13
    assert find_pans(f"call {phone}")  # the same digits without the "+" are card-like

    for text in (f"call +{phone}", f"call +{phone[:2]} {phone[2:5]} {phone[5:]}"):
        assert redact(text) == text


def test_digits_of_a_uuid_are_not_a_card_but_a_card_next_to_one_is() -> None:
    digits = with_check_digit("4" + "2" * 14)
    request_id = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-8000-00000000000a"
    assert find_pans(digits)  # the same digits on their own are card-like

    assert redact(f"request {request_id} done") == f"request {request_id} done"
    assert redact(f"request {request_id} card {VISA}") == (
        f"request {request_id} card {REDACTED_PAN}"
    )


def test_redact_obj_and_the_log_filter_use_the_same_detector() -> None:
    spelled = "4111\u00a0\u00a01111/1111_1111"
    payload, hits = redact_obj({"name": f"Jane {spelled}", "lines": [f"x\t{spelled}"]})

    assert hits == 2
    assert payload == {"name": f"Jane {REDACTED_PAN}", "lines": [f"x\t{REDACTED_PAN}"]}

    record = logging.LogRecord("t", logging.INFO, "f", 1, "note %s", (spelled,), None)
    PanRedactingFilter().filter(record)
    assert record.getMessage() == f"note {REDACTED_PAN}"


def test_any_string_is_accepted_without_error() -> None:
    # Lone surrogates, control characters and huge separator runs: the detector never
    # raises (it runs inside log calls) and stays exact.
    spelled = "4111" + " \u200b" * 5_000 + "1111 1111 1111"
    text = f"\ud800\x00{spelled}\x1f"

    assert redact(text) == f"\ud800\x00{REDACTED_PAN}\x1f"
    assert redact("\ud800 \udfff 1234") == "\ud800 \udfff 1234"


# -- ordinary text -------------------------------------------------------------------

amounts = st.integers(0, 10**11).map(lambda cents: f"{cents // 100:,}.{cents % 100:02d}")
dates = st.dates(date(1900, 1, 1), date(2199, 12, 31))
date_texts = dates.flatmap(
    lambda d: st.sampled_from(
        [d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"), d.strftime("%d.%m.%Y")]
    )
)
timestamps = st.datetimes(
    datetime(1970, 1, 1),
    datetime(2199, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]),
).flatmap(
    lambda t: st.sampled_from(
        [t.isoformat(), t.isoformat(sep=" "), t.strftime("%Y%m%dT%H%M%SZ"), f"{t:%H:%M:%S.%f}"]
    )
)
epoch_millis = st.integers(10**12, 2 * 10**12 - 1).map(str)  # 2001-09-09 .. 2033-05-18


def _nanp(parts: tuple[str, str]) -> list[str]:
    area, line = parts
    return [f"+1 {area} 555 {line}", f"({area}) 555-{line}", f"+1{area}555{line}"]


us_phones = st.tuples(
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True), st.from_regex(r"[0-9]{4}", fullmatch=True)
).flatmap(lambda parts: st.sampled_from(_nanp(parts)))
# Country code + national number, at most 15 digits together (E.164).
international_phones = st.tuples(
    st.sampled_from(["44", "49", "33", "39", "31", "61", "81", "353", "971", "34"]),
    st.from_regex(r"[1-9][0-9]{8,10}", fullmatch=True),
).flatmap(lambda p: st.sampled_from([f"+{p[0]}{p[1]}", f"+{p[0]} {p[1][:3]} {p[1][3:]}"]))
uuids = st.uuids().flatmap(lambda u: st.sampled_from([str(u), str(u).upper()]))
payment_ids = st.binary(min_size=15, max_size=15).map(
    lambda raw: "pay_" + base64.b32encode(raw).decode().lower()
)
receipt_numbers = st.integers(1, 999_999).map(lambda n: f"R-2026-{n:06d}")
quantities = st.integers(0, 10_000).map(str)
numbers_in_text = st.one_of(
    amounts,
    date_texts,
    timestamps,
    epoch_millis,
    us_phones,
    international_phones,
    uuids,
    payment_ids,
    receipt_numbers,
    quantities,
)
words = st.sampled_from(["paid", "on", "call", "ref", "order", "at", "id", "qty", "USD", "and"])


@given(st.lists(st.tuples(words, numbers_in_text), min_size=1, max_size=8))
def test_ordinary_numbers_in_text_are_left_alone(pairs: list[tuple[str, str]]) -> None:
    text = " ".join(f"{word} {number}" for word, number in pairs)

    assert find_pans(text) == []
    assert redact(text) == text
    assert redact_obj({"note": text}) == ({"note": text}, 0)
