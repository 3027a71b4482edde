"""How a customer message writes in each language: the words of the shipped
translations, amounts and dates as Babel's CLDR data says for the language, the
reminder's "when due" sentence, and English exactly as it always was."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant
from crm_pay.rendering.email import (
    FailureNotice,
    PayLinkNotice,
    ReminderNotice,
    render_email,
    render_sms,
)
from crm_pay.rendering.message_language import MessageLocale, message_language
from crm_pay.rendering.message_templates import shipped_in, shipped_name

MERCHANT = Merchant(name="Acme", address="1 Main St", email="billing@acme.test", phone="")
MADRID = ZoneInfo("Europe/Madrid")
# 14:05 UTC on 2 March 2026 is 15:05 in Madrid (CET, winter time)
EXPIRES = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)


def _reminder(days_overdue: int) -> ReminderNotice:
    return ReminderNotice(
        MERCHANT,
        "Ada Lovelace",
        "INV-1001",
        Money(123456, "EUR"),
        date(2026, 3, 2),
        days_overdue,
        "https://shop.test/pay/r/x",
        "https://shop.test/pay/reminders/opt-out/x",
    )


def _pay_link() -> PayLinkNotice:
    return PayLinkNotice(
        MERCHANT, "Ada Lovelace", Money(123456, "EUR"), "https://shop.test/pay/p/t", EXPIRES
    )


@pytest.mark.parametrize(
    ("record", "default", "expected"),
    [
        ("es-MX", "en", "es"),
        ("FR_ca", "en", "fr"),
        ("de", "es", "de"),
        ("pt-BR", "de", "de"),  # not a language messages are written in: the default
        (None, "fr", "fr"),
        ("", "en", "en"),
        ("klingon", "xx", "en"),  # a default that is none of them either: English
    ],
)
def test_the_record_language_else_the_default(
    record: str | None, default: str, expected: str
) -> None:
    assert message_language(record, default) == expected


@pytest.mark.parametrize(
    ("language", "amount", "expires"),
    [
        ("es", "1.234,56\xa0€", "2 de marzo de 2026, 15:05 CET"),
        ("fr", "1\u202f234,56\xa0€", "2 mars 2026, 15:05 CET"),
        ("de", "1.234,56\xa0€", "2. März 2026, 15:05 CET"),
    ],
)
def test_amounts_and_times_as_each_language_writes_them(
    language: str, amount: str, expires: str
) -> None:
    locale = MessageLocale(language, MADRID)
    assert locale.amount(Money(123456, "EUR")) == amount
    assert locale.moment(EXPIRES) == expires
    assert locale.time(EXPIRES) == "15:05 CET"


def test_english_keeps_crm_pay_s_own_forms() -> None:
    english = render_email("pay_link", _pay_link())
    assert english.subject == "Acme: payment request for EUR 1,234.56"
    assert "The link works until 2026-03-02 14:05:00 UTC." in english.text
    assert 'lang="en"' in english.html
    sms = render_sms("pay_link", _pay_link())
    assert "(link valid until 14:05 UTC)" in sms


@pytest.mark.parametrize(
    ("language", "overdue", "today", "due"),
    [
        (
            "es",
            "La factura INV-1001 venció el 2 de marzo de 2026 (hace 3 días). "
            "Quedan 1.234,56\xa0€ por pagar.",
            "La factura INV-1001 vence hoy, 2 de marzo de 2026.",
            "La factura INV-1001 vence el 2 de marzo de 2026.",
        ),
        (
            "fr",
            "La facture INV-1001 est arrivée à échéance le 2 mars 2026 (il y a 3 jours). "
            "Il reste 1\u202f234,56\xa0€ à régler.",
            "La facture INV-1001 arrive à échéance aujourd’hui, le 2 mars 2026.",
            "La facture INV-1001 arrive à échéance le 2 mars 2026.",
        ),
        (
            "de",
            "Die Rechnung INV-1001 war am 2. März 2026 fällig (vor 3 Tagen). "
            "Offen sind noch 1.234,56\xa0€.",
            "Die Rechnung INV-1001 ist heute, am 2. März 2026, fällig.",
            "Die Rechnung INV-1001 ist am 2. März 2026 fällig.",
        ),
    ],
)
def test_the_reminder_says_when_the_invoice_is_due_in_the_customer_s_language(
    language: str, overdue: str, today: str, due: str
) -> None:
    locale = MessageLocale(language, MADRID)
    assert overdue in render_email("reminder", _reminder(3), locale=locale).text
    assert today in render_email("reminder", _reminder(0), locale=locale).text
    assert due in render_email("reminder", _reminder(-5), locale=locale).text
    one_day = render_email("reminder", _reminder(1), locale=locale).text
    assert {"es": "(hace 1 día)", "fr": "(il y a 1 jour)", "de": "(vor 1 Tag)"}[language] in one_day


def test_the_english_reminder_is_unchanged() -> None:
    text = render_email("reminder", _reminder(3)).text
    assert (
        "Invoice INV-1001 was due on 2 March 2026 (3 days ago). EUR 1,234.56 is still to pay."
        in text
    )


def test_a_kind_is_shipped_in_every_language_but_the_receipt() -> None:
    for kind in ("pay_link", "reminder", "payment_failed", "payment_in_review", "case_update"):
        for language in ("en", "es", "fr", "de"):
            assert shipped_in(kind, language), (kind, language)
            for part in ("subject", "text", "html", "sms"):
                name = shipped_name(kind, part, language)
                assert name.startswith(
                    f"email/{language}/" if part != "sms" else f"sms/{language}/"
                ) or (language == "en"), (kind, part, language, name)
    assert (
        not shipped_in("receipt", "es")
        and shipped_name("receipt", "text", "es") == "email/receipt.txt"
    )


@pytest.mark.parametrize(
    ("language", "card", "wallet"),
    [
        ("en", "of EUR 1,234.56 with Visa ending 0002 did not", "with PayPal did not"),
        ("es", "de 1.234,56\xa0€ con Visa terminada en 0002 no se", "con PayPal no se"),
        ("fr", "de 1\u202f234,56\xa0€ avec Visa se terminant par 0002 n’a", "avec PayPal n’a"),
        ("de", "von 1.234,56\xa0€ mit Visa (Endziffern 0002) konnte", "mit PayPal konnte"),
    ],
)
def test_the_card_of_a_failed_payment_is_named_in_the_language(
    language: str, card: str, wallet: str
) -> None:
    def failed(method: str) -> FailureNotice:
        return FailureNotice(
            MERCHANT,
            "Ada Lovelace",
            Money(123456, "EUR"),
            "Your bank did not approve the payment.",
            "Try another card.",
            method=method,
        )

    locale = MessageLocale(language, MADRID)
    assert card in render_email("payment_failed", failed("Visa ending 0002"), locale=locale).text
    assert wallet in render_email("payment_failed", failed("PayPal"), locale=locale).text
