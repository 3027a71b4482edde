"""Braintree's static test nonces, and only those (braintree_python ``braintree/test/nonces.py``).

Each behaves as Braintree's docs ("Testing > Payment method nonces") and the SDK's tests
describe it: ``fake-valid-*`` nonces transact (the outcome then follows the test amount),
``fake-processor-declined-*`` decline with 2000, ``fake-processor-failure-jcb-nonce``
fails with 3000, ``fake-gateway-rejected-fraud-nonce`` is gateway rejected for fraud,
``fake-luhn-invalid-nonce`` is a card number validation error and ``fake-consumed-nonce``
has already been used. Static nonces can be used any number of times, as in Braintree's
sandbox. The card details are taken from the published test card of the same brand
(``braintree/test/credit_card_numbers.py``). The static 3-D Secure nonces
(``ThreeDSecure*``) carry the 3DS info Braintree documents for them
(``three_d_secure_results.py``). The wallet nonces (PayPal, Venmo, Apple Pay, Google
Pay) are in ``wallet_nonces.py``; bank account nonces are not simulated and are refused
as unknown.
"""

from __future__ import annotations

from .cards import CardDetails, Outcome
from .three_d_secure_results import THREE_D_SECURE_NONCES

__all__ = ["CONSUMED_NONCE", "FAKE_NONCES"]


def _card(bin_: str, last_4: str, card_type: str, outcome: Outcome = "approve") -> CardDetails:
    return CardDetails(bin_, last_4, card_type, "12", "2030", outcome)


_VISA = ("401288", "1881", "Visa")  # CreditCardNumbers.Visa

FAKE_NONCES: dict[str, CardDetails] = {
    "fake-valid-nonce": _card(*_VISA),
    "fake-valid-visa-nonce": _card(*_VISA),
    "fake-valid-mastercard-nonce": _card("555555", "4444", "MasterCard"),
    "fake-valid-amex-nonce": _card("378282", "0005", "American Express"),
    "fake-valid-discover-nonce": _card("601111", "1117", "Discover"),
    "fake-valid-jcb-nonce": _card("353011", "0000", "JCB"),
    "fake-valid-maestro-nonce": _card("630400", "0000", "Maestro"),
    "fake-valid-debit-nonce": _card("411710", "1010", "Visa"),  # CardTypeIndicators.Debit
    "fake-valid-prepaid-nonce": _card("411111", "1210", "Visa"),  # CardTypeIndicators.Prepaid
    "fake-valid-commercial-nonce": _card("411111", "1010", "Visa"),
    "fake-processor-declined-visa-nonce": _card("400011", "1115", "Visa", "processor_declined"),
    "fake-processor-declined-mastercard-nonce": _card(
        "510510", "5100", "MasterCard", "processor_declined"
    ),
    "fake-processor-declined-amex-nonce": _card(
        "378734", "1000", "American Express", "processor_declined"
    ),
    "fake-processor-declined-discover-nonce": _card(
        "601100", "9424", "Discover", "processor_declined"
    ),
    "fake-processor-failure-jcb-nonce": _card("353011", "0000", "JCB", "failed"),
    "fake-gateway-rejected-fraud-nonce": _card(*_VISA, "gateway_rejected_fraud"),
    "fake-luhn-invalid-nonce": _card(*_VISA, "luhn_invalid"),
    **THREE_D_SECURE_NONCES,
}

#: Braintree's nonce that is already consumed (``Nonces.Consumed``).
CONSUMED_NONCE = "fake-consumed-nonce"
