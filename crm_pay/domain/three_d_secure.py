"""3-D Secure (the cardholder's bank's check, SCA): the merchant's rule and the words
for what a check gave.

Pure: no I/O. The PSP adapter maps its 3DS info to :class:`crm_pay.ports.ThreeDSecureResult`
(``status``: the PSP's status words, e.g. Braintree's ``authenticate_successful``,
``lookup_not_enrolled``); the rule (``CRM_PAY_THREE_D_SECURE``, per currency) says what
the pay page and the sale do with it:

``off``
    the pay page runs no bank check; a sale goes without one.
``attempt``
    the pay page runs the bank's check (frictionless or a challenge) and the payment is
    charged whatever it gave: the liability shifts to the bank where the check succeeded.
``required``
    as ``attempt``, and the PSP must refuse a sale whose check gave no liability shift
    (Braintree: ``three_d_secure.required``; the refusal is a decline the customer can
    try again). Card-on-file payments taken by the agent are mail/telephone orders
    (``transaction_source=moto``), outside SCA: the rule never applies to them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MODES", "check_words", "parse_mode"]

MODES: Final = ("off", "attempt", "required")

# Braintree's 3DS statuses ("Applying 3DS to transactions > 3DS status codes") grouped
# by what the customer and the agent may be told. Another PSP's adapter maps its own
# words to these where it can; an unknown status reads as "the bank's check ran".
_AUTHENTICATED = {"authenticate_successful", "authenticate_attempt_successful"}
_FAILED = {
    "authenticate_failed",
    "authenticate_frictionless_failed",
    "authenticate_rejected",
    "authenticate_signature_verification_failed",
    "challenge_required",
}
_NOT_AVAILABLE = {
    "lookup_not_enrolled",
    "lookup_bypassed",
    "authentication_unavailable",
    "authenticate_unable_to_authenticate",
    "authenticate_error",
    "lookup_error",
    "lookup_failed_acs_error",
    "unsupported_card",
    "unsupported_three_d_secure_version",
}


def parse_mode(value: object) -> str | None:
    """``value`` as one of :data:`MODES` (None: not one of them)."""
    mode = str(value or "").strip().lower()
    return mode if mode in MODES else None


def check_words(status: str | None, liability_shifted: bool | None) -> str | None:
    """What the bank's check gave, in words for a receipt and the agent (None: no check
    ran)."""
    if not status:
        return None
    if liability_shifted or status in _AUTHENTICATED:
        return "Confirmed by the card's bank (3-D Secure)"
    if status in _FAILED:
        return "The card's bank did not confirm it (3-D Secure)"
    if status in _NOT_AVAILABLE:
        return "The card's bank check was not available (3-D Secure)"
    return "The card's bank check ran (3-D Secure)"
