"""The languages crm-pay writes to customers in, and the one parser of a language tag.

Pure rules, no rendering: the customer pages choose their language with
:func:`supported_language` on every request, and the messages theirs when they are
rendered (:mod:`crm_pay.rendering.message_language`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

__all__ = ["ENGLISH", "MESSAGE_LANGUAGES", "supported_language"]

ENGLISH: Final = "en"
# The languages the shipped messages are written in (as the customer pages offer them).
MESSAGE_LANGUAGES: Final = ("en", "es", "fr", "de")


def supported_language(
    value: str | None, offered: Collection[str] = MESSAGE_LANGUAGES
) -> str | None:
    """``value`` (a BCP 47 tag of any case or region: ``es-MX``, ``fr_CA``) as one of the
    ``offered`` languages (default :data:`MESSAGE_LANGUAGES`), or ``None`` when it is none
    of them. The one parser of a language tag: the customer pages choose theirs with it
    too (``agent_ui.i18n``)."""
    primary = str(value or "").strip().replace("_", "-").partition("-")[0].lower()
    return primary if primary in offered else None
