"""Why a payment was declined, in plain words, and what to try next.

The words are keyed on crm-pay's own decline categories (:class:`DeclineCategory`),
never on a PSP's codes: each PSP adapter maps its processor and gateway codes to a
category (``connectors/psp/braintree_mapping.py`` for Braintree), so adding a PSP adds
no words here. Only the texts written here ever reach an agent or a customer: the
PSP's own response text is never shown, and the PSP's code is kept (as
``DeclineAdvice.code``, e.g. ``processor.2001``) only in a whitelisted shape, so nothing
a processor sends can be echoed.

Public API::

    DeclineCategory, DECLINE_KINDS
    DeclineAdvice(code, category, message, next_step, retryable)
    advice_for(category, *, code) -> DeclineAdvice
    fallback_category(kind) -> DeclineCategory
    decline_reference(kind, code) -> str
    customer_next_step(category) -> str

``kind`` (how far the attempt got) is one of ``processor`` (the card network or issuer
said no), ``gateway`` (the PSP's own checks refused it), ``validation`` (the payment
details were refused before reaching the card network), ``settlement`` (approved, then
not settled), ``failed`` (the processor could not be reached), ``not_at_psp`` (the PSP
never saw the attempt) or ``unknown``. ``retryable`` says whether trying the same
payment again, with at most the typed details corrected, has a fair chance of working;
it is never True when a second attempt could take the money twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "DeclineAdvice",
    "DeclineCategory",
    "DECLINE_KINDS",
    "advice_for",
    "customer_next_step",
    "decline_reference",
    "fallback_category",
]

DECLINE_KINDS: Final = frozenset(
    {"processor", "gateway", "validation", "settlement", "failed", "not_at_psp", "unknown"}
)


class DeclineCategory(StrEnum):
    """crm-pay's decline categories: declines that call for the same words and next step.

    The values are stored (payment events, ``payments.decline_category``) and sent
    (``decline.category`` in the API and live events): never rename one."""

    ISSUER_DECLINED = "issuer_declined"  # "do not honor" and other unexplained refusals
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LIMIT_EXCEEDED = "limit_exceeded"
    EXPIRED_CARD = "expired_card"
    CARD_DETAILS = "card_details"  # invalid card number or expiry
    SECURITY_CODE = "security_code"
    ADDRESS = "address"
    ADDRESS_AND_SECURITY_CODE = "address_and_security_code"
    CALL_ISSUER = "call_issuer"
    CARD_NOT_USABLE = "card_not_usable"  # lost, stolen, suspected fraud: never said so
    CARD_RESTRICTED = "card_restricted"
    CARD_TYPE_NOT_ACCEPTED = "card_type_not_accepted"
    DUPLICATE = "duplicate"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NOT_APPROVED = "not_approved"  # the PSP's risk checks refused it
    PAYMENT_METHOD = "payment_method"
    WALLET_DECLINED = "paypal_declined"  # a wallet (PayPal) refused it; value kept as stored
    MERCHANT_SETUP = "merchant_setup"
    INVALID_TRANSACTION = "invalid_transaction"
    OPERATION_NOT_POSSIBLE = "operation_not_possible"
    NETWORK_UNAVAILABLE = "network_unavailable"  # the processor did not answer in time
    DETAILS_NOT_ACCEPTED = "details_not_accepted"
    SETTLEMENT_DECLINED = "settlement_declined"
    NOT_AT_PSP = "not_at_psp"  # the PSP never saw the attempt
    OUTCOME_UNKNOWN = "outcome_unknown"


@dataclass(frozen=True, slots=True)
class DeclineAdvice:
    """What to tell the agent and the customer about a decline.

    ``code`` is the PSP's raw code in a stable, safe-to-show shape (e.g.
    ``processor.2001``, ``gateway.cvv``, ``processor.other``): for support, never the basis
    of a decision; ``category`` (a :class:`DeclineCategory` value) decides the words.
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
    customer: str
    retryable: bool = False


_ANOTHER_CARD = "Ask the customer to use another card or contact their bank."
_TRY_ANOTHER = "Please try another card, or contact your bank."
_CONTACT_US = "Please contact us; we could not take the payment."

