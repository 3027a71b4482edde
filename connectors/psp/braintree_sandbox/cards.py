"""Braintree's published test values and the behaviours they trigger.

Everything here comes from Braintree's public testing guide: the test card numbers, the
fake nonces, and the amount ranges that simulate declines and failures. The sandbox
accepts nothing else, so a real card number cannot be typed into a demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Outcome = Literal["approve", "processor_declined", "failed"]

#: Published Braintree test card numbers -> the outcome of a sale made with them.
TEST_CARD_OUTCOMES: dict[str, Outcome] = {
    "4111111111111111": "approve",
    "4005519200000004": "approve",
    "4009348888881881": "approve",
    "4012000033330026": "approve",
    "4012000077777777": "approve",
    "4012888888881881": "approve",
    "4217651111111119": "approve",
    "4500600000000061": "approve",
    "5555555555554444": "approve",
    "2223000048400011": "approve",
    "378282246310005": "approve",
    "371449635398431": "approve",
    "6011111111111117": "approve",
    "3530111333300000": "approve",
    "6304000000000000": "approve",
    # Braintree's "unsuccessful verification" numbers; the sandbox declines sales with them too.
    "4000111111111115": "processor_declined",
    "5105105105105100": "processor_declined",
    "378734493671000": "processor_declined",
    "6011000990139424": "processor_declined",
    "4000111111111511": "failed",
}

ONLY_TEST_CARDS_MESSAGE = "Only Braintree test card numbers are accepted by the development sandbox"


@dataclass(frozen=True)
class CardDetails:
    """What the sandbox keeps about a card: never the full number, never the CVV."""

    bin: str
    last_4: str
    card_type: str
    expiration_month: str
    expiration_year: str
    outcome: Outcome = "approve"

    def to_dict(self) -> dict[str, str]:
        return {
            "bin": self.bin,
            "last_4": self.last_4,
            "card_type": self.card_type,
            "expiration_month": self.expiration_month,
            "expiration_year": self.expiration_year,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> CardDetails:
        outcome = data.get("outcome", "approve")
        if outcome not in ("approve", "processor_declined", "failed"):
            outcome = "approve"
        return cls(
            bin=data["bin"],
            last_4=data["last_4"],
            card_type=data["card_type"],
            expiration_month=data["expiration_month"],
            expiration_year=data["expiration_year"],
            outcome=outcome,  # type: ignore[arg-type]
        )


def card_type_for(number: str) -> str:
    """Brand name as Braintree spells it, from the leading digits."""
    if number.startswith(("34", "37")):
        return "American Express"
    if number.startswith("6304"):
        return "Maestro"
    if number.startswith(("6011", "65")):
        return "Discover"
    if number.startswith("35"):
        return "JCB"
    if number.startswith("4"):
        return "Visa"
    if number.startswith(("5", "2")):
        return "MasterCard"
    return "Unknown"


def describe_test_card(number: str, month: str, year: str) -> CardDetails | None:
    """Card details for a published test number, or None for any other number."""
    outcome = TEST_CARD_OUTCOMES.get(number)
    if outcome is None:
        return None
    return CardDetails(
        bin=number[:6],
        last_4=number[-4:],
        card_type=card_type_for(number),
        expiration_month=month,
        expiration_year=year,
        outcome=outcome,
    )


def _fake(bin_: str, last_4: str, card_type: str, outcome: Outcome = "approve") -> CardDetails:
    return CardDetails(bin_, last_4, card_type, "12", "2030", outcome)


#: Braintree's static test nonces (usable any number of times, like in Braintree's sandbox).
FAKE_NONCES: dict[str, CardDetails] = {
    "fake-valid-nonce": _fake("401288", "1881", "Visa"),
    "fake-valid-visa-nonce": _fake("401288", "1881", "Visa"),
    "fake-valid-mastercard-nonce": _fake("555555", "4444", "MasterCard"),
    "fake-valid-amex-nonce": _fake("378282", "0005", "American Express"),
    "fake-valid-discover-nonce": _fake("601111", "1117", "Discover"),
    "fake-processor-declined-visa-nonce": _fake("400011", "1115", "Visa", "processor_declined"),
    "fake-processor-declined-mastercard-nonce": _fake(
        "510510", "5100", "MasterCard", "processor_declined"
    ),
    "fake-processor-failure-visa-nonce": _fake("400011", "1511", "Visa", "failed"),
}

#: A nonce Braintree documents as already consumed.
CONSUMED_NONCE = "fake-consumed-nonce"

PROCESSOR_RESPONSES: dict[int, tuple[str, str]] = {
    1000: ("Approved", "approved"),
    2000: ("Do Not Honor", "soft_declined"),
    2001: ("Insufficient Funds", "soft_declined"),
    2002: ("Limit Exceeded", "soft_declined"),
    2003: ("Cardholder's Activity Limit Exceeded", "soft_declined"),
    2004: ("Expired Card", "hard_declined"),
    2005: ("Invalid Credit Card Number", "hard_declined"),
    2006: ("Invalid Expiration Date", "hard_declined"),
    2010: ("Card Issuer Declined CVV", "hard_declined"),
    2014: ("Processor Declined - Fraud Suspected", "hard_declined"),
    2015: ("Transaction Not Allowed", "hard_declined"),
    2038: ("Processor Declined", "soft_declined"),
    2044: ("Declined - Call Issuer", "hard_declined"),
    2046: ("Declined", "soft_declined"),
    2047: ("Call Issuer. Pick Up Card", "hard_declined"),
    3000: ("Processor Network Unavailable - Try Again", "soft_declined"),
}


@dataclass(frozen=True)
class Authorization:
    """The simulated processor's answer to one sale."""

    status: str
    code: int
    text: str
    response_type: str
    gateway_rejection_reason: str | None = None


def authorize(amount: Decimal, card: CardDetails) -> Authorization:
    """Apply Braintree's test behaviours: the card's outcome first, then the amount ranges."""
    if card.outcome == "processor_declined":
        return _response("processor_declined", 2000)
    if card.outcome == "failed":
        return _response("failed", 3000)
    if Decimal("2000.00") <= amount < Decimal("3000.00"):
        return _response("processor_declined", int(amount))
    if Decimal("3000.00") <= amount < Decimal("3001.00"):
        return _response("failed", 3000)
    if amount == Decimal("5001.00"):
        return Authorization(
            "gateway_rejected", 1000, "Approved", "approved", "application_incomplete"
        )
    return _response("authorized", 1000)


def _response(status: str, code: int) -> Authorization:
    text, response_type = PROCESSOR_RESPONSES.get(code, ("Processor Declined", "soft_declined"))
    return Authorization(status, code, text, response_type)


def settlement_declines(amount: Decimal) -> bool:
    """Braintree declines settlement of 4001.00-4001.99 and 4003.00-5000.99."""
    return Decimal("4001.00") <= amount < Decimal("4002.00") or (
        Decimal("4003.00") <= amount < Decimal("5001.00")
    )
