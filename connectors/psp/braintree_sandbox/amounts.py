"""Gateway amounts: exact decimal strings, read and written per currency.

Braintree writes amounts as decimal strings (``"10.00"``) and refuses a malformed one with
81503 (``Transaction.AmountIsInvalid``), a missing one with 81502 and zero with 81531
(braintree_python ``braintree/error_codes.py``).

Zero-decimal currencies: Braintree's docs do not say how a JPY amount must be written.
The sandbox follows ISO 4217 (JPY has no minor unit): whole amounts are accepted, written
``"500"`` or ``"500.00"``; a fraction of a yen (``"500.50"``) is refused with 81503; JPY
amounts are answered without decimals. This is our reading, not a documented rule.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .records import fail

__all__ = ["ZERO_DECIMAL_CURRENCIES", "money", "parse_amount"]

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})
_AMOUNT = re.compile(r"^\d{1,8}(\.\d{1,2})?$")


def parse_amount(raw: Any, currency: str = "USD", *, required: bool = True) -> Decimal | None:
    """Read a gateway amount exactly, refusing what Braintree refuses."""
    if raw is None or raw == "":
        if required:
            raise fail("81502", "amount", "Amount is required.")
        return None
    text = str(raw).strip()
    if not _AMOUNT.match(text):
        raise fail("81503", "amount", "Amount is an invalid format.")
    amount = Decimal(text)
    if currency in ZERO_DECIMAL_CURRENCIES and amount != amount.to_integral_value():
        raise fail("81503", "amount", "Amount is an invalid format.")
    if amount <= 0:
        raise fail("81531", "amount", "Amount must be greater than zero.")
    return amount.quantize(Decimal("0.01"))


def money(amount: Decimal, currency: str = "USD") -> str:
    """How the gateway writes ``amount`` in ``currency``."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:.0f}"
    return f"{amount:.2f}"
