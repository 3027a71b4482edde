"""Receipts: what a customer is given for every successful payment (and refund).

Numbers are gapless per merchant and year (``R-2026-000123``); the sequence itself is
kept by persistence under a row lock, this module only formats and describes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import ValidationError
from .ledger import OpenInvoice
from .money import Money

__all__ = [
    "Merchant",
    "ReceiptLine",
    "Receipt",
    "format_receipt_number",
    "parse_receipt_number",
    "still_owed",
]

# [0-9], not \d: \d would also accept other scripts' digits ("２０２６").
_NUMBER = re.compile(r"(?P<prefix>[A-Z]{1,4})-(?P<year>[0-9]{4})-(?P<seq>[0-9]{6,})")
_PREFIX = re.compile(r"[A-Z]{1,4}")


def format_receipt_number(year: int, seq: int, prefix: str = "R") -> str:
    if seq < 1:
        raise ValidationError("receipt sequence starts at 1")
    # Only numbers parse_receipt_number can read back are issued.
    if _PREFIX.fullmatch(prefix) is None:
        raise ValidationError(f"receipt prefix {prefix!r} must be 1 to 4 capital letters")
    if not 1 <= year <= 9999:
        raise ValidationError(f"receipt year {year} is not a four-digit year")
    return f"{prefix}-{year:04d}-{seq:06d}"


def parse_receipt_number(number: str) -> tuple[str, int, int]:
    m = _NUMBER.fullmatch(number)
    if m is None:
        raise ValidationError(f"{number!r} is not a receipt number (expected e.g. R-2026-000123)")
    return m.group("prefix"), int(m.group("year")), int(m.group("seq"))


@dataclass(frozen=True, slots=True)
class Merchant:
    name: str
    address: str = ""
    email: str = ""
    phone: str = ""
    tax_id: str = ""


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    description: str
    quantity: int
    unit_price: Money
    tax: Money
    invoice_ref: str | None = None

    @property
    def net(self) -> Money:
        return Money(self.unit_price.minor * self.quantity, self.unit_price.currency)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Everything printed on a receipt. ``amount_paid`` is what this payment took; the
    lines describe what it paid for (the allocated invoices' lines)."""

    number: str
    kind: str  # "payment" | "refund" | "reversal" (settlement declined)
    issued_at: datetime  # timezone-aware
    merchant: Merchant
    customer_name: str
    customer_ref: str
    payment_id: str
    lines: tuple[ReceiptLine, ...]
    tax_breakdown: tuple[tuple[str, Money], ...]
    shipping: Money
    allocations: tuple[tuple[str, Money], ...]  # (invoice number, amount applied)
    credit: Money  # part of the payment kept as customer credit
    amount_paid: Money
    method: str  # "Visa •••• 1111" or a wallet name
    psp_reference: str | None
    # What was left to pay, right after this payment, on the invoices it paid in part
    # (:func:`still_owed`): (invoice number, amount). Payment receipts only.
    still_owed: tuple[tuple[str, Money], ...] = ()
    # What the bank's 3-D Secure check gave, in words (three_d_secure.check_words; None:
    # no check ran). Payment receipts only.
    bank_check: str | None = None

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValidationError("a receipt's date-time must carry its time zone")


def still_owed(
    open_invoices: Iterable[OpenInvoice], paid: Iterable[str]
) -> tuple[tuple[str, Money], ...]:
    """What is still owed on the invoices in ``paid`` (those a payment went to), given
    the customer's open invoices once the payment is booked; oldest due first. The one
    rule for every "still owed" a customer reads (receipt PDF, text and email)."""
    refs = set(paid)
    return tuple((inv.ref, inv.outstanding) for inv in open_invoices if inv.ref in refs)
