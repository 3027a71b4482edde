"""Wallets and "save my card" through the services with the fake PSP: how a wallet
payment reads to the agent and on the receipt (view, e-mail, PDF), the admin's wallet
choices per merchant account (audited, refused cleanly, followed by the pay page), and a
card kept only with the customer's consent and only when the sale succeeds."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.wallets import method_label
from crm_pay.persistence.models import Receipt, SavedCardConsent
from crm_pay.services import audit
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.services.saved_cards import SaveCardConsent, consent_wording
from crm_pay.services.views import customer_view
from crm_pay.services.wallets import enabled_wallets, offered, set_wallets, wallet_offers
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import link, token_of

WORDING = "Save this card for future payments to Acme Utilities"


@pytest.mark.parametrize(
    ("args", "label"),
    [
        (("Visa", "1111"), "Visa ending 1111"),
        (("Visa", "1881", "apple_pay"), "Apple Pay · Visa ending 1881"),
        (("Visa", "1111", "google_pay"), "Google Pay · Visa ending 1111"),
        (("PayPal", "", "paypal", "p***@example.com"), "PayPal · p***@example.com"),
        (("Venmo", "", "venmo", "@venmojoe"), "Venmo · @venmojoe"),
        ((None, None, "paypal"), "PayPal"),
        ((None, None), "Card"),
    ],
)
def test_method_label_names_the_wallet_and_only_the_last_4(args, label) -> None:
    assert method_label(*args) == label


WALLET_SALES = [
    ("fake-apple-pay-visa-nonce", "Apple Pay · Visa ending 1881"),
    ("fake-android-pay-visa-nonce", "Google Pay · Visa ending 1111"),
    ("fake-paypal-one-time-nonce", "PayPal · p***@example.com"),
    ("fake-venmo-account-nonce", "Venmo · @venmojoe"),
]


@pytest.mark.parametrize(("nonce", "label"), WALLET_SALES)
def test_a_wallet_payment_shows_the_wallet_to_agent_and_on_the_receipt(
    world: FakeWorld, outbox: OutboxRunner, nonce: str, label: str
) -> None:
    answer = pay_with_nonce(world.ctx, token_of(link(world.ctx, "40.00")), nonce)

    assert answer["status"] == "submitted_for_settlement"
    assert answer["method"] == label  # the payment's view (pay page, API, live panel)
    recent = customer_view(world.ctx, "CUST-0001")["recent_payments"]
    assert [p["method"] for p in recent if p["id"] == answer["id"]] == [label]  # the agent's
    with world.ctx.db.transaction() as s:
        receipt = s.scalars(select(Receipt).where(Receipt.number == answer["receipt_number"])).one()
        assert receipt.content["method"] == label
    outbox.drain()
    (mail,) = [m for m in world.email.to("ada@example.com") if answer["receipt_number"] in m.text]
    assert label in mail.text and label in mail.html.replace("&#64;", "@")
    ((_name, _type, pdf),) = [a for a in mail.attachments if a[1] == "application/pdf"]
    printed = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert label.split(" · ")[1] in printed and label.split(" · ")[0] in printed


def test_paypal_shows_only_the_masked_account_nowhere_a_card(world: FakeWorld) -> None:
    answer = pay_with_nonce(
        world.ctx, token_of(link(world.ctx, "40.00")), "fake-paypal-one-time-nonce"
    )

    assert answer["method"] == "PayPal · p***@example.com"
    assert answer["card"] is None  # no card number, not even a last 4, for an account
    assert "ending" not in answer["method"]


# ------------------------------------------------------------------ the admin's wallets


def test_no_wallet_is_offered_until_the_admin_turns_one_on(world: FakeWorld) -> None:
    payment = link(world.ctx, "10.00")

    assert offered(world.ctx, payment["id"]) == []
    assert wallet_offers(world.ctx) == {"USD": [], "EUR": []}


def test_an_admins_wallet_toggle_is_audited_and_the_pay_page_follows_it(
    world: FakeWorld,
) -> None:
    payment = link(world.ctx, "10.00")  # a USD payment

    set_wallets(world.ctx, merchant_account="usd", wallets=["paypal", "apple_pay"], actor="ada")
    assert offered(world.ctx, payment["id"]) == ["apple_pay", "paypal"]  # display order
    set_wallets(world.ctx, merchant_account="EUR", wallets=["google_pay"], actor="ada")
    set_wallets(world.ctx, merchant_account="USD", wallets=["apple_pay", "venmo"], actor="bob")

    assert offered(world.ctx, payment["id"]) == ["apple_pay", "venmo"]
    assert enabled_wallets(world.ctx, "EUR") == ["google_pay"]
    saved = [e for e in audit.entries(world.ctx) if e["action"] == "wallets.saved"]
    assert [(e["actor"], e["subject"]) for e in saved] == [
        ("ada", "merchant_account:USD"),
        ("ada", "merchant_account:EUR"),
        ("bob", "merchant_account:USD"),
    ]
    assert saved[-1]["data"] == {
        "enabled": "venmo",
        "disabled": "paypal",
        "offered": "apple_pay,venmo",
    }


def test_turning_every_wallet_off_leaves_cards_only(world: FakeWorld) -> None:
    payment = link(world.ctx, "10.00")
    set_wallets(world.ctx, merchant_account="USD", wallets=["venmo"], actor="ada")

    set_wallets(world.ctx, merchant_account="USD", wallets=[], actor="ada")

    assert offered(world.ctx, payment["id"]) == []


def test_saving_the_same_choice_again_writes_no_audit_entry(world: FakeWorld) -> None:
    set_wallets(world.ctx, merchant_account="USD", wallets=["paypal"], actor="ada")
    set_wallets(world.ctx, merchant_account="USD", wallets=["paypal"], actor="ada")

    assert len([e for e in audit.entries(world.ctx) if e["action"] == "wallets.saved"]) == 1


@pytest.mark.parametrize(
    ("account", "wallets", "words"),
    [
        ("USD", ["paypal", "bitcoin"], "unknown wallet 'bitcoin'"),
        ("JPY", ["paypal"], "there is no merchant account for 'JPY'"),
    ],
)
def test_a_bad_wallet_choice_is_refused_and_changes_nothing(
    world: FakeWorld, account: str, wallets: list[str], words: str
) -> None:
    set_wallets(world.ctx, merchant_account="USD", wallets=["venmo"], actor="ada")

    with pytest.raises(ValidationError, match=words):
        set_wallets(world.ctx, merchant_account=account, wallets=wallets, actor="eve")

    assert enabled_wallets(world.ctx, "USD") == ["venmo"]
    assert not [e for e in audit.entries(world.ctx) if e["actor"] == "eve"]


def test_offered_for_an_unknown_payment_is_not_found(world: FakeWorld) -> None:
    with pytest.raises(NotFound):
        offered(world.ctx, "pay_nope")


# ------------------------------------------------------------------ saved with consent


def _consents(world: FakeWorld) -> list[SavedCardConsent]:
    with world.ctx.db.transaction() as s:
        rows = list(s.scalars(select(SavedCardConsent)))
        s.expunge_all()
        return rows


def test_the_consent_wording_names_the_merchant(world: FakeWorld) -> None:
    assert consent_wording(world.ctx) == (
        f"Save this card for future payments to {world.ctx.settings.merchant.name}"
    )


def test_a_ticked_box_saves_the_card_with_its_consent_for_the_agent(world: FakeWorld) -> None:
    before = world.ctx.now()
    answer = pay_with_nonce(
        world.ctx,
        token_of(link(world.ctx, "25.00")),
        "fake-valid-mastercard-nonce",
        save_card=SaveCardConsent(WORDING, "en"),
    )

    assert answer["status"] == "submitted_for_settlement"
    (sale,) = world.psp.calls_to("sale")
    assert sale.store_in_vault is True
    (consent,) = _consents(world)
    assert consent.vault_token
    cards = customer_view(world.ctx, "CUST-0001")["cards_on_file"]
    (saved,) = [c for c in cards if c["id"] == consent.vault_token]
    assert (saved["brand"], saved["last4"], saved["expiry"], saved["method"]) == (
        "MasterCard",
        "4444",
        "12/2030",
        "MasterCard ending 4444",
    )
    record = saved["consent"]
    assert (record["by"], record["through"]) == ("Ada Lovelace", "pay link")
    assert record["wording"] == WORDING and record["language"] == "en"
    assert record["at"] >= before and record["payment_id"] == answer["id"]


def test_a_saved_card_can_then_be_charged_as_a_card_on_file(world: FakeWorld) -> None:
    pay_with_nonce(
        world.ctx,
        token_of(link(world.ctx, "25.00")),
        "fake-valid-mastercard-nonce",
        save_card=SaveCardConsent(WORDING),
    )
    (consent,) = _consents(world)

    answer, _ = create_payment(  # a card on file is charged at once
        world.ctx,
        CreatePayment(
            crm_ref="CUST-0001",
            amount="30.00",
            currency="USD",
            channel="vaulted",
            payment_method_token=consent.vault_token,
            customer_consent=True,
        ),
        actor="agent:bob",
        idempotency_scope="agent:bob",
        idempotency_key="charge-saved-card",
        request_hash="30.00",
    )

    assert answer["status"] == "submitted_for_settlement"
    assert answer["method"] == "MasterCard ending 4444"
    assert world.psp.calls_to("sale")[-1].payment_method_token == consent.vault_token


def test_a_saved_wallet_card_reads_as_the_wallet_to_the_agent(world: FakeWorld) -> None:
    pay_with_nonce(
        world.ctx,
        token_of(link(world.ctx, "25.00")),
        "fake-paypal-one-time-nonce",
        save_card=SaveCardConsent(WORDING),
    )

    (consent,) = _consents(world)
    cards = customer_view(world.ctx, "CUST-0001")["cards_on_file"]
    (saved,) = [c for c in cards if c["id"] == consent.vault_token]
    assert saved["method"] == "PayPal · p***@example.com"


def test_without_the_tick_nothing_is_saved(world: FakeWorld) -> None:
    before = customer_view(world.ctx, "CUST-0001")["cards_on_file"]

    pay_with_nonce(world.ctx, token_of(link(world.ctx, "25.00")), "fake-valid-mastercard-nonce")

    (sale,) = world.psp.calls_to("sale")
    assert sale.store_in_vault is False
    assert _consents(world) == []
    assert customer_view(world.ctx, "CUST-0001")["cards_on_file"] == before


def test_a_declined_sale_saves_nothing_even_with_the_tick(world: FakeWorld) -> None:
    before = customer_view(world.ctx, "CUST-0001")["cards_on_file"]

    answer = pay_with_nonce(
        world.ctx,
        token_of(link(world.ctx, "2000.00")),
        "fake-valid-mastercard-nonce",
        save_card=SaveCardConsent(WORDING),
    )

    assert answer["status"] == "declined"
    (consent,) = _consents(world)  # the tick is on record ...
    assert consent.vault_token is None  # ... but no card was kept
    assert world.psp.vaulted == {}
    assert customer_view(world.ctx, "CUST-0001")["cards_on_file"] == before


def test_a_retry_without_the_tick_after_a_ticked_decline_saves_nothing(
    world: FakeWorld,
) -> None:
    token = token_of(link(world.ctx, "25.00"))
    first = pay_with_nonce(
        world.ctx, token, "fake-processor-declined-nonce", save_card=SaveCardConsent(WORDING)
    )

    second = pay_with_nonce(world.ctx, token, "fake-valid-nonce")

    assert (first["status"], second["status"]) == ("declined", "submitted_for_settlement")
    assert [s.store_in_vault for s in world.psp.calls_to("sale")] == [True, False]
    assert [c.vault_token for c in _consents(world)] == [None]
    assert world.psp.vaulted == {}


def test_a_consent_wording_with_a_card_number_or_nothing_is_refused() -> None:
    with pytest.raises(ValidationError):
        SaveCardConsent("Save 4111 1111 1111 1111")
    with pytest.raises(ValidationError):
        SaveCardConsent("  ")
    with pytest.raises(ValidationError, match="language tag"):
        SaveCardConsent(WORDING, language="<script>")
