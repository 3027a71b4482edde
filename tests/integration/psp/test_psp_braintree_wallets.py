"""Wallet payments and saved cards through BraintreeGateway, the real SDK and the local
sandbox: what crm-pay reads of each wallet (never more than a card's last 4, an e-mail
only masked), and a payment method kept only when the sale succeeds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.psp.braintree import BraintreeGateway
from connectors.psp.braintree_mapping import masked_email
from crm_pay.domain.money import Money
from crm_pay.domain.wallets import method_label
from crm_pay.ports import SaleRequest

sandbox = pytest.importorskip("connectors.psp.braintree_sandbox")

pytestmark = pytest.mark.sandbox

CREDENTIALS = {"merchant_id": "crmpay_wallets", "public_key": "w_pub", "private_key": "w_priv"}


def _sale(amount: str = "30.00", **fields: Any) -> SaleRequest:
    return SaleRequest(
        amount=Money.parse(amount, "USD"),
        order_id=f"pay-{uuid.uuid4().hex[:12]}",
        request_key=uuid.uuid4().hex,
        **fields,
    )


@pytest.mark.parametrize(
    ("nonce", "wallet", "label"),
    [
        ("fake-apple-pay-visa-nonce", "apple_pay", "Apple Pay · Visa ending 1881"),
        ("fake-apple-pay-mpan-nonce", "apple_pay", "Apple Pay · Visa ending 2006"),
        ("fake-apple-pay-mastercard-nonce", "apple_pay", "Apple Pay · MasterCard ending 0017"),
        ("fake-android-pay-visa-nonce", "google_pay", "Google Pay · Visa ending 1111"),
        ("fake-android-pay-discover-nonce", "google_pay", "Google Pay · Discover ending 1111"),
        ("fake-paypal-one-time-nonce", "paypal", "PayPal · p***@example.com"),
        ("fake-paypal-billing-agreement-nonce", "paypal", "PayPal · p***@example.com"),
        ("fake-venmo-account-nonce", "venmo", "Venmo · @venmojoe"),
    ],
)
def test_each_wallet_reads_as_the_customer_knows_it(
    gateway: BraintreeGateway, nonce: str, wallet: str, label: str
) -> None:
    outcome = gateway.sale(_sale(payment_method_nonce=nonce))

    assert outcome.approved, outcome.decline
    card = outcome.transaction.card if outcome.transaction else None
    assert card is not None and card.wallet == wallet
    assert method_label(card.brand, card.last4, card.wallet, card.account) == label
    assert len(card.last4) in (0, 4)
    assert card.account is None or "payer@" not in card.account


def test_a_declined_wallet_sale_is_a_decline(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(_sale("2001.00", payment_method_nonce="fake-venmo-account-nonce"))

    assert not outcome.approved
    assert outcome.decline is not None and outcome.decline.code == "2001"


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("payer@example.com", "p***@example.com"),
        ("a@b.co", "a***@b.co"),
        ("not-an-address", None),
        ("", None),
    ],
)
def test_an_email_is_masked_before_crm_pay_keeps_it(email: str, masked: str | None) -> None:
    assert masked_email(email) == masked


def test_a_sale_asked_to_keep_the_card_returns_its_token(gateway: BraintreeGateway) -> None:
    kept = gateway.sale(_sale(payment_method_nonce="fake-valid-visa-nonce", store_in_vault=True))

    assert kept.approved and kept.transaction and kept.transaction.card
    token = kept.transaction.card.vault_token
    assert token
    again = gateway.sale(_sale("12.00", payment_method_token=token))
    assert again.approved and again.transaction and again.transaction.card
    assert again.transaction.card.last4 == "1881"


def test_a_sale_not_asked_to_keep_the_card_returns_no_token(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(_sale(payment_method_nonce="fake-valid-visa-nonce"))

    assert outcome.transaction and outcome.transaction.card
    assert outcome.transaction.card.vault_token is None


def test_a_declined_sale_keeps_no_card(gateway: BraintreeGateway) -> None:
    outcome = gateway.sale(
        _sale("2000.00", payment_method_nonce="fake-valid-visa-nonce", store_in_vault=True)
    )

    assert not outcome.approved
    assert outcome.transaction and outcome.transaction.card
    assert outcome.transaction.card.vault_token is None
