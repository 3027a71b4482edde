"""The customer's pages in the customer's language: English, Spanish, French, German.

Plain Babel and our own small glue, never Flask-Babel: an embedded extension must not
install anything in the host application's Jinja environment (no global ``_``, no
``jinja2.ext.i18n``) nor choose the host's locale. The customer blueprints register
:func:`install_languages`, whose context processor hands *their* templates ``_``,
``ngettext``, ``money`` and ``lang``; the host's templates never see them.

**Which language** (:func:`choose_language`, the one place that decides):

1. ``?lang=xx`` on the page (the footer's language picker), remembered in the
   ``crm_pay_lang`` cookie, scoped to crm-pay's URL prefix, so the choice holds on the
   pages that follow: the form posts, the redirect from a reminder to its pay link, the
   receipts portal. A cookie rather than a query parameter carried along every link,
   form and script fetch, which a single missed link would drop.
2. The language on the customer's CRM record (``CrmCustomer.language``), when the page
   knows its customer (the view calls :func:`customer_is`).
3. The browser's ``Accept-Language``, best q-value first, on the primary subtag
   (``fr-CA`` → ``fr``).
4. English.

**The words**: gettext catalogs at ``agent_ui/translations/<lang>/LC_MESSAGES/messages.po``,
read with Babel's ``read_po`` on first use and kept in memory: no build step and no
compiled ``.mo`` files to forget when a catalog changes, at the cost of parsing a few
kilobytes once per process. The English text is the message id. A language is offered
when its catalog exists (:data:`LANGUAGES`).

The services and the domain stay in English and know nothing of Babel: their messages
are translated here, at the edge, by message id (:func:`customer_message`: a service
error by its ``code``, the decline and closed-link words by their English text; the ids
are listed in :mod:`agent_ui.customer_words`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Final

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency
from babel.support import NullTranslations
from flask import Blueprint, Response, current_app, g, has_request_context, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from crm_pay.current import get_context
from crm_pay.domain.languages import supported_language
from crm_pay.domain.money import Money
from crm_pay.gettext_catalogs import compiled_catalog

from .customer_words import PAY_SCRIPT_WORDS, SERVICE_ERROR_WORDS

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "catalog_path",
    "choose_language",
    "customer_is",
    "customer_message",
    "format_local_time",
    "format_money",
    "gettext",
    "install_languages",
    "ngettext",
    "page_language",
    "script_words",
    "translations",
]

log = logging.getLogger("crm_pay.i18n")

DEFAULT_LANGUAGE: Final = "en"
LANGUAGE_COOKIE: Final = "crm_pay_lang"
_CATALOGS: Final = Path(__file__).parent / "translations"
# Offered in this order in the picker; a language is offered once its catalog exists.
_ORDER: Final = ("en", "es", "fr", "de")


def _available() -> tuple[str, ...]:
    found = {p.parent.parent.name for p in _CATALOGS.glob("*/LC_MESSAGES/messages.po")}
    extra = sorted(found - set(_ORDER))
    return tuple(lang for lang in _ORDER if lang == DEFAULT_LANGUAGE or lang in found) + tuple(
        extra
    )


LANGUAGES: Final[tuple[str, ...]] = _available()


def choose_language(
    *,
    asked: str | None = None,
    remembered: str | None = None,
    record: str | None = None,
    accept_language: str | None = None,
    available: Iterable[str] = LANGUAGES,
) -> str:
    """The language of a customer page: the one ``asked`` on the page (``?lang=``), else
    the one ``remembered`` from an earlier choice (cookie), else the customer's
    ``record`` language, else the browser's best ``Accept-Language`` match, else English.
    Values that are not offered are skipped, whatever their case or region (``es-MX``
    counts as ``es``)."""
    offered = tuple(available)
    for value in (asked, remembered, record):
        lang = supported_language(value, offered)
        if lang is not None:
            return lang
    for tag, quality in parse_accept_header(accept_language or "", LanguageAccept):
        if quality <= 0:
            continue
        lang = supported_language(tag, offered)
        if lang is not None:
            return lang
    return DEFAULT_LANGUAGE


def catalog_path(lang: str) -> Path:
    """Where the catalog of ``lang`` is kept."""
    return _CATALOGS / lang / "LC_MESSAGES" / "messages.po"


@cache
def translations(lang: str) -> NullTranslations:
    """The catalog of ``lang`` (read once per process); English is the identity."""
    if lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    return compiled_catalog(catalog_path(lang), lang)


# --------------------------------------------------------------- the page's language
_RECORD_TTL: Final = 600.0  # seconds a CRM record's language is trusted
_FAILED_TTL: Final = 60.0  # a CRM that did not answer is not asked again for a minute
_record_lock = threading.Lock()


def _record_language(crm_ref: str) -> str | None:
    """The language on the customer's CRM record, asked outside any transaction and
    remembered for a few minutes per process, so a CRM that is slow or down never holds
    up a customer's page for more than one look-up. Kept per application (each has its
    own CRM), in ``app.extensions["crm_pay_record_languages"]``."""
    cache: dict[str, tuple[float, str | None]]
    cache = current_app.extensions.setdefault("crm_pay_record_languages", {})
    now = time.monotonic()
    with _record_lock:
        known = cache.get(crm_ref)
    if known is not None and known[0] > now:
        return known[1]
    try:
        found = get_context().crm.find_customer(crm_ref)
        language, ttl = (getattr(found, "language", None) if found else None), _RECORD_TTL
    except Exception as exc:  # noqa: BLE001 - any CRM failure: fall back to the browser
        log.warning("customer page: no language from the CRM (%s)", type(exc).__name__)
        language, ttl = None, _FAILED_TTL
    with _record_lock:
        if len(cache) > 10_000:
            cache.clear()
        cache[crm_ref] = (now + ttl, language)
    return language


def customer_is(crm_ref: str | None) -> None:
    """The page being built is for the customer ``crm_ref``: their CRM record's language
    counts (below the page's own choice). Call before rendering."""
    g.crm_pay_customer_ref = crm_ref or None


def _asked() -> str | None:
    return supported_language(request.args.get("lang"), LANGUAGES)


def page_language() -> str:
    """The language of the customer page being answered (:func:`choose_language`),
    decided once per request; English outside a request."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen: str | None = g.get("crm_pay_language")
    if chosen is not None:
        return chosen
    asked = _asked()
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    crm_ref = g.get("crm_pay_customer_ref")
    record = None
    if crm_ref and not (
        supported_language(asked, LANGUAGES) or supported_language(remembered, LANGUAGES)
    ):
        record = _record_language(crm_ref)
    chosen = choose_language(
        asked=asked,
        remembered=remembered,
        record=record,
        accept_language=request.headers.get("Accept-Language"),
    )
    g.crm_pay_language = chosen
    return chosen


def gettext(msgid: str, **params: Any) -> str:
    """``msgid`` in the page's language, with ``%(name)s`` placeholders filled."""
    text = translations(page_language()).ugettext(msgid)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    """The singular or plural form for ``n`` in the page's language (``%(num)s`` is n)."""
    text = translations(page_language()).ungettext(singular, plural, n)
    return text % {"num": n, **params}


def script_words() -> dict[str, str]:
    """The pay page script's words in the page's language, keyed by their English text
    (empty in English: the script's own words are English)."""
    if page_language() == DEFAULT_LANGUAGE:
        return {}
    return {text: gettext(text) for text in PAY_SCRIPT_WORDS}


def customer_message(code: str | None, message: str) -> str:
    """A service's ``message`` (with its error ``code``) in the page's language. In English
    it is shown as it is; otherwise the words for its code, else the translation of the
    text itself (the decline and closed-link words, whose English text is their id),
    else the English text."""
    if page_language() == DEFAULT_LANGUAGE:
        return message
    translated = translations(page_language())
    # a template may pass an undefined code: only a string is looked up
    words = SERVICE_ERROR_WORDS.get(code) if isinstance(code, str) else None
    if words is not None and translated.ugettext(message) == message:
        return translated.ugettext(words)
    return translated.ugettext(message)


# -------------------------------------------------------------- amounts and times
def format_money(amount: Money | Decimal | str, currency: str | None = None) -> str:
    """An amount as the page's language writes it: ``12,50 €`` in French or German,
    ``12,50 US$`` in Spanish. English keeps crm-pay's own forms, the ones the agent
    console and receipts use, so agent and customer read the same thing: a ``Money`` as
    ``USD 1,234.50`` (:meth:`Money.format`), a view's decimal text as ``USD 1234.50``."""
    lang = page_language()
    if lang == DEFAULT_LANGUAGE and not isinstance(amount, Money):
        return f"{currency} {amount}"
    money = amount if isinstance(amount, Money) else Money.parse(str(amount), str(currency))
    if lang == DEFAULT_LANGUAGE:
        return money.format()
    return format_currency(Decimal(money.to_decimal_str()), money.currency, locale=lang)


def format_local_time(moment: datetime) -> str:
    """``moment`` (time-zone aware) in the merchant's time zone with the zone's name:
    ``2026-03-02 14:05 GMT`` in English, the language's own date otherwise
    (``2 mars 2026 14:05 CET``)."""
    local = moment.astimezone(get_context().settings.time_zone)
    lang = page_language()
    if lang == DEFAULT_LANGUAGE:
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    day = format_date(local, "medium", locale=lang)
    return f"{day} {format_time(local, 'short', locale=lang)} {local.tzname()}"


# ------------------------------------------------------------------- the blueprints
def _picker() -> list[dict[str, Any]]:
    current = page_language()
    return [
        {
            "code": lang,
            "name": (Locale.parse(lang).get_display_name(lang) or lang).capitalize(),
            "current": lang == current,
        }
        for lang in LANGUAGES
    ]


def page_words() -> dict[str, Any]:
    """The template context of a customer page: its language and how to write in it."""
    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "lang": page_language(),
        "languages": _picker(),
        "money": format_money,
        "say": customer_message,
        "script_words": script_words,
    }


def _remember_choice(resp: Response) -> Response:
    """``?lang=`` chose a language: keep it for crm-pay's next pages (and only theirs)."""
    asked = _asked()
    if asked is not None and request.cookies.get(LANGUAGE_COOKIE) != asked:
        prefix = get_context().settings.url_prefix.rstrip("/") or "/"
        resp.set_cookie(
            LANGUAGE_COOKIE,
            asked,
            max_age=365 * 24 * 3600,
            path=prefix,
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    resp.vary.add("Accept-Language")
    resp.vary.add("Cookie")
    return resp


def install_languages(bp: Blueprint) -> None:
    """Speak the customer's language on the pages of ``bp`` (a customer blueprint)."""
    bp.context_processor(page_words)
    bp.after_request(_remember_choice)