C = DeclineCategory
_WORDS: Final[dict[DeclineCategory, _Words]] = {
    C.ISSUER_DECLINED: _Words("The card issuer declined the payment.", _ANOTHER_CARD, _TRY_ANOTHER),
    C.INSUFFICIENT_FUNDS: _Words(
        "The card issuer declined the payment for insufficient funds.", _ANOTHER_CARD, _TRY_ANOTHER
    ),
    C.LIMIT_EXCEEDED: _Words(
        "The payment is over the limit the card issuer allows on this card.",
        "Ask the customer to use another card, pay a smaller amount, or contact their bank.",
        "Please try another card or a smaller amount, or contact your bank.",
    ),
    C.EXPIRED_CARD: _Words(
        "The card has expired.",
        "Ask the customer to use another card that is still valid.",
        "Please use a card that is still valid.",
    ),
    C.CARD_DETAILS: _Words(
        "The card details were not accepted.",
        "Ask the customer to check the card number and expiry date and enter them again.",
        "Please check the card number and expiry date and enter them again.",
        retryable=True,
    ),
    C.SECURITY_CODE: _Words(
        "The card issuer did not accept the security code (CVV).",
        "Ask the customer to check the 3- or 4-digit code on the card and enter it again.",
        "Please check the 3- or 4-digit code on your card and enter it again.",
        retryable=True,
    ),
    C.ADDRESS: _Words(
        "The billing address did not match what the card issuer has on file.",
        "Ask the customer to check the billing address and postal code and try again.",
        "Please check your billing postal code and try again.",
        retryable=True,
    ),
    C.ADDRESS_AND_SECURITY_CODE: _Words(
        "The billing address and the security code (CVV) were not accepted.",
        "Ask the customer to check the billing address, postal code and the code on the card, "
        "then try again.",
        "Please check your postal code and the code on your card, then try again.",
        retryable=True,
    ),
    C.CALL_ISSUER: _Words(
        "The card issuer needs to speak with the cardholder before approving this payment.",
        "Ask the customer to call the number on the back of their card, or use another card.",
        "Please call the number on the back of your card, or try another card.",
    ),
    C.CARD_NOT_USABLE: _Words(
        "The card issuer declined this card.",
        "Ask the customer to use another card.",
        "Please try another card.",
    ),
    C.CARD_RESTRICTED: _Words(
        "The card issuer does not allow this payment on this card.", _ANOTHER_CARD, _TRY_ANOTHER
    ),
    C.CARD_TYPE_NOT_ACCEPTED: _Words(
        "This type of card is not accepted.",
        "Ask the customer to use another card.",
        "Please try another card.",
    ),
    C.DUPLICATE: _Words(
        "The payment was stopped because it repeats one made moments ago.",
        "Check the customer's recent payments before taking another one.",
        "This payment looks like one made moments ago. Please contact us before paying again.",
    ),
    # Braintree 2099 "Cardholder Authentication Required": the issuer wants the cardholder
    # to confirm the payment with it (3-D Secure). Only the pay page can run that check,
    # and only where the merchant has 3-D Secure on (CRM_PAY_THREE_D_SECURE), so the
    # advice does not promise that a link will do it.
    C.AUTHENTICATION_REQUIRED: _Words(
        "The card's bank wants the cardholder to confirm this payment with the bank "
        "(3-D Secure), which was not done.",
        "Ask the customer to use another card. A pay link lets their bank confirm the "
        "payment only where 3-D Secure is switched on for this currency.",
        "Your bank needs you to confirm this payment, which this page could not do. "
        "Please use another card, or contact us.",
    ),
    # The bank's check ran on the pay page and gave no liability shift while the merchant
    # requires one (Braintree gateway rejection "three_d_secure"), or it failed.
    C.AUTHENTICATION_FAILED: _Words(
        "The cardholder's bank did not confirm the payment (3-D Secure).",
        "Ask the customer to try the link again and complete their bank's check, "
        "or to use another card.",
        "Please try again and complete your bank's check, or use another card.",
        retryable=True,
    ),
    C.TOO_MANY_ATTEMPTS: _Words(
        "There have been too many attempts with this card.",
        "Ask the customer to use another card or to try again later.",
        "Please try another card, or try again later.",
    ),
    C.NOT_APPROVED: _Words(
        "The payment could not be approved.",
        "Ask the customer to use another card or another way to pay.",
        _TRY_ANOTHER,
    ),
    C.PAYMENT_METHOD: _Words(
        "This payment method could not be used.",
        "Ask the customer to use a card instead.",
        _TRY_ANOTHER,
    ),
    C.WALLET_DECLINED: _Words(
        "PayPal declined the payment.",
        "Ask the customer to pay by card or to check their PayPal account.",
        _TRY_ANOTHER,
    ),
    C.MERCHANT_SETUP: _Words(
        "The payment could not be taken because of a set-up problem on our side.",
        "Do not retry. Tell a supervisor so the payment settings can be checked.",
        _CONTACT_US,
    ),
    C.INVALID_TRANSACTION: _Words(
        "The card network did not accept the payment request.",
        "Do not retry. Tell a supervisor so the payment can be checked.",
        _CONTACT_US,
    ),
    C.OPERATION_NOT_POSSIBLE: _Words(
        "The payment processor could not do this for this payment.",
        "Check the payment's history; a supervisor can resolve it.",
        _CONTACT_US,
    ),
    C.NETWORK_UNAVAILABLE: _Words(
        "The payment network did not answer in time. No money was taken.",
        "Wait a moment, then try again.",
        "No money was taken. Please wait a moment and try again.",
        retryable=True,
    ),
    C.DETAILS_NOT_ACCEPTED: _Words(
        "The payment details were not accepted.",
        "Ask the customer to check the details and enter them again.",
        "Please check your details and enter them again.",
        retryable=True,
    ),
    C.SETTLEMENT_DECLINED: _Words(
        "The payment was approved, but the bank did not complete it.",
        "Do not take the payment again yet. A supervisor will follow up with the customer.",
        "Please contact us before paying again.",
    ),
    C.NOT_AT_PSP: _Words(
        "The payment did not reach the bank. No money was taken.",
        "The customer can pay again.",
        "No money was taken. Please try again.",
        retryable=True,
    ),
    C.OUTCOME_UNKNOWN: _Words(
        "The payment was not completed.",
        "Check the payment's status before trying again, so the customer is not charged twice.",
        "Please do not pay again until we confirm; we will be in touch.",
    ),
}

