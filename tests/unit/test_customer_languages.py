"""Which language a customer page speaks (``agent_ui.i18n.choose_language``) and whether
each language's catalog says everything the pages say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from agent_ui import i18n
from agent_ui.i18n_catalogs import message_ids, untranslated

TRANSLATED = ("es", "fr", "de")


def test_every_translated_language_is_offered_after_english() -> None:
    assert i18n.LANGUAGES[:4] == ("en", "es", "fr", "de")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-CH;q=0.9, fr;q=0.8, *;q=0.1", "de"),  # the best q-value wins, on its primary tag
        ("en;q=0.2, es-MX;q=0.7", "es"),  # q-values, not the order written
        ("pt-BR, ja;q=0.9, de;q=0.3", "de"),  # unsupported ones are skipped
        ("es;q=0, fr;q=0.1", "fr"),  # q=0 means "not this one"
        ("pt-BR, ja", "en"),  # nothing we speak: English
        ("", "en"),
        ("*", "en"),
        ("not a header;;;q=x", "en"),
    ],
)
def test_the_browsers_language_is_its_best_supported_match(header: str, expected: str) -> None:
    assert i18n.choose_language(accept_language=header) == expected


def test_the_crm_record_beats_the_browser() -> None:
    assert i18n.choose_language(record="de", accept_language="fr-FR, es;q=0.5") == "de"
    assert i18n.choose_language(record="es_MX", accept_language="fr") == "es"
    # a record in a language we do not speak leaves the choice to the browser
    assert i18n.choose_language(record="it", accept_language="fr") == "fr"


def test_the_pages_own_choice_beats_the_record_and_is_remembered() -> None:
    assert i18n.choose_language(asked="fr", record="de", accept_language="es") == "fr"
    assert i18n.choose_language(asked="EN", record="de") == "en"
    assert i18n.choose_language(remembered="es", record="de", accept_language="fr") == "es"
    assert i18n.choose_language(asked="fr", remembered="es") == "fr"
    # ?lang=xx that we do not speak is ignored, not an error
    assert i18n.choose_language(asked="xx", record="de") == "de"
    assert i18n.choose_language(asked="../../etc", accept_language="zz") == "en"


def test_only_offered_languages_are_chosen() -> None:
    assert i18n.choose_language(asked="de", available=("en", "fr")) == "en"
    assert i18n.choose_language(accept_language="de, fr;q=0.5", available=("en", "fr")) == "fr"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_of_the_customer_pages_is_translated(lang: str) -> None:
    assert untranslated(lang) == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_translation_keeps_the_placeholders_of_its_message(lang: str) -> None:
    with i18n.catalog_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    placeholder = re.compile(r"%\((\w+)\)s")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(placeholder.findall(i) for i in ids))
        for text in strings:
            assert set(placeholder.findall(text)) <= wanted, (lang, message.id, text)
            assert not (wanted - {"num"}) - set(placeholder.findall(text)), (lang, message.id)


def test_the_words_made_in_the_domain_are_message_ids() -> None:
    ids = message_ids()
    assert "Please check the 3- or 4-digit code on your card and enter it again." in ids
    assert "This payment link has expired. Please ask us to send a new one." in ids
    assert ("%(num)s attempt(s) left", "%(num)s attempt(s) left") in ids


def test_an_empty_translation_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path
    po = root / "it" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid "Secure payment"\nmsgstr "Pagamento sicuro"\n\nmsgid "Try again"\nmsgstr ""\n'
    )
    monkeypatch.setattr(i18n, "_CATALOGS", root)
    missing = untranslated("it")
    assert "Try again" in missing and "Secure payment" not in missing
