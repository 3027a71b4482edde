"""Braintree's published test card numbers and the amount ranges that simulate outcomes.

Sources: Braintree docs "Testing" (developer.paypal.com/braintree/docs/reference/general/
testing: test card numbers, the transaction amount table) and braintree_python
``braintree/test/credit_card_numbers.py``. The sandbox accepts nothing else, so a real card
number cannot be typed into a demo. The fake nonces live in ``nonces.py``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

#: What a payment method does when charged. ``gateway_rejected_fraud`` and
#: ``luhn_invalid`` come from fake nonces (see ``nonces.py``); ``dispute`` is the
#: chargeback card of ``credit_card_numbers.py`` (``Disputes.Chargeback``).
Outcome = Literal[
    "approve", "processor_declined", "failed", "gateway_rejected_fraud", "luhn_invalid", "dispute"
]
_OUTCOMES = frozenset(get_args(Outcome))

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
    # braintree_python test/credit_card_numbers.py Disputes.Chargeback: a sale with it
    # comes back with an open chargeback (tests/integration/test_disputes.py
    # ::create_sample_dispute reads ``transaction.disputes[0]``).
    "4023898493988028": "dispute",
    # Braintree docs "3D Secure > Testing and Go Live" (developer.paypal.com/braintree/
    # docs/guides/3d-secure/testing-go-live): the 3DS 2 test cards, published there as
    # Braintree sandbox test numbers (braintree_python's credit_card_numbers.py does not
    # list them; Braintree's newer "3D Secure > Testing" page lists another series, not
    # simulated here yet). They charge like any test card; what their 3-D Secure check
    # gives is in three_d_secure_results.py.
    **dict.fromkeys(
        (
            "4000000000001000",
            "4000000000001018",
            "4000000000001026",
            "4000000000001034",
            "4000000000001042",
            "4000000000001059",
            "4000000000001067",
            "4000000000001075",
            "4000000000001083",
            "4000000000001091",
            "4000000000001109",
            "4000000000001117",
            "4000000000001125",
            "5200000000001005",
            "5200000000001013",
            "340000000001007",
            "340000000001015",
        ),
        "approve",
    ),
}

ONLY_TEST_CARDS_MESSAGE = "Only Braintree test card numbers are accepted by the development sandbox"


#: "Not provided": the answer to a check that had nothing to check (braintree_python
#: tests/integration/test_credit_card.py asserts cvv_response_code and avs_postal_code_
#: response_code "I" for a card verified without a CVV or billing postal code).
NOT_PROVIDED = "I"


def cvv_response_code(cvv: str) -> str:
    """The CVV answer Braintree's sandbox gives for a test CVV (Braintree docs "Testing >
    AVS and CVV/CID responses": 200 does not match, 201 is not verified, 301 the issuer
    does not participate, any other value matches; braintree_python tests/integration/
    test_transaction.py charges with CVV "200" for a CVV rejection and "301" for "S")."""
    if not cvv:
        return NOT_PROVIDED
    return {"200": "N", "201": "U", "301": "S"}.get(cvv, "M")


def postal_code_response_code(postal_code: str | None) -> str:
    """The AVS postal code answer for a test billing postal code (same docs: 20000 does
    not match, 20001 is not verified, any other value matches; test_transaction.py
    sends postal code "20000" with CVV "200" for an AVS-and-CVV rejection)."""
    text = str(postal_code or "").strip()
    if not text:
        return NOT_PROVIDED
    return {"20000": "N", "20001": "U"}.get(text, "M")


@dataclass(frozen=True)
class CardDetails:
    """What the sandbox keeps about a card: never the full number, never the CVV (only
    the answer its check gave)."""

    bin: str
    last_4: str
    card_type: str
    expiration_month: str
    expiration_year: str
    outcome: Outcome = "approve"
    cvv_response_code: str = NOT_PROVIDED
    avs_postal_code_response_code: str = NOT_PROVIDED
    # The nonce's 3-D Secure info as JSON text ("": not 3-D Secured); see
    # three_d_secure_results.py. Dropped when the card is vaulted, as at Braintree.
    three_d_secure: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "bin": self.bin,
            "last_4": self.last_4,
            "card_type": self.card_type,
            "expiration_month": self.expiration_month,
            "expiration_year": self.expiration_year,
            "outcome": self.outcome,
            "cvv_response_code": self.cvv_response_code,
            "avs_postal_code_response_code": self.avs_postal_code_response_code,
            "three_d_secure": self.three_d_secure,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> CardDetails:
        outcome = data.get("outcome", "approve")
        if outcome not in _OUTCOMES:
            outcome = "approve"
        return cls(
            bin=data["bin"],
            last_4=data["last_4"],
            card_type=data["card_type"],
            expiration_month=data["expiration_month"],
            expiration_year=data["expiration_year"],
            outcome=outcome,  # type: ignore[arg-type]
            cvv_response_code=data.get("cvv_response_code", NOT_PROVIDED),
            avs_postal_code_response_code=data.get("avs_postal_code_response_code", NOT_PROVIDED),
            three_d_secure=data.get("three_d_secure", ""),
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


#: Braintree docs "Processor responses > Authorization responses": code -> (text, type).
PROCESSOR_RESPONSES: dict[int, tuple[str, str]] = {
    1000: ("Approved", "approved"),
    1002: ("Processed", "approved"),
    1005: ("Auth Declined but Settlement Captured", "approved"),
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
    """Apply Braintree's test behaviours: the card's outcome first, then the amount ranges
    (Braintree docs "Testing > Transaction amounts", whatever the currency)."""
    if card.outcome == "gateway_rejected_fraud":
        # Nonces.GatewayRejectedFraud: gateway_rejected with reason "fraud".
        return Authorization("gateway_rejected", 1000, "Approved", "approved", "fraud")
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


def refund_authorization(amount: Decimal) -> Authorization:
    """A refund's answer. braintree_python tests/integration/test_transaction.py::
    test_refund_returns_an_error_if_hard_declined (refund of 2004.00: processor_declined,
    hard_declined) and ::test_refund_returns_an_success_with_error_in_processor_response_
    if_soft_declined (2046.00: success, submitted_for_settlement, approved); the soft case
    answers 1005 "Auth Declined but Settlement Captured" (Braintree docs, Authorization
    responses). The original is in ``additional_processor_response`` as "2046 : Declined".
    """
    if Decimal("2000.00") <= amount < Decimal("3000.00"):
        declined = _response("processor_declined", int(amount))
        if declined.response_type == "hard_declined":
            return declined
        return Authorization("submitted_for_settlement", 1005, *PROCESSOR_RESPONSES[1005])
    return Authorization("submitted_for_settlement", 1002, *PROCESSOR_RESPONSES[1002])


def refund_decline_note(amount: Decimal) -> str | None:
    """``additional_processor_response`` of a refund in the decline range, else None."""
    if Decimal("2000.00") <= amount < Decimal("3000.00"):
        code = int(amount)
        return f"{code} : {_response('processor_declined', code).text}"
    return None


def _response(status: str, code: int) -> Authorization:
    text, response_type = PROCESSOR_RESPONSES.get(code, ("Processor Declined", "soft_declined"))
    return Authorization(status, code, text, response_type)


def card_fingerprint(merchant_id: str, card: CardDetails) -> str:
    """The card's ``unique_number_identifier``: the same for every use of one card number
    within a merchant's gateway (Braintree docs, Credit Card response object), 32 word
    characters (braintree_python tests/integration/test_credit_card.py). The sandbox never
    keeps the number, so it is derived from BIN, last 4 and brand, which tell the
    published test cards apart; keyed by the merchant, as Braintree's is per merchant."""
    identity = f"{card.bin}:{card.last_4}:{card.card_type}".encode()
    return hmac.new(merchant_id.encode(), identity, hashlib.sha256).hexdigest()[:32]


