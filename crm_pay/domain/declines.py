"""Why a payment was declined, in plain words, and what to try next.

Only the texts written here ever reach an agent or a customer: the PSP's own response
text is never shown, and the PSP's code is kept only if it matches a whitelisted shape
(digits, or a gateway reason we know), so nothing a processor sends can be echoed.

Public API::

    DeclineAdvice(code, category, message, next_step, retryable)
    advise(kind: str, code: str) -> DeclineAdvice

``kind`` is one of ``processor`` (Braintree processor response codes 2000–2999, and 3000
for the processor network), ``gateway`` (gateway rejection reasons such as ``cvv``),
``validation`` (the payment details were refused before reaching the card network),
``settlement`` (approved, then not settled), ``not_at_psp`` (the PSP never saw the
attempt) or ``unknown``; any other kind is treated as
``unknown``. ``retryable`` says whether trying the same payment again, with at most the
typed details corrected, has a fair chance of working; it is never True when a second
attempt could take the money twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DeclineAdvice", "DECLINE_KINDS", "advise", "customer_next_step"]

DECLINE_KINDS: Final = frozenset(
    {"processor", "gateway", "validation", "settlement", "not_at_psp", "unknown"}
)


@dataclass(frozen=True, slots=True)
class DeclineAdvice:
    """What to tell the agent and the customer about a decline.

    ``code`` is stable and safe to log and show (e.g. ``processor.2001``, ``gateway.cvv``,
    ``processor.other``); ``category`` groups codes that call for the same next step.
    """

    code: str
    category: str
    message: str
    next_step: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class _Words:
    message: str
    next_step: str
    retryable: bool = False


_ANOTHER_CARD = "Ask the customer to use another card or contact their bank."

_CATEGORIES: Final[dict[str, _Words]] = {
    "issuer_declined": _Words("The card issuer declined the payment.", _ANOTHER_CARD),
    "insufficient_funds": _Words(
        "The card issuer declined the payment for insufficient funds.", _ANOTHER_CARD
    ),
    "limit_exceeded": _Words(
        "The payment is over the limit the card issuer allows on this card.",
        "Ask the customer to use another card, pay a smaller amount, or contact their bank.",
    ),
    "expired_card": _Words(
        "The card has expired.", "Ask the customer to use another card that is still valid."
    ),
    "card_details": _Words(
        "The card details were not accepted.",
        "Ask the customer to check the card number and expiry date and enter them again.",
        retryable=True,
    ),
    "security_code": _Words(
        "The card issuer did not accept the security code (CVV).",
        "Ask the customer to check the 3- or 4-digit code on the card and enter it again.",
        retryable=True,
    ),
    "address": _Words(
        "The billing address did not match what the card issuer has on file.",
        "Ask the customer to check the billing address and postal code and try again.",
        retryable=True,
    ),
    "address_and_security_code": _Words(
        "The billing address and the security code (CVV) were not accepted.",
        "Ask the customer to check the billing address, postal code and the code on the card, "
        "then try again.",
        retryable=True,
    ),
    "call_issuer": _Words(
        "The card issuer needs to speak with the cardholder before approving this payment.",
        "Ask the customer to call the number on the back of their card, or use another card.",
    ),
    "card_not_usable": _Words(
        "The card issuer declined this card.", "Ask the customer to use another card."
    ),
    "card_restricted": _Words(
        "The card issuer does not allow this payment on this card.", _ANOTHER_CARD
    ),
    "card_type_not_accepted": _Words(
        "This type of card is not accepted.", "Ask the customer to use another card."
    ),
    "duplicate": _Words(
        "The payment was stopped because it repeats one made moments ago.",
        "Check the customer's recent payments before taking another one.",
    ),
    "authentication_required": _Words(
        "The card issuer asked the cardholder to confirm this payment.",
        "Send the customer a pay link so their bank can confirm the payment, "
        "or ask them to use another card.",
    ),
    "authentication_failed": _Words(
        "The cardholder's bank could not confirm the payment.",
        "Ask the customer to try again and complete their bank's check, or use another card.",
        retryable=True,
    ),
    "too_many_attempts": _Words(
        "There have been too many attempts with this card.",
        "Ask the customer to use another card or to try again later.",
    ),
    "not_approved": _Words(
        "The payment could not be approved.",
        "Ask the customer to use another card or another way to pay.",
    ),
    "payment_method": _Words(
        "This payment method could not be used.", "Ask the customer to use a card instead."
    ),
    "paypal_declined": _Words(
        "PayPal declined the payment.",
        "Ask the customer to pay by card or to check their PayPal account.",
    ),
    "merchant_setup": _Words(
        "The payment could not be taken because of a set-up problem on our side.",
        "Do not retry. Tell a supervisor so the payment settings can be checked.",
    ),
    "invalid_transaction": _Words(
        "The card network did not accept the payment request.",
        "Do not retry. Tell a supervisor so the payment can be checked.",
    ),
    "operation_not_possible": _Words(
        "The payment processor could not do this for this payment.",
        "Check the payment's history; a supervisor can resolve it.",
    ),
    "network_unavailable": _Words(
        "The payment network did not answer in time. No money was taken.",
        "Wait a moment, then try again.",
        retryable=True,
    ),
    "details_not_accepted": _Words(
        "The payment details were not accepted.",
        "Ask the customer to check the details and enter them again.",
        retryable=True,
    ),
    "settlement_declined": _Words(
        "The payment was approved, but the bank did not complete it.",
        "Do not take the payment again yet. A supervisor will follow up with the customer.",
    ),
    # The PSP never saw the attempt (searched for longer than its indexing delay).
    "not_at_psp": _Words(
        "The payment did not reach the bank. No money was taken.",
        "The customer can pay again.",
        retryable=True,
    ),
    "outcome_unknown": _Words(
        "The payment was not completed.",
        "Check the payment's status before trying again, so the customer is not charged twice.",
    ),
}


def _codes(category: str, codes: str) -> dict[int, str]:
    return dict.fromkeys((int(c) for c in codes.split()), category)


# Braintree processor response codes (2000–2999) by family. Codes not listed fall back
# to "issuer_declined", the same advice Braintree's "Processor Declined" calls for.
_PROCESSOR: Final[dict[int, str]] = {
    **_codes("issuer_declined", "2000 2038 2046"),
    **_codes("insufficient_funds", "2001"),
    **_codes("limit_exceeded", "2002 2003"),
    **_codes("expired_card", "2004"),
    **_codes("card_details", "2005 2006 2008 2051"),
    **_codes("security_code", "2010"),
    **_codes("address", "2059"),
    **_codes("address_and_security_code", "2060"),
    **_codes("call_issuer", "2011 2041 2043 2044"),
    # Lost, stolen, suspected fraud, pick up, no such account, card replaced: the customer
    # is told only that the card was declined.
    **_codes("card_not_usable", "2007 2009 2012 2013 2014 2022 2047 2053"),
    **_codes("card_restricted", "2015 2017 2018 2057"),
    **_codes("card_type_not_accepted", "2024"),
    **_codes("duplicate", "2016 2069"),
    **_codes("authentication_required", "2099"),
    **_codes(
        "merchant_setup",
        "2023 2025 2026 2027 2028 2029 2030 2031 2032 2040 2042 2045 2058 2079 2087 2088 "
        "2089 2091 2100",
    ),
    **_codes(
        "invalid_transaction",
        "2019 2020 2021 2033 2034 2035 2039 2048 2049 2050 2055 2056 2061 2062 2064",
    ),
    **_codes("operation_not_possible", "2036 2037 2054 2065 2067 2090 2094 2095"),
    **_codes(
        "paypal_declined",
        "2063 2066 2068 2070 2071 2072 2073 2074 2075 2076 2077 2078 2081 2082 2083 2084 "
        "2085 2086 2092 2093 2096 2097 2098",
    ),
    **_codes("network_unavailable", "3000"),
}

# Braintree gateway rejection reasons.
_GATEWAY: Final[dict[str, str]] = {
    "application_incomplete": "merchant_setup",
    "avs": "address",
    "avs_and_cvv": "address_and_security_code",
    "cvv": "security_code",
    "duplicate": "duplicate",
    "excessive_retry": "too_many_attempts",
    "fraud": "not_approved",
    "risk_threshold": "not_approved",
    "three_d_secure": "authentication_failed",
    "token_issuance": "payment_method",
}

_FALLBACK: Final[dict[str, str]] = {
    "processor": "issuer_declined",
    "gateway": "not_approved",
    "validation": "details_not_accepted",
    "settlement": "settlement_declined",
    "not_at_psp": "not_at_psp",
    "unknown": "outcome_unknown",
}


def _advice(code: str, category: str) -> DeclineAdvice:
    words = _CATEGORIES[category]
    return DeclineAdvice(code, category, words.message, words.next_step, words.retryable)


def advise(kind: str, code: str) -> DeclineAdvice:
    """Plain-words advice for a decline of ``kind`` with the PSP's ``code``.

    Never raises: an unexpected kind or code gets the generic advice for its kind.
    """
    kind = str(kind).strip().lower()
    if kind not in DECLINE_KINDS:
        kind = "unknown"
    raw = str(code).strip()
    # Only short runs of ASCII digits are kept from the PSP's code (isdigit() alone
    # would also accept other scripts' digits).
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else None
    if kind == "processor" and number is not None:
        if number in _PROCESSOR:
            return _advice(f"processor.{number}", _PROCESSOR[number])
        if 2000 <= number <= 2999:
            return _advice(f"processor.{number}", "issuer_declined")
    if kind == "gateway" and raw.lower() in _GATEWAY:
        return _advice(f"gateway.{raw.lower()}", _GATEWAY[raw.lower()])
    if kind in ("validation", "settlement") and number is not None:
        return _advice(f"{kind}.{number}", _FALLBACK[kind])
    if kind in ("unknown", "not_at_psp"):
        return _advice(kind, _FALLBACK[kind])
    return _advice(f"{kind}.other", _FALLBACK[kind])


# What the customer reads on the pay page and in emails: the agent's advice speaks about
# the customer ("Ask the customer to..."); this speaks to them.
_TRY_ANOTHER = "Please try another card, or contact your bank."
_FOR_CUSTOMER: Final[dict[str, str]] = {
    "limit_exceeded": "Please try another card or a smaller amount, or contact your bank.",
    "expired_card": "Please use a card that is still valid.",
    "card_details": "Please check the card number and expiry date and enter them again.",
    "security_code": "Please check the 3- or 4-digit code on your card and enter it again.",
    "address": "Please check your billing postal code and try again.",
    "address_and_security_code": "Please check your postal code and the code on your card, "
    "then try again.",
    "call_issuer": "Please call the number on the back of your card, or try another card.",
    "card_not_usable": "Please try another card.",
    "card_type_not_accepted": "Please try another card.",
    "duplicate": "This payment looks like one made moments ago. Please contact us before "
    "paying again.",
    "authentication_failed": "Please try again and complete your bank's check, or use "
    "another card.",
    "too_many_attempts": "Please try another card, or try again later.",
    "merchant_setup": "Please contact us; we could not take the payment.",
    "invalid_transaction": "Please contact us; we could not take the payment.",
    "operation_not_possible": "Please contact us; we could not take the payment.",
    "network_unavailable": "No money was taken. Please wait a moment and try again.",
    "details_not_accepted": "Please check your details and enter them again.",
    "settlement_declined": "Please contact us before paying again.",
    "not_at_psp": "No money was taken. Please try again.",
    "outcome_unknown": "Please do not pay again until we confirm; we will be in touch.",
}


def customer_next_step(code: str) -> str:
    """The next step to show the customer for a stored decline ``code`` (as in
    ``DeclineAdvice.code``, e.g. ``processor.2001``). Never raises."""
    kind, _, raw = str(code).partition(".")
    category = advise(kind, raw).category
    return _FOR_CUSTOMER.get(category, _TRY_ANOTHER)
