"""The words a customer message says that its template does not write: why a payment
was declined and what to try next (``crm_pay.domain.declines``), and what we did about a
case (:data:`~crm_pay.rendering.notices.CASE_RESOLUTION_WORDS`), in the message's
language.

They are made in English by the domain and the services, stored that way
(``payments.decline_message``), and translated here, at rendering, by their English
text, which is their gettext message id. The catalogs are
``crm_pay/rendering/translations/<lang>/LC_MESSAGES/messages.po``, read with Babel on
first use (no compiled ``.mo`` to forget, as the customer pages' catalogs in
``agent_ui.i18n``). The decline words are the ones the pay page shows in that language
(``tests/unit/rendering/test_message_words.py`` keeps the two catalogs in step), so the
customer reads the same sentence on the page and in the e-mail.

Words a catalog does not have stay English: never a message id that is not a sentence,
never an empty string.

Pure: no database, no clock, no Flask.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Final

from babel.support import NullTranslations

from crm_pay.gettext_catalogs import compiled_catalog

__all__ = ["catalog_path", "translated"]

_ENGLISH: Final = "en"
_CATALOGS: Final = Path(__file__).parent / "translations"
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}")  # a primary subtag, never a path


def catalog_path(language: str) -> Path:
    """Where the catalog of ``language``'s message words is kept."""
    return _CATALOGS / language / "LC_MESSAGES" / "messages.po"


@cache
def _catalog(language: str) -> NullTranslations:
    if language == _ENGLISH:
        return NullTranslations()
    return compiled_catalog(catalog_path(language), language)


def translated(language: str, english: str) -> str:
    """``english`` (words the domain or a service made) in ``language``; the English
    words themselves when the catalog has no translation of them."""
    if not english or not _LANGUAGE.fullmatch(language):
        return english
    # gettext gives the id back when it has no (or an empty) translation: English
    return _catalog(language).ugettext(english)
