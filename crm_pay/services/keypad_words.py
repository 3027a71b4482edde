"""What an agent reads of a keypad capture's progress: plain words from a status update.

Layer: the bottom of the services (pure, no I/O). The keypad payment service (issue 12,
not built yet) will publish these words to the agent's live panel; they are built only
from the masked status (:class:`crm_pay.ports.KeypadStatus`), never more than the last 4
digits of a card number. Error types and results are Twilio's words (its Payments
subresource page and the ``<Pay>`` verb's ``ErrorType``/``Result`` values); an unknown
one gets generic words, never the raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_pay.ports import KeypadField, KeypadStatus

__all__ = ["FIELD_LABELS", "KeypadProgress", "progress_of"]

FIELD_LABELS = {
    KeypadField.CARD_NUMBER.value: "Card number",
    KeypadField.EXPIRY.value: "Expiry",
    KeypadField.SECURITY_CODE.value: "Security code",
    KeypadField.POSTAL_CODE.value: "Postal code",
}

_ERRORS = {
    "invalid-card-number": "that card number is not valid, ask for it again",
    "invalid-card-type": "we do not take that kind of card, ask for another card",
    "invalid-date": "that expiry date is not valid or has passed, ask for it again",
    "invalid-security-code": "that security code is not valid, ask for it again",
    "invalid-postal-code": "that postal code is not valid, ask for it again",
    "input-timeout": "nothing was entered in time, ask for it again",
}
_RESULTS = {
    "success": "the card was accepted; charging it now",
    "caller-interrupted-with-star": "the customer pressed * and the card entry was cancelled",
    "caller-hung-up": "the call ended before the card was entered",
    "input-timeout": "nothing was entered in time; the card entry was cancelled",
    "too-many-failed-attempts": "too many invalid entries; the card entry was cancelled",
    "payment-connector-error": "the card could not be checked with the bank; try again",
    "transaction-cancelled": "the card entry was cancelled",
}
#: What the agent can do with a payment whose capture ended without a card.
ENDED_NEXT_STEP = "Start card entry on the call again, or cancel the payment."
_UNKNOWN_ERROR = "that entry was not accepted, ask for it again"
_UNKNOWN_RESULT = "the card entry ended without a card; try again or send a pay link"
# A card number has 12-19 digits; the agent is told how many were keyed of the usual 16
# (15 for American Express, whose masked value Twilio reports with its brand).
_USUAL_LENGTH = {"amex": 15, "american-express": 15}


@dataclass(frozen=True, slots=True)
class KeypadProgress:
    """One line of the agent's panel: the field, whether it is done, and the words."""

    field: str | None
    done: bool
    words: str
    ended: bool = False


def ended_words(result: str) -> str:
    """The agent's words for a capture that ended with ``result`` (Twilio's word)."""
    return _RESULTS.get(result, _UNKNOWN_RESULT)


def progress_of(status: KeypadStatus) -> KeypadProgress:
    """The agent's words for one (verified, masked) status update."""
    if status.result:
        words = ended_words(status.result)
        return KeypadProgress(None, status.result == "success", words, ended=True)
    label = FIELD_LABELS.get(status.field or "", "Card entry")
    if status.error:
        return KeypadProgress(
            status.field, False, f"{label}: {_ERRORS.get(status.error, _UNKNOWN_ERROR)}"
        )
    if status.field == KeypadField.CARD_NUMBER.value and status.masked:
        keyed = sum(1 for ch in status.masked if ch.isdigit() or ch == "x")
        if status.partial:
            of = _USUAL_LENGTH.get((status.card_brand or "").lower(), 16)
            return KeypadProgress(status.field, False, f"{label}: {keyed} of {of} digits entered")
        return KeypadProgress(status.field, True, f"{label} ✓ ({status.masked})")
    if status.partial:
        return KeypadProgress(status.field, False, f"{label}: being entered")
    return KeypadProgress(status.field, True, f"{label} ✓")
