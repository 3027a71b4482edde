"""Money: integer minor units and an ISO 4217 currency. No floats anywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import ValidationError

__all__ = ["Money", "CURRENCY_EXPONENTS", "currency_exponent", "normalize_currency"]


def _each(exponent: int, codes: str) -> dict[str, int]:
    return dict.fromkeys(codes.split(), exponent)


# ISO 4217 minor-unit exponents for the currencies we accept. Currencies with an exponent
# other than 2 are listed explicitly because a wrong exponent moves money by 100x.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    **_each(
        2,
        "AED AUD BGN BRL CAD CHF CNY CZK DKK EGP EUR GBP HKD HUF ILS INR MAD MXN MYR NOK "
        "NZD PEN PHP PLN RON SAR SEK SGD THB TRY TWD UAH USD ZAR COP ARS",
    ),
    **_each(0, "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"),
    **_each(3, "BHD IQD JOD KWD LYD OMR TND"),
}

_AMOUNT = re.compile(r"(?P<int>0|[1-9][0-9]*)(?:\.(?P<frac>[0-9]+))?")
_MAX_MINOR: Final = 10**15  # far above any card payment; keeps every amount within BIGINT


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ``ValidationError``."""
    if not isinstance(code, str):
        raise ValidationError("currency must be a three-letter ISO 4217 code such as USD")
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise ValidationError(
            f"currency {code!r} is not supported; use an ISO 4217 code such as USD"
        )
    return upper


def currency_exponent(code: str) -> int:
    return CURRENCY_EXPONENTS[normalize_currency(code)]


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: ``minor`` units (cents, yen, fils) of ``currency``."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise ValidationError("money amounts are whole minor units (integers)")
        object.__setattr__(self, "currency", normalize_currency(self.currency))
        if abs(self.minor) > _MAX_MINOR:
            raise ValidationError("amount is too large")

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a plain decimal string such as ``"12.34"`` exactly.

        More decimals than the currency has (``"12.345"`` USD), signs, exponents, ``NaN``,
        separators, surrounding whitespace and empty strings are errors, never a silent
        round. Whitespace is not stripped here: a caller that trims what a person typed
        does so itself, so the API accepts exactly what its OpenAPI pattern says.
        """
        cur = normalize_currency(currency)
        if not isinstance(text, str):
            raise ValidationError('amount must be a decimal string such as "12.34"')
        m = _AMOUNT.fullmatch(text)
        if m is None:
            raise ValidationError(
                # The text is not echoed: a mistyped amount field may hold a card number.
                'the amount is not valid; write it like "12.34" '
                "(digits, an optional point, no sign, separators or exponent)"
            )
        if len(m.group("int")) > 16:
            # Beyond any valid amount; also keeps int() clear of Python's digit limit,
            # which would raise a bare ValueError on thousands of digits.
            raise ValidationError("amount is too large")
        exp = CURRENCY_EXPONENTS[cur]
        frac = m.group("frac") or ""
        if len(frac) > exp:
            raise ValidationError(f"the amount has more decimals than {cur} allows ({exp})")
        minor = int(m.group("int")) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
        return cls(minor, cur)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal_str(self) -> str:
        """``"12.34"`` for 1234 USD, ``"500"`` for 500 JPY, ``"-0.05"`` for -5 USD."""
        sign = "-" if self.minor < 0 else ""
        units, frac = divmod(abs(self.minor), 10**self.exponent)
        if self.exponent == 0:
            return f"{sign}{units}"
        return f"{sign}{units}.{frac:0{self.exponent}d}"

    def format(self) -> str:
        """Human display, e.g. ``"USD 1,234.50"``."""
        sign = "-" if self.minor < 0 else ""
        units, frac = divmod(abs(self.minor), 10**self.exponent)
        body = f"{units:,}" + (f".{frac:0{self.exponent}d}" if self.exponent else "")
        return f"{sign}{self.currency} {body}"

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise ValidationError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def __str__(self) -> str:
        return f"{self.to_decimal_str()} {self.currency}"
