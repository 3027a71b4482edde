"""Phone numbers as people type them, read as E.164 (``+14155550142``).

One rule for every place that compares or sends a number: the console's search box, the
builtin CRM and the CRM connectors that match numbers themselves.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["normalize_phone", "looks_like_phone"]

_PHONE_TEXT: Final = re.compile(r"\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*")


def looks_like_phone(text: str) -> bool:
    """``text`` is written like a phone number (digits, ``+``, spaces, ``().-/``), so a
    search box should look it up as one rather than as a name or an id."""
    return bool(_PHONE_TEXT.fullmatch(text.strip()))


def normalize_phone(text: str, default_country_code: str = "1") -> str | None:
    """Return ``text`` as an E.164 number (``"+14155550142"``), or ``None``.

    Spaces, dots, dashes, slashes and parentheses are ignored. A number written without
    ``+`` (or the ``00`` international prefix) is national to ``default_country_code``: for
    the North American plan (``"1"``) 10 digits, or 11 with the leading ``1``; elsewhere one
    leading trunk ``0`` is dropped. Anything else, letters or extensions included, is not a
    phone number.
    """
    written = text.strip()
    if not _PHONE_TEXT.fullmatch(written):
        return None
    digits = re.sub(r"[^0-9]", "", written)
    if written.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif default_country_code == "1":
        if len(digits) == 10:
            digits = "1" + digits
        elif not (len(digits) == 11 and digits.startswith("1")):
            return None
    else:
        digits = default_country_code + digits.removeprefix("0")
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits
