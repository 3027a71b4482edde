"""Phone numbers as people type them into a CRM, for lookups by caller number.

Internal to :mod:`connectors.crm.salesforce`. The candidates only narrow the search:
every stored number found is normalised and compared with the caller's.
"""

from __future__ import annotations

__all__ = ["phone_spellings", "search_digits"]


def phone_spellings(e164: str, country: str) -> list[str]:
    """The ways people commonly type this number into a CRM."""
    digits = e164[1:]
    spellings = [e164, digits]
    national = digits[len(country) :] if digits.startswith(country) else ""
    if country == "1" and len(national) == 10:
        a, b, c = national[:3], national[3:6], national[6:]
        spellings += [
            national,
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a} {b} {c}",
            f"+1 {a} {b} {c}",
            f"+1 ({a}) {b}-{c}",
            f"+1-{a}-{b}-{c}",
            f"1-{a}-{b}-{c}",
            f"1 ({a}) {b}-{c}",
            f"+1 {a}-{b}-{c}",
            f"1{national}",
        ]
    elif national:
        spellings += [
            f"0{national}",
            f"+{country} {national}",
            f"+{country} (0){national}",
            f"00{digits}",
        ]
    return list(dict.fromkeys(spellings))


def search_digits(e164: str, country: str) -> set[str]:
    digits = e164[1:]
    national = digits[len(country) :] if digits.startswith(country) else ""
    return {digits, national} - {""}
