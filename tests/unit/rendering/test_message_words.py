"""The words a message carries besides its template's (why a payment was declined, what
to try next, what we did about a case) come out in the message's language, as the pay
page says them; English when a catalog lacks them, never a message id or a code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po

from agent_ui.i18n import catalog_path as page_catalog_path
from crm_pay.domain.declines import advice_for, customer_next_step
from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant
from crm_pay.rendering.email import render_email, render_sms
from crm_pay.rendering.message_language import MessageLocale
from crm_pay.rendering.message_words import catalog_path, translated
from crm_pay.rendering.notices import MESSAGE_WORD_IDS, CaseUpdateNotice, FailureNotice

MERCHANT = Merchant(name="Northwind", address="12 Harbor St", phone="+34910000000")
FUNDS = advice_for("insufficient_funds", code="processor.2001")


def _declined(reason: str = FUNDS.message) -> FailureNotice:
    return FailureNotice(
        merchant=MERCHANT,
        customer_name="Ada",
        amount=Money(123_456, "EUR"),
        reason=reason,
        next_step=customer_next_step("insufficient_funds"),
        retry_url="https://shop.test/pay/p/abc",
        expires_at=datetime(2026, 3, 2, 14, 5, tzinfo=UTC),
        method="Visa ending 1111",
    )


def _resolved(code: str = "refunded") -> CaseUpdateNotice:
    return CaseUpdateNotice(MERCHANT, "Ada", 7, "pay_1", code)


@pytest.mark.parametrize(
    ("language", "reason", "next_step"),
    [
        (
            "es",
            "El emisor de la tarjeta ha rechazado el pago por fondos insuficientes.",
            "Pruebe con otra tarjeta o póngase en contacto con su banco.",
        ),
        (
            "de",
            "Der Kartenherausgeber hat die Zahlung mangels Deckung abgelehnt.",
            "Bitte versuchen Sie es mit einer anderen Karte oder wenden Sie sich an Ihre Bank.",
        ),
    ],
)
def test_a_declined_payment_s_reason_is_in_the_message_s_language(
    language: str, reason: str, next_step: str
) -> None:
    locale = MessageLocale(language)
    email = render_email("payment_failed", _declined(), locale=locale)
    for body in (email.text, email.html):
        assert reason in body and next_step in body
        assert FUNDS.message not in body and "another card" not in body
    sms = render_sms("payment_failed", _declined(), locale=locale)
    assert reason in sms and FUNDS.message not in sms


@pytest.mark.parametrize(
    ("language", "outcome"),
    [
        (
            "es",
            "Hemos reembolsado el pago; recibirá un recibo del reembolso por correo electrónico.",
        ),
        ("de", "Wir haben die Zahlung erstattet; Sie erhalten einen Erstattungsbeleg per E-Mail."),
    ],
)
def test_a_case_outcome_is_in_the_message_s_language(language: str, outcome: str) -> None:
    locale = MessageLocale(language)
    email = render_email("case_update", _resolved(), locale=locale)
    assert outcome in email.text and outcome in email.html
    assert "We have refunded" not in email.text + email.html
    sms = render_sms("case_update", _resolved(), locale=locale)
    assert sms.endswith(outcome)


def test_an_unknown_resolution_code_gets_the_general_sentence_in_the_language() -> None:
    sms = render_sms("case_update", _resolved("goodwill_gesture"), locale=MessageLocale("de"))
    assert sms.endswith("Wir haben die Angelegenheit geprüft und abgeschlossen.")
    assert "goodwill_gesture" not in sms


def test_english_messages_keep_the_domain_s_own_words() -> None:
    email = render_email("payment_failed", _declined())
    assert FUNDS.message in email.text and "Please try another card" in email.text
    update = render_sms("case_update", _resolved())
    assert update.endswith(
        "We have refunded the payment; you will receive a refund receipt by email."
    )


def test_words_no_catalog_has_stay_english_never_a_key_or_blank() -> None:
    # the keypad's free-text reason is not in any catalog
    odd = "Card entry ended: the caller hung up."
    sms = render_sms("payment_failed", _declined(odd), locale=MessageLocale("es"))
    assert odd in sms and sms.startswith("Northwind: su pago de")
    assert translated("es", "") == ""
    assert translated("../../etc", FUNDS.message) == FUNDS.message  # never a path


@pytest.mark.parametrize("language", ["es", "fr", "de"])
def test_every_message_word_is_translated_and_declines_match_the_pay_page(language: str) -> None:
    with catalog_path(language).open("rb") as f:
        catalog = read_po(f, locale=language)
    with page_catalog_path(language).open("rb") as f:
        page = read_po(f, locale=language)
    for msgid in MESSAGE_WORD_IDS:
        entry = catalog.get(msgid)
        assert entry is not None and entry.string and not entry.fuzzy, msgid
        assert translated(language, msgid) == entry.string
        shown = page.get(msgid)
        if shown is not None:  # the same sentence on the pay page and in the e-mail
            assert shown.string == entry.string, msgid
