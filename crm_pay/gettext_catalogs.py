"""A gettext catalog as the pages and the messages read it: the ``.po`` file the
repository keeps (no compiled ``.mo`` is shipped), compiled in memory once per caller's
cache. Used by the customer pages (``agent_ui.i18n``) and the messages' words
(``crm_pay.rendering.message_words``)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["compiled_catalog"]


def compiled_catalog(path: Path, language: str) -> NullTranslations:
    """The translations of the ``.po`` file at ``path`` for ``language``; the identity
    (``NullTranslations``) when there is no such file."""
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