# The category of a decline whose PSP code an adapter does not know, by kind.
_FALLBACK: Final[dict[str, DeclineCategory]] = {
    "processor": C.ISSUER_DECLINED,
    "gateway": C.NOT_APPROVED,
    "validation": C.DETAILS_NOT_ACCEPTED,
    "settlement": C.SETTLEMENT_DECLINED,
    "failed": C.NETWORK_UNAVAILABLE,
    "not_at_psp": C.NOT_AT_PSP,
    "unknown": C.OUTCOME_UNKNOWN,
}

# A stored code: a kind, optionally a dot and a short run of ASCII letters, digits, "_".
_SAFE_CODE = re.compile(r"[a-z_]{1,20}(?:\.[a-z0-9_]{1,30})?")
_SAFE_PART = re.compile(r"[A-Za-z0-9_]{1,30}")


def _category(value: str | None) -> DeclineCategory:
    try:
        return DeclineCategory(str(value or "").strip().lower())
    except ValueError:
        return C.OUTCOME_UNKNOWN


def fallback_category(kind: str) -> DeclineCategory:
    """The category for a decline of ``kind`` whose code says nothing more (an unknown
    kind is treated as ``unknown``: its outcome is in doubt)."""
    return _FALLBACK.get(str(kind).strip().lower(), C.OUTCOME_UNKNOWN)


def decline_reference(kind: str, code: str) -> str:
    """The PSP's raw ``code`` as crm-pay keeps and shows it: ``<kind>.<code>`` when the
    code is a short run of ASCII letters, digits or ``_`` (lower-cased), else
    ``<kind>.other``; just the kind for ``unknown`` and ``not_at_psp``. Adapters with a
    narrower whitelist (Braintree's known gateway reasons) build their own."""
    kind = str(kind).strip().lower()
    if kind not in DECLINE_KINDS:
        return "unknown"
    if kind in ("unknown", "not_at_psp"):
        return kind
    raw = str(code).strip()
    return f"{kind}.{raw.lower()}" if _SAFE_PART.fullmatch(raw) else f"{kind}.other"


def advice_for(category: str, *, code: str) -> DeclineAdvice:
    """Plain-words advice for a decline of ``category`` (a :class:`DeclineCategory`
    value); ``code`` is the PSP's code as :func:`decline_reference` shapes it.

    Never raises: an unknown category gets the "outcome unknown" advice (check before
    charging again), and a code of any other shape is replaced by ``unknown``.
    """
    cat = _category(category)
    words = _WORDS[cat]
    shown = code if _SAFE_CODE.fullmatch(str(code)) else "unknown"
    return DeclineAdvice(shown, cat.value, words.message, words.next_step, words.retryable)


def customer_next_step(category: str | None) -> str:
    """The next step to show the customer for a decline of ``category`` (as stored with
    the payment): the agent's advice speaks about the customer ("Ask the customer
    to..."); this speaks to them. ``None`` or an unknown category: the "we will be in
    touch" words (the outcome may be in doubt). Never raises."""
    return _WORDS[_category(category)].customer