def card_checks(card: CardDetails, params: dict[str, Any], transaction_id: str) -> dict[str, Any]:
    """The AVS/CVV answers and risk data of a sale with ``card``.

    ``cvv_response_code`` and ``avs_postal_code_response_code`` are those of the test
    values the card was tokenized with (see :func:`cvv_response_code`); no street address
    is collected by the hosted fields, so its answer is "I". ``risk_data`` is sent, as by a
    merchant with Braintree's fraud tools, when the sale carries ``device_data`` (braintree_
    python tests/integration/test_transaction.py::test_sale_returns_risk_data sends
    ``device_data`` and reads ``risk_data.id`` and ``decision``): "Decline" for the fraud
    nonce (gateway rejected for fraud), "Approve" otherwise. No documented test value
    gives "Review", so the sandbox never does."""
    checks: dict[str, Any] = {
        "cvv_response_code": card.cvv_response_code,
        "avs_postal_code_response_code": card.avs_postal_code_response_code,
        "avs_street_address_response_code": NOT_PROVIDED,
        "avs_error_response_code": None,
    }
    if params.get("device_data"):
        decision = "Decline" if card.outcome == "gateway_rejected_fraud" else "Approve"
        checks["risk_data"] = {
            "id": "risk_" + transaction_id,
            "decision": decision,
            "device_data_captured": True,
            "fraud_service_provider": "fraud_protection",
        }
    return checks
