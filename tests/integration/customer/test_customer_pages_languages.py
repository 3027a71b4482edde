"""The customer's pages in the customer's language (``agent_ui/i18n.py``): chosen on the
page, from their CRM record or from the browser, with amounts and dates written the
language's way; English stays the default."""

from __future__ import annotations

import html as html_text
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from agent_ui import i18n
from crm_pay.current import get_context
from crm_pay.services import portal
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import create_link, paid, pay, token_of

# What each language says when a paid link is opened again, and how it writes 1,234.50 USD.
CLOSED = {
    "es": ("Este enlace no admite pagos", "Este pago ya se ha realizado. Gracias."),
    "fr": ("Ce lien ne permet pas de payer", "Ce paiement a déjà été effectué. Merci."),
    "de": ("Über diesen Link ist keine Zahlung möglich", "Diese Zahlung wurde bereits geleistet."),
}
AMOUNT = {"es": "1.234,50 US$", "fr": "1 234,50 $US", "de": "1.234,50 $"}


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"CRM_PAY_MERCHANT_TIME_ZONE": "Europe/Paris", "CRM_PAY_CSAT": True}


def _text(html: str) -> str:
    """The page's words, with Babel's narrow and plain no-break spaces as plain spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", html_text.unescape(html))


def _used_link(client: FlaskClient, auth: dict[str, str], **extra: Any) -> str:
    _, created = create_link(client, auth, amount="1234.50", **extra)
    assert pay(client, created["pay_url"]).status_code == 200
    return f"/pay/p/{token_of(created['pay_url'])}"


@pytest.mark.parametrize("lang", ["es", "fr", "de"])
def test_a_closed_link_speaks_the_browsers_language(
    client: FlaskClient, auth: dict[str, str], lang: str
) -> None:
    page = client.get(_used_link(client, auth), headers={"Accept-Language": f"{lang}-XX, en;q=0.5"})
    html = _text(page.get_data(as_text=True))
    heading, words = CLOSED[lang]
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{heading}</h1>" in html
    assert words in html
    assert "This link cannot take a payment" not in html


@pytest.mark.parametrize("lang", ["es", "fr", "de"])
def test_the_receipts_portal_writes_amounts_and_dates_the_languages_way(
    app: Flask, client: FlaskClient, auth: dict[str, str], lang: str
) -> None:
    payment = paid(client, auth, "1234.50")
    link = portal.receipt_link(get_context(app), "CUST-0001", payment["receipt_number"])
    page = client.get(f"{urlsplit(link).path}?lang={lang}")
    html = _text(page.get_data(as_text=True))
    assert f'<html lang="{lang}">' in html
    row = re.search(rf'<tr[^>]*data-receipt="{payment["receipt_number"]}".*?</tr>', html, re.S)
    assert row, html
    assert AMOUNT[lang] in row.group(0)
    # the merchant's zone (Paris), the language's date: "3 déc. 2026 08:15 CET"
    assert re.search(r"\b\d{1,2}:\d{2} CES?T", row.group(0)), row.group(0)
    assert not re.search(r"\d{4}-\d\d-\d\d", row.group(0)), row.group(0)
    assert {"es": "Sus recibos", "fr": "Vos reçus", "de": "Ihre Belege"}[lang] in html


def test_english_is_the_default_and_an_unknown_language_falls_back_to_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    url = _used_link(client, auth)
    for headers in ({}, {"Accept-Language": "ja-JP, pt;q=0.8"}):
        html = client.get(url, headers=headers).get_data(as_text=True)
        assert '<html lang="en">' in html and "<h1>This link cannot take a payment</h1>" in html
    assert '<html lang="en">' in client.get(f"{url}?lang=xx").get_data(as_text=True)


def test_the_page_choice_sticks_on_crm_pays_pages_and_beats_the_browser(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    url = _used_link(client, auth)
    chosen = client.get(f"{url}?lang=de", headers={"Accept-Language": "fr"})
    cookie = chosen.headers["Set-Cookie"]
    assert cookie.startswith(f"{i18n.LANGUAGE_COOKIE}=de;") and "Path=/pay" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # the next page, without ?lang=, still speaks German despite the French browser
    again = client.get(url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="de">' in again
    # the picker offers the others, each in its own words
    assert 'href="?lang=fr"' in again and ">Français</a>" in again
    assert ">Deutsch</strong>" in again


def test_the_customers_crm_record_beats_the_browser_but_not_their_choice(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    # Sofia Delgado's record in the builtin CRM says Spanish
    url = _used_link(client, auth, customer="CUST-0005")
    html = client.get(url, headers={"Accept-Language": "fr, en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="es">' in html and CLOSED["es"][0] in html
    chosen = client.get(f"{url}?lang=en", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in chosen and "This payment has already been made." in chosen


def test_a_decline_tells_the_customer_what_to_do_in_their_language(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _, created = create_link(client, auth, amount="2001.00")  # the sandbox declines 2001
    answer = client.post(
        f"/pay/p/{token_of(created['pay_url'])}/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept-Language": "fr-FR"},
    )
    html = _text(answer.get_data(as_text=True))
    assert "Le paiement n'a pas abouti" in html
    assert "Essayez une autre carte ou contactez votre banque." in html
    assert "Réessayer" in html and "essais restants" in html


def test_host_pages_keep_their_own_gettext(app: Flask) -> None:
    from flask import render_template_string

    @app.get("/host-words")
    def host_words() -> str:
        return render_template_string("[{{ _ is defined }} {{ lang is defined }}]")

    assert app.test_client().get("/host-words").get_data(as_text=True) == "[False False]"


def test_a_crm_that_does_not_answer_leaves_the_choice_to_the_browser(
    app: Flask, client: FlaskClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _used_link(client, auth, customer="CUST-0005")  # her record says Spanish
    crm = get_context(app).crm
    adapter = getattr(crm, "wrapped_adapter", crm)
    asked: list[str] = []

    def down(crm_ref: str) -> None:
        asked.append(crm_ref)
        raise TimeoutError("the CRM did not answer")

    monkeypatch.setattr(adapter, "find_customer", down)
    for _ in range(2):
        page = client.get(url, headers={"Accept-Language": "fr"})
        assert page.status_code == 200
        assert '<html lang="fr">' in page.get_data(as_text=True)
    assert asked == ["CUST-0005"]  # asked once, then left alone for a while


def test_the_survey_speaks_german_with_its_errors_and_amount(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    paid(client, auth, "25.00")
    make_dispatcher(ctx).drain()
    mailbox: Any = ctx.email
    [receipt] = [
        mailbox.read(m.message_id).text
        for m in mailbox.list_messages()
        if "Your receipt" in m.subject
    ]
    [url] = re.findall(r"http://shop\.test(/pay/survey/\S+)", receipt)
    form = _text(client.get(f"{url}?lang=de").get_data(as_text=True))
    assert "<h1>Wie waren wir?</h1>" in form
    assert "Sie haben <strong>25,00 $</strong> an" in form and "gezahlt." in form
    # the form posts back to the same address: the choice holds, and so does the cookie
    bad = client.post(url, data={"score": "9", "comment": "bitte behalten"})
    assert bad.status_code == 422
    page = _text(bad.get_data(as_text=True))
    assert "Bitte wählen Sie eine Bewertung von 1 bis 5." in page and "bitte behalten" in page
    done = _text(client.post(url, data={"score": "5"}).get_data(as_text=True))
    assert "Ihre Antwort ist bei" in done and '<html lang="de">' in done


def test_the_pay_page_and_its_script_words_speak_the_customers_language(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    _, created = create_link(client, auth, amount="1234.50")
    page = client.get(f"/pay/p/{token_of(created['pay_url'])}", headers={"Accept-Language": "de"})
    html = _text(page.get_data(as_text=True))
    assert '<html lang="de">' in html and "<h1>1.234,50 $</h1>" in html
    assert ">1.234,50 $ zahlen</button>" in html and "Kartennummer" in html
    words = re.search(r"data-words='([^']*)'", page.get_data(as_text=True))
    assert words, html
    said = json.loads(html_text.unescape(words.group(1)))
    assert said["Please check the card details."] == "Bitte prüfen Sie die Kartendaten."
    english = client.get(f"/pay/p/{token_of(created['pay_url'])}").get_data(as_text=True)
    assert "<h1>USD 1234.50</h1>" in english  # as it always was and "data-words='{}'" in english
