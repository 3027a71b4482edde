"""Decline advice keyed on crm-pay's own categories: plain words from a whitelist, the
same whichever PSP declined (each adapter maps its codes to a category; Braintree's
mapping is tested in tests/unit/connectors/test_psp_braintree_declines.py)."""

from __future__ import annotations

import pytest

from crm_pay.domain import DECLINE_KINDS, DeclineCategory, advice_for, fallback_category
from crm_pay.domain.declines import customer_next_step, decline_reference

# Categories where trying again with re-typed details (or after a moment) can work.
RETRYABLE = {
    DeclineCategory.CARD_DETAILS,
    DeclineCategory.SECURITY_CODE,
    DeclineCategory.ADDRESS,
    DeclineCategory.ADDRESS_AND_SECURITY_CODE,
    DeclineCategory.AUTHENTICATION_FAILED,
    DeclineCategory.NETWORK_UNAVAILABLE,
    DeclineCategory.DETAILS_NOT_ACCEPTED,
    DeclineCategory.NOT_AT_PSP,
}


@pytest.mark.parametrize("category", list(DeclineCategory))
def test_every_category_has_words_for_agent_and_customer(category: DeclineCategory) -> None:
    advice = advice_for(category, code="processor.2000")
    assert advice.category == category.value
    assert advice.message.endswith(".") and advice.next_step.endswith(".")
    assert advice.retryable is (category in RETRYABLE)
    words = customer_next_step(category.value)
    assert words.endswith(".") and "the customer" not in words and "their" not in words


def test_insufficient_funds() -> None:
    advice = advice_for("insufficient_funds", code="processor.2001")
    assert advice.code == "processor.2001"
    assert advice.message == "The card issuer declined the payment for insufficient funds."
    assert advice.next_step == "Ask the customer to use another card or contact their bank."
    assert advice.retryable is False
    assert customer_next_step("insufficient_funds") == (
        "Please try another card, or contact your bank."
    )


def test_card_not_usable_does_not_announce_lost_stolen_or_fraud() -> None:
    advice = advice_for(DeclineCategory.CARD_NOT_USABLE, code="processor.2013")
    text = f"{advice.message} {advice.next_step}".lower()
    assert "stolen" not in text and "lost" not in text and "fraud" not in text


def test_unknown_category_never_suggests_charging_again() -> None:
    advice = advice_for("surprise", code="whatever.1")
    assert advice.category == "outcome_unknown"
    assert advice.retryable is False
    assert "charged twice" in advice.next_step
    assert customer_next_step(None) == customer_next_step("surprise")
    assert "until we confirm" in customer_next_step(None)


@pytest.mark.parametrize(
    "code", ["Do Not Honor <b>call 555</b>", "processor.９９９", "x" * 80, "gateway.Fraud text"]
)
def test_a_code_of_any_other_shape_is_not_echoed(code: str) -> None:
    assert advice_for("issuer_declined", code=code).code == "unknown"


def test_each_kind_has_a_generic_category() -> None:
    for kind in DECLINE_KINDS:
        assert advice_for(fallback_category(kind), code=kind).message
    assert fallback_category("failed") is DeclineCategory.NETWORK_UNAVAILABLE
    assert fallback_category("settlement") is DeclineCategory.SETTLEMENT_DECLINED
    assert fallback_category("weird") is DeclineCategory.OUTCOME_UNKNOWN


@pytest.mark.parametrize(
    ("kind", "code", "reference"),
    [
        ("processor", "51", "processor.51"),
        ("gateway", "Card_Declined", "gateway.card_declined"),
        ("validation", "Credit card number 4111111111111111 invalid", "validation.other"),
        ("not_at_psp", "", "not_at_psp"),
        ("surprise", "2001", "unknown"),
    ],
)
def test_decline_reference_keeps_only_safe_codes(kind: str, code: str, reference: str) -> None:
    assert decline_reference(kind, code) == reference


def test_a_payment_that_never_reached_the_psp_says_no_money_was_taken() -> None:
    advice = advice_for(DeclineCategory.NOT_AT_PSP, code="not_at_psp")
    assert advice.code == "not_at_psp"
    assert "No money was taken" in advice.message
    assert advice.retryable
    assert customer_next_step("not_at_psp") == "No money was taken. Please try again."
