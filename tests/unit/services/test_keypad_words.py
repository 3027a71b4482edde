"""The agent's words for a keypad capture's status updates."""

from __future__ import annotations

import re

import pytest

from crm_pay.ports import KeypadStatus
from crm_pay.services.keypad_words import progress_of

PAY, CALL = "PK" + "c" * 32, "CA" + "b" * 32


def _status(**kw) -> KeypadStatus:
    return KeypadStatus(capture_id=PAY, call_id=CALL, **kw)


def test_digits_keyed_so_far_are_counted_not_shown():
    p = progress_of(_status(field="payment-card-number", partial=True, masked="xxxxxxxxxxxx"))
    assert p.words == "Card number: 12 of 16 digits entered"
    assert not p.done and not re.search(r"\d{5}", p.words)


def test_american_express_has_fifteen_digits():
    p = progress_of(
        _status(field="payment-card-number", partial=True, masked="xxxxxx", card_brand="amex")
    )
    assert p.words == "Card number: 6 of 15 digits entered"


def test_a_finished_card_number_shows_the_last_four_only():
    p = progress_of(_status(field="payment-card-number", masked="xxxxxxxxxxxx1111"))
    assert p.done and p.words == "Card number ✓ (xxxxxxxxxxxx1111)"


@pytest.mark.parametrize(
    ("field", "words"), [("expiration-date", "Expiry ✓"), ("security-code", "Security code ✓")]
)
def test_other_fields_tick(field, words):
    assert progress_of(_status(field=field)).words == words


def test_an_invalid_card_number_asks_again_in_plain_words():
    p = progress_of(_status(field="payment-card-number", error="invalid-card-number"))
    assert p.words == "Card number: that card number is not valid, ask for it again"
    assert not p.done and not p.ended


def test_an_unknown_error_type_gets_generic_words_not_the_raw_text():
    p = progress_of(_status(field="security-code", error="weird-internal-thing"))
    assert "weird" not in p.words and "ask for it again" in p.words


@pytest.mark.parametrize(
    ("result", "done", "fragment"),
    [
        ("success", True, "accepted"),
        ("caller-interrupted-with-star", False, "pressed *"),
        ("input-timeout", False, "in time"),
        ("something-new", False, "send a pay link"),
    ],
)
def test_the_end_of_a_capture_says_what_happened(result, done, fragment):
    p = progress_of(_status(result=result))
    assert p.ended and p.done is done and fragment in p.words
