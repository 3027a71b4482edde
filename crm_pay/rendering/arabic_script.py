"""Arabic text as a PDF shows it: joined letters, right to left.

A PDF draws glyphs left to right as they come, and receipts are drawn without a shaping
engine, so Arabic words are given to it already shaped: each letter replaced by its
contextual form from Unicode's Arabic Presentation Forms-B (isolated, final, initial,
medial; lam-alef as one ligature), and each run of Arabic words reversed into the order
it is seen in. The embedded font maps every form back to its letter (see
:mod:`.receipt_fonts`), so the name still reads, copies and extracts as typed. Digits and
Latin text between Arabic words keep their own direction.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["display_order", "has_arabic"]

# Letter -> first of its presentation forms and how many it has: 4 joins on both sides
# (isolated, final, initial, medial), 2 only to the letter before it (isolated, final).
_FORMS: Final[dict[str, tuple[int, int]]] = {
    "\u0621": (0xFE80, 1),
    "\u0622": (0xFE81, 2),
    "\u0623": (0xFE83, 2),
    "\u0624": (0xFE85, 2),
    "\u0625": (0xFE87, 2),
    "\u0626": (0xFE89, 4),
    "\u0627": (0xFE8D, 2),
    "\u0628": (0xFE8F, 4),
    "\u0629": (0xFE93, 2),
    "\u062a": (0xFE95, 4),
    "\u062b": (0xFE99, 4),
    "\u062c": (0xFE9D, 4),
    "\u062d": (0xFEA1, 4),
    "\u062e": (0xFEA5, 4),
    "\u062f": (0xFEA9, 2),
    "\u0630": (0xFEAB, 2),
    "\u0631": (0xFEAD, 2),
    "\u0632": (0xFEAF, 2),
    "\u0633": (0xFEB1, 4),
    "\u0634": (0xFEB5, 4),
    "\u0635": (0xFEB9, 4),
    "\u0636": (0xFEBD, 4),
    "\u0637": (0xFEC1, 4),
    "\u0638": (0xFEC5, 4),
    "\u0639": (0xFEC9, 4),
    "\u063a": (0xFECD, 4),
    "\u0641": (0xFED1, 4),
    "\u0642": (0xFED5, 4),
    "\u0643": (0xFED9, 4),
    "\u0644": (0xFEDD, 4),
    "\u0645": (0xFEE1, 4),
    "\u0646": (0xFEE5, 4),
    "\u0647": (0xFEE9, 4),
    "\u0648": (0xFEED, 2),
    "\u0649": (0xFEEF, 2),
    "\u064a": (0xFEF1, 4),
}
# Lam followed by one of these alefs is one ligature: its isolated form (final is + 1).
_LAM_ALEF: Final = {"\u0622": 0xFEF5, "\u0623": 0xFEF7, "\u0625": 0xFEF9, "\u0627": 0xFEFB}
_TATWEEL: Final = "\u0640"  # the joining stroke: joins on both sides, has no forms
_MARKS: Final = re.compile(r"[\u064b-\u065f\u0670]")  # vowel marks: no effect on joining
_ARABIC: Final = "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"
# A run read right to left: Arabic words and what sits between two of them.
_RUN: Final = re.compile(f"[{_ARABIC}]+(?:[\\s\\-.,'()]+[{_ARABIC}]+)*")


def has_arabic(text: str) -> bool:
    return re.search(f"[{_ARABIC}]", text) is not None


def _joins_forward(char: str) -> bool:
    return char == _TATWEEL or _FORMS.get(char, (0, 0))[1] == 4


def _joins_back(char: str) -> bool:
    return char == _TATWEEL or _FORMS.get(char, (0, 0))[1] >= 2


def _shape(word: str) -> str:
    """One run in reading order, letters replaced by their contextual forms."""
    letters = [char for char in word if not _MARKS.fullmatch(char)]  # marks dropped:
    # Presentation Forms-B has no room for them on a shaped letter; names rarely have any.
    out: list[str] = []
    i = 0
    while i < len(letters):
        char = letters[i]
        before = i > 0 and _joins_forward(letters[i - 1])
        after = i + 1 < len(letters) and _joins_back(letters[i + 1])
        if char == "\u0644" and i + 1 < len(letters) and letters[i + 1] in _LAM_ALEF:
            out.append(chr(_LAM_ALEF[letters[i + 1]] + (1 if before else 0)))
            i += 2
            continue
        if char not in _FORMS:
            out.append(char)
        else:
            first, count = _FORMS[char]
            after = after and count == 4
            form = (3 if after else 1) if before else (2 if after else 0)
            out.append(chr(first + min(form, count - 1)))
        i += 1
    return "".join(out)


def display_order(text: str) -> str:
    """``text`` as it is drawn: Arabic runs shaped and reversed, the rest unchanged."""
    return _RUN.sub(lambda match: _shape(match.group())[::-1], text)
