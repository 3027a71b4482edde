"""The admin edits a message's words language by language through the console: the
language selector opens each language's words, Preview shows the chosen language with
sample data (amounts and dates as it writes them), Save keeps each language apart, a
broken placeholder in one language is refused with its problem named and what was
typed kept, and a language messages are not written in is a clear error."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from crm_pay.rendering.message_templates import default_source
from crm_pay.services import notification_templates
from crm_pay.services.context import Context
from paytest import csrf_of

PAGE = "/pay/admin/notifications/templates/pay_link"


def _textarea(page: str, part: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{part}"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert found, f"no {part} textarea"
    return html.unescape(found.group(1))


def _form(page: str, **parts: str) -> dict[str, str]:
    fields = {p: _textarea(page, p) for p in ("subject", "text", "html", "sms")}
    version = re.search(r'name="version" value="(\d+)"', page)
    language = re.search(r'name="language" value="(\w+)"', page)
    assert version and language
    return {
        "csrf_token": csrf_of(page),
        "version": version.group(1),
        "language": language.group(1),
        **fields,
        **parts,
    }


def test_the_language_selector_opens_each_language_s_words_and_preview_speaks_it(
    admin: FlaskClient,
) -> None:
    english = admin.get(PAGE).text
    assert 'aria-current="true" lang="en">English</strong>' in english
    assert f'href="{PAGE}?lang=es"' in english
    spanish = admin.get(PAGE + "?lang=es").text
    assert 'aria-current="true" lang="es">Español</strong>' in spanish
    assert _textarea(spanish, "subject") == default_source("pay_link", "subject", "es")
    preview = html.unescape(spanish.split('id="template-preview"', 1)[1])
    assert "solicitud de pago de" in preview and "125,00" in preview
    assert " de 2026, " in preview  # the sample's date, as Spanish writes it

    typed = "{{ merchant.name }} : votre règlement de {{ amount }}"
    french = admin.get(PAGE + "?lang=fr").text
    shown = admin.post(PAGE, data={**_form(french, subject=typed), "action": "preview"}).text
    assert "Preview: not saved" in shown and "votre règlement de" in html.unescape(shown)


def test_a_french_save_stays_french_and_english_is_untouched(
    admin: FlaskClient, ctx: Context
) -> None:
    french = admin.get(PAGE + "?lang=fr").text
    typed = "{{ merchant.name }} : votre règlement de {{ amount }}"
    saved = admin.post(PAGE, data={**_form(french, subject=typed), "action": "save"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("?lang=fr")
    shown = admin.get(saved.headers["Location"]).text
    assert "Saved as version 1 (Français): customers in that language get these words" in shown
    assert notification_templates.template_editor(ctx, "pay_link", "fr")["edited"]
    assert not notification_templates.template_editor(ctx, "pay_link")["edited"]
    listing = admin.get("/pay/admin/notifications/").text
    assert "Edited in: FR" in listing

    # the English form opened before the French save would overwrite nothing: its
    # version is the kind's, so it meets a conflict instead
    english = admin.get(PAGE).text
    assert 'name="version" value="1"' in english


def test_a_broken_placeholder_in_german_is_refused_and_what_was_typed_is_kept(
    admin: FlaskClient, ctx: Context
) -> None:
    german = admin.get(PAGE + "?lang=de").text
    typed = "{{ merchant.name }}: {{ betrag }} unter {{ n.url }}"
    refused = admin.post(PAGE, data={**_form(german, sms=typed), "action": "save"})
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert "Not saved." in page and "SMS, line 1: unknown variable “betrag”" in page
    assert _textarea(refused.text, "sms") == typed  # nothing typed is lost
    assert 'name="language" value="de"' in refused.text
    assert not notification_templates.template_history(ctx, "pay_link", language="de")


def test_a_language_messages_are_not_written_in_is_a_clear_error(admin: FlaskClient) -> None:
    page = admin.get(PAGE + "?lang=pt")
    assert page.status_code == 422
    assert "Messages are not written in &#39;pt&#39;" in page.text


def test_the_editor_says_when_a_message_is_shipped_in_english_only(admin: FlaskClient) -> None:
    receipt = admin.get("/pay/admin/notifications/templates/receipt?lang=es").text
    assert (
        'id="template-not-shipped"' in receipt and "ships this message in English only" in receipt
    )
    assert _textarea(receipt, "subject") == default_source("receipt", "subject")
    spanish_pay_link = admin.get(PAGE + "?lang=es").text
    assert 'id="template-not-shipped"' not in spanish_pay_link
