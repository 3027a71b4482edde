"""What an agent's search text matches: a CRM id in any case, or a name by its words.

One rule for the builtin CRM and for crm-pay's own copy of the customers it has seen
(the fallback when a CRM cannot search by name, or does not answer).
"""

from __future__ import annotations

import re

__all__ = ["search_words", "matches_customer"]

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def search_words(text: str) -> list[str]:
    """The words of ``text``, case-folded (``"O'Brien-Smith"`` stays one word)."""
    return [w.casefold() for w in _WORD.findall(text)]


def matches_customer(text: str, *, crm_ref: str, name: str, company: str | None = None) -> bool:
    """``text`` is this customer's CRM id (any case), or every word of it starts a word
    of the customer's name or company: ``"rivera"``, ``"ele whit"``."""
    wanted = text.strip().casefold()
    if not wanted:
        return False
    if wanted == crm_ref.casefold():
        return True
    words = search_words(wanted)
    have = search_words(f"{name} {company or ''}")
    return bool(words) and all(any(h.startswith(w) for h in have) for w in words)
