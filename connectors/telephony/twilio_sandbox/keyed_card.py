"""What the caller keys in, checked as Twilio's ``<Pay>`` checks it, and masked as it reports.

Sources: Twilio docs "TwiML Voice: <Pay>" (twilio.com/docs/voice/twiml/pay): the
``validCardTypes`` table (brand by leading digits and length), the ``ErrorType`` table
(``invalid-card-number``, ``invalid-card-type``, ``invalid-date``, ``invalid-security-code``,
``invalid-postal-code``), ``ExpirationDate`` in MMYY shown in clear (not PCI data),
``SecurityCode`` redacted; "Payments subresource" (twilio.com/docs/voice/api/payment-resource):
``PaymentCardNumber`` "with only the last 4 digits visible", ``SecurityCode=xxx``.

One rule is the stand-in's own: only Braintree's published test card numbers are accepted
(the list of the Braintree sandbox, ``connectors.psp.braintree_sandbox.cards``), so a real
card number typed into a demo is refused at once and goes nowhere. What is kept of an
accepted number is its brand, BIN and last 4 digits, never the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from connectors.psp.braintree_sandbox.cards import TEST_CARD_OUTCOMES

__all__ = [
    "CARD_TYPES",
    "AcceptedCard",
    "EntryError",
    "check_card_number",
    "check_expiration_date",
    "check_postal_code",
    "check_security_code",
    "masked_number",
    "masked_partial",
]

#: ``validCardTypes`` values in the <Pay> docs' table (``optima`` is an American Express
#: product that leading digits cannot tell apart, so it is never detected here).
CARD_TYPES = (
    "visa",
    "mastercard",
    "amex",
    "maestro",
    "discover",
    "optima",
    "jcb",
    "diners-club",
    "enroute",
)


class EntryError(ValueError):
    """A keyed entry Twilio would refuse; ``error_type`` is its ``ErrorType`` value."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class AcceptedCard:
    """What the stand-in keeps of an accepted card number (never the number)."""

    card_type: str  # Twilio's PaymentCardType word: "visa", "amex"...
    bin: str
    last4: str
    length: int

    @property
    def masked(self) -> str:
        return masked_number(self.length, self.last4)


def masked_number(length: int, last4: str) -> str:
    """``PaymentCardNumber`` as Twilio reports it: ``xxxxxxxxxxxx1111``."""
    return "x" * (length - len(last4)) + last4


def masked_partial(count: int) -> str:
    """A number still being keyed: one ``x`` per digit so far. No digit is shown until
    the number is complete, because the last digits keyed so far are not its last 4."""
    return "x" * count


def _in(number: str, *prefixes: tuple[int, int]) -> bool:
    """Whether ``number`` starts within one of the inclusive ``(low, high)`` ranges."""
    for low, high in prefixes:
        width = len(str(low))
        if number[:width].isdigit() and low <= int(number[:width]) <= high:
            return True
    return False


def card_type_of(number: str) -> tuple[str, range | tuple[int, ...]] | None:
    """The brand and its valid lengths, from the <Pay> docs' ``validCardTypes`` table.
    Checked most specific first: 6011 is Discover before Maestro's "starts with 6"."""
    if _in(number, (34, 34), (37, 37)):
        return "amex", (15,)
    if _in(number, (2014, 2014), (2149, 2149)):
        return "enroute", (15,)
    if _in(number, (36, 36)):
        return "diners-club", range(14, 20)
    if _in(number, (300, 304), (3095, 3095), (38, 39)):
        return "diners-club", range(16, 20)
    if _in(number, (3528, 3589)):
        return "jcb", range(16, 20)
    if _in(number, (6011, 6011), (64, 65)):
        return "discover", range(16, 20)
    if _in(number, (510000, 559999), (222100, 272099)):
        return "mastercard", (16,)
    if number.startswith("4"):
        # The table's Visa row: 13, 16 or 19 digits, first digit 4.
        return "visa", (13, 16, 19)
    if _in(number, (50, 50), (56, 58), (6, 6)):
        return "maestro", range(12, 20)
    return None


def _luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def check_card_number(digits: str, valid_card_types: tuple[str, ...]) -> AcceptedCard:
    """Accept a keyed card number or raise :class:`EntryError`.

    ``invalid-card-number``: not digits, a length or Luhn failure, an unknown brand, or
    (the stand-in's rule) not one of Braintree's test numbers; ``invalid-card-type``: a
    brand outside the session's ``ValidCardTypes``."""
    if not digits.isdigit():
        raise EntryError("invalid-card-number")
    brand = card_type_of(digits)
    if brand is None or len(digits) not in brand[1] or not _luhn_ok(digits):
        raise EntryError("invalid-card-number")
    if brand[0] not in valid_card_types:
        raise EntryError("invalid-card-type")
    if digits not in TEST_CARD_OUTCOMES:
        raise EntryError("invalid-card-number")
    return AcceptedCard(card_type=brand[0], bin=digits[:6], last4=digits[-4:], length=len(digits))


def check_expiration_date(digits: str, today: date) -> str:
    """``MMYY`` (the <Pay> docs' ``ExpirationDate``); ``invalid-date`` when it is not four
    digits, not a month, or in the past (a card is valid to the end of its month)."""
    if len(digits) != 4 or not digits.isdigit():
        raise EntryError("invalid-date")
    month, year = int(digits[:2]), 2000 + int(digits[2:])
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        raise EntryError("invalid-date")
    return digits


def check_security_code(digits: str, card: AcceptedCard) -> str:
    """The redacted ``SecurityCode`` (``xxx``); 4 digits for American Express, 3 for the
    others (the <Pay> docs' sample prompts: "the 4 digits located on the front" for amex)."""
    expected = 4 if card.card_type == "amex" else 3
    if len(digits) != expected or not digits.isdigit():
        raise EntryError("invalid-security-code")
    return "x" * expected


def check_postal_code(digits: str, min_length: int | None) -> str:
    """``PaymentCardPostalCode`` in clear (not PCI data); ``invalid-postal-code`` when
    shorter than ``MinPostalCodeLength`` ("User must enter this many digits"), or empty."""
    if not digits.isdigit() or len(digits) < (min_length or 1) or len(digits) > 10:
        raise EntryError("invalid-postal-code")
    return digits
