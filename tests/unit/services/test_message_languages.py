"""Customer e-mails and text messages in the customer's language: the CRM record's
language, else the merchant's default; amounts and dates as that language writes them;
an admin's edited words per language, English the fallback; nothing lost when an edit
in one language is refused; no card number in any language."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.persistence.models import Customer, NotificationTemplateVersion
from crm_pay.rendering.email_samples import MESSAGE_KINDS
from crm_pay.rendering.message_templates import default_source
from crm_pay.services import notification_templates as templates
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Settings
from crm_pay.services.notification_templates import TemplatesRejected, save_templates
from crm_pay.services.notifications import CASE_UPDATE_TOPIC, send_pay_link
from crm_pay.services.outbox import enqueue
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.services.template_checks import check_templates
from crm_pay.testing import FakeCrm, FakeWorld, OutboxRunner, fake_context
from vault import pan

ADMIN = "user:admin@example.com"
TEST_PAN = "4111 1111 1111 1111"  # Braintree's published Visa test number
EMAIL, PHONE = "ada@example.com", "+15555550101"


@pytest.fixture
def euro_world(tmp_path: Path) -> Iterator[FakeWorld]:
    """A merchant in Madrid billing in euros; Ada's CRM record says nothing of her
    language until a test says it."""
    crm = FakeCrm.with_customer(invoices=(("INV-1001", "2000.00"),), currency="EUR")
    world = fake_context(f"sqlite:///{tmp_path / 'languages.sqlite3'}", crm=crm)
    world.ctx.settings = replace(world.ctx.settings, time_zone=ZoneInfo("Europe/Madrid"))
    yield world
    world.close()


def _speaks(world: FakeWorld, language: str | None) -> None:
    record = world.crm.customers["CUST-0001"]
    world.crm.customers["CUST-0001"] = replace(record, language=language)


def _pay_link(world: FakeWorld, channel: str, amount: str = "1234.56") -> Any:
    view, _ = create_payment(
        world.ctx,
        CreatePayment(crm_ref="CUST-0001", amount=amount, currency="EUR"),
        actor="api:tests",
        idempotency_scope="api:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash=amount,
    )
    send_pay_link(world.ctx, view["id"], channel=channel, actor="user:agent")
    OutboxRunner(world.ctx).drain()
    if channel == "sms":
        return world.sms.to(PHONE)[-1]
    return world.email.to(EMAIL)[-1]


def test_a_spanish_customer_s_pay_link_email_and_sms_are_in_spanish(
    euro_world: FakeWorld,
) -> None:
    _speaks(euro_world, "es-MX")  # a region of a language we write: Spanish
    email = _pay_link(euro_world, "email")
    assert email.subject.endswith(": solicitud de pago de 1.234,56\xa0€")
    assert "Hola, Ada Lovelace:" in email.text and "Pague de forma segura aquí:" in email.text
    assert "1.234,56\xa0€" in email.html and 'lang="es"' in email.html
    # the link's end in the merchant's time zone, with a Spanish month
    assert "El enlace es válido hasta el " in email.text
    assert " de 2026, " in email.text and ("CET" in email.text or "CEST" in email.text)
    assert "payment request" not in email.subject and "Hello" not in email.text

    sms = _pay_link(euro_world, "sms", "20.00")
    assert "pague 20,00\xa0€ de forma segura en http" in sms.body
    assert "(enlace válido hasta las " in sms.body


def test_french_and_german_amounts_and_words(euro_world: FakeWorld) -> None:
    _speaks(euro_world, "fr")
    french = _pay_link(euro_world, "email")
    assert french.subject.endswith(" : demande de paiement de 1\u202f234,56\xa0€")
    assert "Bonjour Ada Lovelace," in french.text
    _speaks(euro_world, "DE")
    # the CRM record is read again when the customer is synced for the next payment
    german = _pay_link(euro_world, "email", "99.50")
    assert german.subject.endswith(": Zahlungsaufforderung über 99,50\xa0€")
    assert "Der Link gilt bis zum " in german.text


@pytest.mark.parametrize("record", [None, "", "pt-BR", "klingon"])
def test_a_customer_with_no_or_an_unsupported_language_gets_the_default(
    euro_world: FakeWorld, record: str | None
) -> None:
    _speaks(euro_world, record)
    english = _pay_link(euro_world, "email")
    assert english.subject.endswith(": payment request for EUR 1,234.56")
    assert "Hello Ada Lovelace," in english.text

    euro_world.ctx.settings = replace(euro_world.ctx.settings, default_language="de")
    german = _pay_link(euro_world, "sms", "5.00")
    assert german.body.startswith(euro_world.ctx.settings.merchant.name + ": Bitte zahlen Sie 5,00")


def test_an_edited_french_template_is_used_for_french_customers_and_english_stays_the_fallback(
    euro_world: FakeWorld,
) -> None:
    ctx = euro_world.ctx
    save_templates(
        ctx,
        "pay_link",
        {"subject": "{{ merchant.name }} : votre règlement de {{ amount }} vous attend"},
        actor=ADMIN,
        language="fr",
    )
    english_edit = save_templates(
        ctx, "pay_link", {"subject": "Please pay {{ amount }}"}, actor=ADMIN, base_version=1
    )
    assert english_edit["version"] == 2  # one history per kind, across its languages

    _speaks(euro_world, "fr-CA")
    french = _pay_link(euro_world, "email")
    assert french.subject.endswith(" : votre règlement de 1\u202f234,56\xa0€ vous attend")
    assert "Bonjour Ada Lovelace," in french.text  # the parts left as shipped: French

    _speaks(euro_world, "zz")  # not a language we write: the default, English, edited
    english = _pay_link(euro_world, "email")
    assert english.subject == "Please pay EUR 1,234.56"

    _speaks(euro_world, "es")  # nobody edited Spanish: its shipped words
    spanish = _pay_link(euro_world, "email")
    assert spanish.subject.endswith(": solicitud de pago de 1.234,56\xa0€")

    french_editor = templates.template_editor(ctx, "pay_link", "fr")
    assert french_editor["edited"] and french_editor["base_version"] == 2
    assert [p["part"] for p in french_editor["parts"] if p["edited"]] == ["subject"]
    text = next(p for p in french_editor["parts"] if p["part"] == "text")
    assert text["source"] == default_source("pay_link", "text", "fr")
    assert [h["version"] for h in templates.template_history(ctx, "pay_link", language="fr")] == [1]
    listed = next(t for t in templates.template_list(ctx) if t["kind"] == "pay_link")
    assert listed["edited_languages"] == ["en", "fr"]


def test_a_broken_placeholder_in_one_language_is_refused_and_nothing_is_lost(
    euro_world: FakeWorld,
) -> None:
    ctx = euro_world.ctx
    save_templates(
        ctx,
        "pay_link",
        {"sms": "{{ merchant.name }}: {{ amount }} {{ n.url }}"},
        actor=ADMIN,
        language="de",
    )
    with pytest.raises(TemplatesRejected) as refused:
        save_templates(
            ctx,
            "pay_link",
            {"sms": "{{ merchant.name }}: {{ betrag }} unter {{ n.url }}"},
            actor=ADMIN,
            language="de",
            base_version=1,
        )
    [problem] = refused.value.problems
    assert problem.startswith("SMS, line 1: unknown variable “betrag”") and "amount" in problem
    with ctx.db.transaction() as s:
        rows = s.scalars(select(NotificationTemplateVersion)).all()
        assert [(r.language, r.version) for r in rows] == [("de", 1)]
    _speaks(euro_world, "de")
    sms = _pay_link(euro_world, "sms", "7.00")
    assert ": 7,00\xa0€ http" in sms.body  # version 1 is still in force

    with pytest.raises(ValidationError, match="not written in 'pt'"):
        save_templates(ctx, "pay_link", {"subject": "Olá"}, actor=ADMIN, language="pt")


@pytest.mark.parametrize("language", ["es", "fr", "de"])
def test_no_card_number_reaches_a_message_in_any_language(
    euro_world: FakeWorld, language: str
) -> None:
    with pytest.raises(TemplatesRejected) as refused:
        save_templates(
            ctx := euro_world.ctx,
            "pay_link",
            {"sms": f"{{{{ merchant.name }}}} {TEST_PAN} {{{{ amount }}}} {{{{ n.url }}}}"},
            actor=ADMIN,
            language=language,
        )
    assert all(TEST_PAN not in p for p in refused.value.problems)
    assert any("card-number-like run of 16 digits" in p for p in refused.value.problems)
    assert not templates.template_history(ctx, "pay_link", language=language)
    _speaks(euro_world, language)
    for channel in ("email", "sms"):
        sent = _pay_link(euro_world, channel)
        words = sent.body if channel == "sms" else sent.subject + sent.text + sent.html
        assert not pan.contains_pan(words)


def test_every_shipped_translation_passes_the_editor_s_checks(euro_world: FakeWorld) -> None:
    for language in ("es", "fr", "de"):
        for kind in MESSAGE_KINDS:
            assert check_templates(euro_world.ctx, kind, {}, language) == [], (kind, language)


def test_the_record_language_is_kept_on_our_copy_of_the_customer(euro_world: FakeWorld) -> None:
    _speaks(euro_world, "fr-CA")
    _pay_link(euro_world, "email")
    with euro_world.ctx.db.transaction() as s:
        assert s.scalars(select(Customer.language)).one() == "fr-CA"


def _payment(world: FakeWorld, amount: str = "1234.56") -> dict[str, Any]:
    view, _ = create_payment(
        world.ctx,
        CreatePayment(crm_ref="CUST-0001", amount=amount, currency="EUR"),
        actor="api:tests",
        idempotency_scope="api:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash=amount,
    )
    return view


def _token(view: dict[str, Any]) -> str:
    return str(view["pay_url"]).rsplit("/p/", 1)[1]


def test_a_german_customer_is_told_of_a_declined_payment_in_german(euro_world: FakeWorld) -> None:
    _speaks(euro_world, "de-AT")
    view = _payment(euro_world)
    declined = pay_with_nonce(euro_world.ctx, _token(view), "fake-processor-declined-visa-nonce")
    assert declined["status"] == "declined"
    # the notice waits a while, in case the customer tries again at once
    euro_world.clock.advance(euro_world.ctx.settings.failure_notice_delay_seconds + 1)
    OutboxRunner(euro_world.ctx).drain()
    [failed] = [m for m in euro_world.email.to(EMAIL) if "nicht ausgeführt" in m.subject]
    assert failed.subject.endswith(" konnte nicht ausgeführt werden")
    assert (
        "Ihre Zahlung von 1.234,56\xa0€" in failed.text
        and "Es wurde nichts abgebucht." in failed.text
    )
    assert "did not go through" not in failed.text and 'lang="de"' in failed.html
    # the decline's reason and next step too, as the pay page says them in German
    assert "Der Kartenherausgeber hat die Zahlung abgelehnt." in failed.text
    assert "Bitte versuchen Sie es mit einer anderen Karte" in failed.text
    assert "card issuer" not in failed.text + failed.html


def test_a_french_customer_is_told_of_a_resolved_case_in_french(euro_world: FakeWorld) -> None:
    _speaks(euro_world, "fr")
    view = _payment(euro_world, "30.00")
    pay_with_nonce(euro_world.ctx, _token(view), "fake-valid-nonce")
    with euro_world.ctx.db.transaction() as s:
        customer_id = s.scalars(select(Customer.id)).one()
        enqueue(
            s,
            topic=CASE_UPDATE_TOPIC,
            ordering_key="case:7",
            dedupe_key="case-update:7:refunded",
            payload={
                "case_id": 7,
                "payment_id": view["id"],
                "customer_id": customer_id,
                "resolution_code": "refunded",
            },
            now=euro_world.ctx.now(),
        )
    OutboxRunner(euro_world.ctx).drain()
    [update] = [m for m in euro_world.email.to(EMAIL) if "du nouveau" in m.subject]
    assert update.subject.endswith(" : du nouveau concernant votre paiement")
    assert f"Nous avons du nouveau concernant votre paiement {view['id']}." in update.text
    assert "en indiquant la référence 7." in update.text
    assert "Nous avons remboursé le paiement ; vous recevrez un reçu" in update.text
    assert "We have refunded" not in update.text + update.html


def test_a_receipt_shipped_only_in_english_is_all_english_even_for_a_spanish_customer(
    euro_world: FakeWorld,
) -> None:
    _speaks(euro_world, "es")
    pay_with_nonce(euro_world.ctx, _token(_payment(euro_world, "30.00")), "fake-valid-nonce")
    OutboxRunner(euro_world.ctx).drain()
    [receipt] = [m for m in euro_world.email.to(EMAIL) if "receipt" in m.subject.lower()]
    # never half and half: the English words with English amounts, and the page says so
    assert "Thank you for your payment of EUR 30.00" in receipt.text
    assert "30,00" not in receipt.text and 'lang="en"' in receipt.html

    # once an admin writes the receipt in Spanish, Spanish customers get those words
    save_templates(
        euro_world.ctx,
        "receipt",
        {"subject": "Recibo {{ receipt.number }} de {{ merchant.name }}: {{ total }}"},
        actor=ADMIN,
        language="es",
    )
    pay_with_nonce(euro_world.ctx, _token(_payment(euro_world, "40.00")), "fake-valid-nonce")
    OutboxRunner(euro_world.ctx).drain()
    spanish = euro_world.email.to(EMAIL)[-1]
    assert spanish.subject.startswith("Recibo ") and spanish.subject.endswith(": 40,00\xa0€")


def test_an_english_customer_s_times_are_written_as_they_always_were(euro_world: FakeWorld) -> None:
    english = _pay_link(euro_world, "email")  # the merchant is in Madrid; the link's end in UTC
    assert re.search(r"The link works until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", english.text)
    assert "EUR 1,234.56" in english.text


@pytest.mark.parametrize("value", ["pt", "ES", "español", ""])
def test_a_default_language_messages_are_not_written_in_is_refused_at_start(value: str) -> None:
    with pytest.raises(
        ConfigurationError, match="CRM_PAY_DEFAULT_LANGUAGE=.*use one of en, es, fr, de"
    ):
        CrmPayConfig.from_mapping({"CRM_PAY_DEFAULT_LANGUAGE": value})


def test_the_default_language_reaches_the_services() -> None:
    config = CrmPayConfig.from_mapping({"CRM_PAY_DEFAULT_LANGUAGE": "fr"})
    settings = Settings.from_config(config, token_pepper=b"p" * 32, audit_key=b"a" * 32)
    assert settings.default_language == "fr"


def test_spanish_receipt_words_that_fail_on_real_data_fall_back_to_the_english_receipt(
    euro_world: FakeWorld,
) -> None:
    _speaks(euro_world, "es")
    # passes every sample (whose customer is "Sample Customer"), fails for Ada
    text = (
        '{% if receipt.customer_name != "Sample Customer" %}'
        "{{ merchant[receipt.customer_name] }}{% endif %}Gracias: {{ total }}. "
        + default_source("receipt", "text")
    )
    save_templates(euro_world.ctx, "receipt", {"text": text}, actor=ADMIN, language="es")
    pay_with_nonce(euro_world.ctx, _token(_payment(euro_world, "30.00")), "fake-valid-nonce")
    OutboxRunner(euro_world.ctx).drain()
    receipt = euro_world.email.to(EMAIL)[-1]
    assert "Gracias" not in receipt.text and "30,00" not in receipt.text
    assert "Thank you for your payment of EUR 30.00" in receipt.text


def test_a_record_language_longer_than_we_keep_is_cut_not_refused(euro_world: FakeWorld) -> None:
    _speaks(euro_world, "es-419-u-ca-gregory-nu-latn-x-" + "private" * 8)
    spanish = _pay_link(euro_world, "email")
    assert "Hola, Ada Lovelace:" in spanish.text
    with euro_world.ctx.db.transaction() as s:
        kept = s.scalars(select(Customer.language)).one()
    assert kept is not None and len(kept) == 35 and kept.startswith("es-419-")
