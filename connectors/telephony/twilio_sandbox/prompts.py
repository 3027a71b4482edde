"""What the caller hears, shown by the virtual phone: one sentence per moment of the call.

Twilio's <Pay> plays a default prompt for each payment step (TwiML docs "<Prompt>",
twilio.com/docs/voice/twiml/pay/prompt: the steps ``payment-card-number``,
``expiration-date``, ``security-code``, ``postal-code``, and prompts per ``errorType``),
but does not publish the default wording; these sentences are the stand-in's, in the
same order and with the pound key ending each field as <Pay>'s ``finishOnKey`` does.
"""

from __future__ import annotations

__all__ = ["spoken"]

_ASK = {
    "payment-card-number": "Please enter your card number, followed by the pound key.",
    "expiration-date": (
        "Please enter your card's expiration date, two digits for the month and two for "
        "the year, followed by the pound key."
    ),
    "security-code": "Please enter your card's security code, followed by the pound key.",
    "postal-code": "Please enter your billing postal code, followed by the pound key.",
}

_ERROR = {
    "invalid-card-number": "Sorry, that card number is not valid.",
    "invalid-card-type": "Sorry, that card type is not accepted.",
    "invalid-date": "Sorry, that expiration date is not valid.",
    "invalid-security-code": "Sorry, that security code is not valid.",
    "invalid-postal-code": "Sorry, that postal code is not valid.",
    "input-timeout": "Sorry, we did not receive any input.",
    "invalid-card-number-security-code-capture-sequence": "Please hold.",
}


def spoken(call_status: str, capturing: str | None, paying: bool, error: str | None) -> str:
    """The sentence the caller is hearing now."""
    if call_status != "in-progress":
        return "The call has ended."
    if capturing is not None:
        return _ASK.get(capturing, "Please enter the digits, followed by the pound key.")
    if not paying:
        return "You are connected to your agent."
    if error:
        return _ERROR.get(error, "Sorry, that entry is not valid.") + " Please hold for your agent."
    return "Thank you. Please hold for your agent."
