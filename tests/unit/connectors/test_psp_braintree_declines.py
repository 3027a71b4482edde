"""Braintree's decline codes mapped to crm-pay's categories (connectors/psp/
braintree_mapping.py): plain words from a whitelist, never the processor's own text.

Moved here from tests/unit/domain when the domain stopped knowing Braintree's codes."""

from __future__ import annotations

import pytest

from connectors.psp.braintree_mapping import category_of_reference, classify_decline
from crm_pay.domain import DECLINE_KINDS, DeclineAdvice
from crm_pay.domain.declines import customer_next_step as next_step_of_category


def advise(kind: str, code: str) -> DeclineAdvice:
    """What the services show for a Braintree decline of ``kind`` with ``code``."""
    return classify_decline(kind, code).advice()


def customer_next_step(reference: str) -> str:
    """The customer's words for a stored reference, through its category."""
    return next_step_of_category(category_of_reference(reference))


# A few of Braintree's published processor response texts: none may reach a person.
BRAINTREE_TEXTS = {
    "2000": "Do Not Honor",
    "2001": "Insufficient Funds",
    "2004": "Expired Card",
    "2013": "Processor Declined – Possible Stolen Card",
    "2038": "Processor Declined",
    "2046": "Declined",
    "2057": "Issuer or Cardholder has put a restriction on the card",
}


@pytest.mark.parametrize("code", range(2000, 3000))
def test_every_processor_decline_has_plain_advice(code: int) -> None:
    advice = advise("processor", str(code))
    assert advice.message.endswith(".") and advice.next_step.endswith(".")
    assert advice.code == f"processor.{code}"
    raw = BRAINTREE_TEXTS.get(str(code))
    if raw is not None:
        assert raw.lower() not in {advice.message.lower().rstrip("."), advice.category}
    # Declines of the card itself are final: only re-typed details are worth a retry.
    assert not advice.retryable or advice.category in {
        "card_details",
        "security_code",
        "address",
        "address_and_security_code",
    }


def test_processor_messages_come_from_a_short_whitelist() -> None:
    # A thousand codes share a couple of dozen sentences: no per-code processor wording.
    messages = {advise("processor", str(code)).message for code in range(2000, 3000)}
    assert len(messages) <= 25


def test_insufficient_funds() -> None:
    advice = advise("processor", "2001")
    assert advice.category == "insufficient_funds"
    assert advice.message == "The card issuer declined the payment for insufficient funds."
    assert advice.next_step == "Ask the customer to use another card or contact their bank."
    assert advice.retryable is False


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("2000", "issuer_declined"),
        ("2002", "limit_exceeded"),
        ("2004", "expired_card"),
        ("2005", "card_details"),
        ("2010", "security_code"),
        ("2015", "card_restricted"),
        ("2038", "issuer_declined"),
        ("2044", "call_issuer"),
        ("2046", "issuer_declined"),
        ("2057", "card_restricted"),
        ("2059", "address"),
    ],
)
def test_processor_families(code: str, category: str) -> None:
    assert advise("processor", code).category == category


def test_lost_or_stolen_card_is_not_announced() -> None:
    for code in ("2012", "2013", "2014", "2047", "2053"):
        advice = advise("processor", code)
        assert advice.category == "card_not_usable"
        text = f"{advice.message} {advice.next_step}".lower()
        assert "stolen" not in text and "lost" not in text and "fraud" not in text


def test_unlisted_processor_code_gets_the_generic_decline() -> None:
    advice = advise("processor", "2789")
    assert advice.code == "processor.2789"
    assert advice.category == "issuer_declined"
    assert advice.message == "The card issuer declined the payment."


def test_network_unavailable_can_be_retried() -> None:
    advice = advise("processor", "3000")
    assert advice.category == "network_unavailable"
    assert advice.retryable is True
    assert "try again" in advice.next_step.lower()


@pytest.mark.parametrize(
    ("reason", "category", "retryable"),
    [
        ("cvv", "security_code", True),
        ("avs", "address", True),
        ("avs_and_cvv", "address_and_security_code", True),
        ("fraud", "not_approved", False),
        ("risk_threshold", "not_approved", False),
        ("duplicate", "duplicate", False),
        ("three_d_secure", "authentication_failed", True),
        ("application_incomplete", "merchant_setup", False),
        ("CVV", "security_code", True),
    ],
)
def test_gateway_rejections(reason: str, category: str, retryable: bool) -> None:
    advice = advise("gateway", reason)
    assert advice.category == category
    assert advice.retryable is retryable
    assert advice.code == f"gateway.{reason.lower()}"


def test_fraud_rejection_does_not_accuse_the_customer() -> None:
    advice = advise("gateway", "fraud")
    assert "fraud" not in f"{advice.message} {advice.next_step}".lower()


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("processor", "Do Not Honor <b>call 555</b>"),
        ("processor", "９９９"),
        ("gateway", "Gateway Rejected: something internal"),
        ("validation", "Credit card number is invalid 4111111111111111"),
        ("settlement", "settlement_declined: text from the bank"),
        ("weird-kind", "2001"),
    ],
)
def test_raw_text_never_comes_back(kind: str, code: str) -> None:
    advice = advise(kind, code)
    for field in (advice.code, advice.category, advice.message, advice.next_step):
        assert code not in field
        assert "4111" not in field and "555" not in field and "internal" not in field


def test_unknown_kind_never_suggests_charging_again() -> None:
    advice = advise("unknown", "")
    assert advice.code == "unknown"
    assert advice.retryable is False
    assert "charged twice" in advice.next_step
    assert advise("surprise", "2001") == advice


def test_each_kind_has_a_generic_fallback() -> None:
    for kind in DECLINE_KINDS:
        advice = advise(kind, "not-a-code")
        assert advice.message and advice.next_step
        # a failed sale carries a processor code: kept as processor.*
        assert advice.code in {f"{kind}.other", "unknown", "not_at_psp", "processor.other"}


def test_validation_and_settlement_keep_numeric_codes() -> None:
    assert advise("validation", "81736").code == "validation.81736"
    assert advise("validation", "81736").retryable is True
    settlement = advise("settlement", "4001")
    assert settlement.code == "settlement.4001"
    assert settlement.retryable is False


def test_customer_next_step_speaks_to_the_customer() -> None:
    assert customer_next_step("processor.2001") == "Please try another card, or contact your bank."
    assert "code on your card" in customer_next_step("gateway.cvv")
    assert customer_next_step("processor.3000").startswith("No money was taken")
    for code in ("processor.2004", "gateway.avs", "unknown", "nonsense", ""):
        words = customer_next_step(code)
        assert words and "the customer" not in words and "their" not in words


def test_a_payment_that_never_reached_the_psp_says_no_money_was_taken() -> None:
    advice = advise("not_at_psp", "")
    assert advice.code == "not_at_psp"
    assert "No money was taken" in advice.message
    assert advice.retryable
    assert customer_next_step("not_at_psp") == "No money was taken. Please try again."
