"""The message ids of the customer pages and the state of each language's catalog.

``python -m agent_ui.i18n_catalogs <lang>`` creates or updates
``agent_ui/translations/<lang>/LC_MESSAGES/messages.po``: every message id the customer
pages use is added with an empty translation (existing translations are kept), and the
ids still to translate are listed. A language whose catalog has no empty translation
left is complete (``tests/unit/test_customer_languages.py`` checks es, fr and de).

The ids come from two places: the customer templates (``_()``/``ngettext()`` calls,
found with Jinja's Babel extractor) and ``MESSAGE_IDS`` (the words the
services and the domain make, translated at the edge; :mod:`agent_ui.customer_words`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from jinja2.ext import babel_extract

from .customer_words import MESSAGE_IDS
from .i18n import catalog_path

__all__ = ["CUSTOMER_TEMPLATES", "MessageId", "message_ids", "untranslated", "update_catalog"]

MessageId = str | tuple[str, str]  # a plain id, or (singular, plural)

_TEMPLATES: Final = Path(__file__).parent / "templates" / "crm_pay"
CUSTOMER_TEMPLATES: Final = (
    "base.html",
    "pay.html",
    "pay_closed.html",
    "pay_result.html",
    "portal_base.html",
    "portal_receipts.html",
    "portal_closed.html",
    "survey_base.html",
    "survey.html",
    "survey_closed.html",
    "survey_thanks.html",
    "reminder_pay.html",
    "reminder_opt_out.html",
    "_merchant_footer.html",
    "_language_picker.html",
)


def message_ids() -> list[MessageId]:
    """Every message id of the customer pages, in order of first use."""
    found: dict[MessageId, None] = {}
    for name in CUSTOMER_TEMPLATES:
        with (_TEMPLATES / name).open("rb") as f:
            for _line, _func, message, _comments in babel_extract(
                f, ("_", "gettext", "ngettext"), [], {}
            ):
                if isinstance(message, str):
                    found.setdefault(message, None)
                elif message is not None and message[0]:  # _(variable) has no id to extract
                    singular, plural = message[0], message[1]
                    found.setdefault((singular, plural) if plural else singular, None)
    for msgid in MESSAGE_IDS:
        found.setdefault(msgid, None)
    return list(found)


def _read(lang: str) -> Catalog:
    path = catalog_path(lang)
    if not path.is_file():
        return Catalog(locale=lang, project="crm-pay", fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def untranslated(lang: str) -> list[MessageId]:
    """The message ids that ``lang``'s catalog lacks or leaves empty."""
    catalog = _read(lang)
    missing = []
    for msgid in message_ids():
        entry = catalog.get(msgid[0] if isinstance(msgid, tuple) else msgid)
        found = None if entry is None else entry.string
        strings = (found,) if isinstance(found, str) else tuple(found or ())
        if entry is None or entry.fuzzy or not strings or not all(s.strip() for s in strings):
            missing.append(msgid)
    return missing


def update_catalog(lang: str) -> list[MessageId]:
    """Add every message id ``lang``'s catalog lacks (empty), write it, and return the
    ids still to translate."""
    catalog = _read(lang)
    for msgid in message_ids():
        if catalog.get(msgid[0] if isinstance(msgid, tuple) else msgid) is None:
            catalog.add(msgid, ("", "") if isinstance(msgid, tuple) else "")
    path = catalog_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, no_location=True)
    return untranslated(lang)


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    if len(sys.argv) != 2:
        sys.exit("usage: python -m agent_ui.i18n_catalogs <language, e.g. it>")
    todo = update_catalog(sys.argv[1])
    print(f"{catalog_path(sys.argv[1])}: {len(todo)} message(s) to translate")
    for msgid in todo:
        print(f"  {msgid!r}")
