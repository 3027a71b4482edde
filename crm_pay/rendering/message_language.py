"""The language a customer message is written in, and how it writes amounts and times.

The customer pages choose their language in ``agent_ui.i18n``; a message has no browser
and no cookie, so it goes by the customer's CRM record (``CrmCustomer.language``, kept
on our copy of the customer), else the merchant's ``CRM_PAY_DEFAULT_LANGUAGE``.

English keeps crm-pay's own forms (``USD 1,234.56``, ``2026-03-02 14:05:00 UTC``), the
ones the agent console and the receipt show, so agent and customer quote the same
thing. Every other language writes them as Babel's CLDR data says for that locale
(``1.234,56 €``, ``2 de marzo de 2026, 14:05 CET``), in the merchant's time zone.

Pure: no database, no clock, no Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency

from crm_pay.domain.languages import ENGLISH, MESSAGE_LANGUAGES, supported_language
from crm_pay.domain.money import Money

from .receipt_pdf import format_moment

__all__ = [
    "ENGLISH",
    "MESSAGE_LANGUAGES",
    "LANGUAGE_NAMES",
    "MessageLocale",
    "message_language",
    "supported_language",
]

# Each language in its own words, for the admin's language selector.
LANGUAGE_NAMES: Final = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch"}


def message_language(record: str | None, default: str = ENGLISH) -> str:
    """The language of a message to a customer whose CRM record says ``record``: that
    language when messages are written in it, else the merchant's ``default``."""
    return supported_language(record) or supported_language(default) or ENGLISH


@dataclass(frozen=True, slots=True)
class MessageLocale:
    """How one message writes: its language, and the time zone its times are told in
    (``None``: each time in its own zone, as the English messages always did)."""

    language: str = ENGLISH
    time_zone: ZoneInfo | None = None

    @property
    def english(self) -> bool:
        return self.language == ENGLISH

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.time_zone) if self.time_zone is not None else moment

    def amount(self, money: Money) -> str:
        """``money`` as the language writes it (English: :meth:`Money.format`)."""
        if self.english:
            return money.format()
        return format_currency(
            Decimal(money.to_decimal_str()), money.currency, locale=self.language
        )

    def moment(self, moment: datetime) -> str:
        """A date and time with its zone: ``2 de marzo de 2026, 14:05 CET`` (English:
        :func:`~crm_pay.rendering.receipt_pdf.format_moment`, as the receipt writes it)."""
        local = self._local(moment)
        if self.english:
            return format_moment(local)
        # CLDR's long date-time pattern carries the zone as a long name or an offset;
        # the zone's abbreviation after the locale's own date and time reads better.
        day = format_date(local, "long", locale=self.language)
        return f"{day}, {self.time(moment)}"

    def time(self, moment: datetime) -> str:
        """A time of day with its zone (an SMS has no room for the date): ``14:05 CET``."""
        local = self._local(moment)
        if self.english:
            return local.strftime("%H:%M %Z").strip()
        return f"{format_time(local, 'short', locale=self.language)} {local.tzname() or ''}".strip()

    def method(self, printed: str) -> str:
        """A payment method as :func:`~crm_pay.rendering.receipt_pdf.printed_method`
        writes it (``Visa ending 1111``), in the language: ``Visa terminada en 1111``.
        A wallet's name (``PayPal``) is a name in every language."""
        card = _PRINTED_CARD.fullmatch(printed)
        if self.english or card is None:
            return printed
        return _CARD_WORDS[self.language].format(brand=card["brand"], last4=card["last4"])

    def day(self, day: date) -> str:
        """A calendar day: ``2 de marzo de 2026``."""
        return format_date(day, "long", locale=self.language)

    def when_due(self, due_on: date, days_overdue: int) -> str:
        """When an invoice is or was due, as the reminder's sentence goes on after
        the invoice number: ``venció el 2 de marzo de 2026 (hace 3 días)`` (not English,
        see ``_DUE_WORDS``)."""
        words = _DUE_WORDS[self.language]
        due = self.day(due_on)
        if days_overdue > 0:
            ago = words["ago_one"] if days_overdue == 1 else words["ago_many"]
            return words["overdue"].format(due=due, ago=ago.format(days=days_overdue))
        if days_overdue == 0:
            return words["today"].format(due=due)
        return words["due"].format(due=due)


_PRINTED_CARD: Final = re.compile(r"(?P<brand>.+) ending (?P<last4>\d{4})")
# A card by its brand and last 4 digits inside a sentence ("with Visa ending 1111"),
# worded as the customer pages' catalogs word "%(brand)s ending %(last4)s".
_CARD_WORDS: Final[dict[str, str]] = {
    "es": "{brand} terminada en {last4}",
    "fr": "{brand} se terminant par {last4}",
    "de": "{brand} (Endziffern {last4})",
}

# The reminder's "when due" words per language but English (whose words, with their
# "2 March 2026", crm_pay.rendering.email has always written): they follow the invoice
# number in each language's shipped reminder templates.
_DUE_WORDS: Final[dict[str, dict[str, str]]] = {
    "es": {
        "overdue": "venció el {due} ({ago})",
        "ago_one": "hace 1 día",
        "ago_many": "hace {days} días",
        "today": "vence hoy, {due}",
        "due": "vence el {due}",
    },
    "fr": {
        "overdue": "est arrivée à échéance le {due} (il y a {ago})",
        "ago_one": "1 jour",
        "ago_many": "{days} jours",
        "today": "arrive à échéance aujourd’hui, le {due}",
        "due": "arrive à échéance le {due}",
    },
    "de": {
        "overdue": "war am {due} fällig (vor {ago})",
        "ago_one": "1 Tag",
        "ago_many": "{days} Tagen",
        "today": "ist heute, am {due}, fällig",
        "due": "ist am {due} fällig",
    },
}
