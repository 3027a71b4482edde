"""Braintree's wallet test nonces through the real SDK: each sale and vaulting reads back
as braintree_python's own integration tests expect (see wallet_nonces.py for the tests)."""

from __future__ import annotations

import braintree
import pytest
from braintree.test.nonces import Nonces

from connectors.psp.braintree_sandbox.wallet_nonces import WALLET_NONCES

pytestmark = pytest.mark.sandbox


def _sale(gateway, nonce: str, amount: str = "10.00", **extra):
    return gateway.transaction.sale({"amount": amount, "payment_method_nonce": nonce, **extra})


def test_every_wallet_nonce_is_one_braintree_documents():
    documented = {value for name, value in vars(Nonces).items() if not name.startswith("_")}

    assert set(WALLET_NONCES) <= documented


@pytest.mark.parametrize("nonce", [Nonces.PayPalOneTimePayment, Nonces.PayPalBillingAgreement])
def test_paypal_sale_carries_the_payer(gateway, nonce):
    result = _sale(gateway, nonce)

    assert result.is_success
    transaction = result.transaction
    assert transaction.payment_instrument_type == braintree.PaymentInstrumentType.PayPalAccount
    assert transaction.paypal_details.payer_email == "payer@example.com"
    assert transaction.paypal_details.payment_id.startswith("PAY-")
    assert transaction.paypal_details.authorization_id.startswith("AUTH-")
    assert transaction.credit_card_details.last_4 is None


def test_only_the_billing_agreement_has_an_agreement_id(gateway):
    agreement = _sale(gateway, Nonces.PayPalBillingAgreement).transaction.paypal_details
    one_time = _sale(gateway, Nonces.PayPalOneTimePayment).transaction.paypal_details

    assert agreement.billing_agreement_id
    assert getattr(one_time, "billing_agreement_id", None) is None


def test_venmo_sale_carries_the_username(gateway):
    result = _sale(gateway, Nonces.VenmoAccount)

    assert result.is_success
    venmo = braintree.PaymentInstrumentType.VenmoAccount
    assert result.transaction.payment_instrument_type == venmo
    assert result.transaction.venmo_account_details.username == "venmojoe"
    assert result.transaction.venmo_account_details.venmo_user_id == "1234567891234567891"


def test_venmo_token_issuance_error_is_gateway_rejected(gateway):
    result = _sale(gateway, Nonces.VenmoAccountTokenIssuanceError)

    assert not result.is_success
    assert result.transaction.status == braintree.Transaction.Status.GatewayRejected
    assert (
        result.transaction.gateway_rejection_reason
        == braintree.Transaction.GatewayRejectionReason.TokenIssuance
    )


@pytest.mark.parametrize(
    ("nonce", "card_type", "name", "device_token"),
    [
        (Nonces.ApplePayVisa, braintree.ApplePayCard.CardType.Visa, "Visa 1881", True),
        (
            Nonces.ApplePayMasterCard,
            braintree.ApplePayCard.CardType.MasterCard,
            "MasterCard 0017",
            True,
        ),
        (Nonces.ApplePayAmEx, braintree.ApplePayCard.CardType.AmEx, "AmEx 41002", True),
        (Nonces.ApplePayMpan, braintree.ApplePayCard.CardType.Visa, "Visa 2006", False),
    ],
)
def test_apple_pay_sale_carries_the_card(gateway, nonce, card_type, name, device_token):
    result = _sale(gateway, nonce)

    assert result.is_success
    details = result.transaction.apple_pay_details
    apple_pay = braintree.PaymentInstrumentType.ApplePayCard
    assert result.transaction.payment_instrument_type == apple_pay
    assert details.card_type == card_type
    assert details.payment_instrument_name == name
    assert details.is_device_token is device_token
    assert int(details.expiration_month) > 0 and int(details.expiration_year) > 0
    assert details.cardholder_name
    assert len(details.last_4) == 4


@pytest.mark.parametrize(
    ("nonce", "card_type", "virtual_last_4", "source_last_4", "network_token"),
    [
        (Nonces.AndroidPayCardDiscover, "Discover", "1117", "1111", False),
        (Nonces.AndroidPayCardMasterCard, "MasterCard", "4444", "0005", True),
        (Nonces.AndroidPayCardVisa, "Visa", "1881", "1111", True),
        (Nonces.AndroidPayCard, "Visa", "1881", "1111", True),
    ],
)
def test_google_pay_sale_carries_the_card(
    gateway, nonce, card_type, virtual_last_4, source_last_4, network_token
):
    result = _sale(gateway, nonce)

    assert result.is_success
    details = result.transaction.android_pay_card_details
    assert result.transaction.payment_instrument_type == (
        braintree.PaymentInstrumentType.AndroidPayCard
    )
    assert details.card_type == card_type
    assert details.last_4 == virtual_last_4
    assert details.source_card_last_4 == source_last_4
    assert details.is_network_tokenized is network_token


@pytest.mark.parametrize(
    "nonce", [Nonces.PayPalOneTimePayment, Nonces.VenmoAccount, Nonces.ApplePayVisa]
)
def test_wallet_sales_follow_the_test_amounts(gateway, nonce):
    declined = _sale(gateway, nonce, "2001.00")

    assert not declined.is_success
    assert declined.transaction.status == braintree.Transaction.Status.ProcessorDeclined
    assert declined.transaction.processor_response_code == "2001"


def test_wallet_nonces_are_static(gateway):
    assert _sale(gateway, Nonces.ApplePayVisa).is_success
    assert _sale(gateway, Nonces.ApplePayVisa).is_success


@pytest.mark.parametrize(
    ("nonce", "kind"),
    [
        (Nonces.PayPalBillingAgreement, braintree.PayPalAccount),
        (Nonces.VenmoAccount, braintree.VenmoAccount),
        (Nonces.ApplePayMasterCard, braintree.ApplePayCard),
        (Nonces.AndroidPayCardDiscover, braintree.AndroidPayCard),
    ],
)
def test_vaulting_a_wallet_gives_its_own_payment_method(gateway, nonce, kind):
    result = gateway.payment_method.create(
        {"customer_id": "cust-wallet", "payment_method_nonce": nonce}
    )

    assert result.is_success
    method = result.payment_method
    assert isinstance(method, kind)
    assert method.token and method.customer_id == "cust-wallet" and method.default
    found = gateway.payment_method.find(method.token)
    assert isinstance(found, kind) and found.token == method.token


def test_vaulted_wallets_read_as_the_sdk_tests_expect(gateway):
    def vault(nonce):
        return gateway.payment_method.create(
            {"customer_id": "cust-wallet", "payment_method_nonce": nonce}
        ).payment_method

    assert vault(Nonces.PayPalBillingAgreement).email == "jane.doe@paypal.com"
    assert vault(Nonces.VenmoAccount).source_description == "Venmo Account: venmojoe"
    assert vault(Nonces.ApplePayMasterCard).source_description == "MasterCard 0017"
    google_pay = vault(Nonces.AndroidPayCardDiscover)
    assert (google_pay.last_4, google_pay.source_description) == ("1117", "Discover 1111")


def test_a_one_time_paypal_nonce_cannot_be_vaulted(gateway):
    result = gateway.payment_method.create(
        {"customer_id": "cust-wallet", "payment_method_nonce": Nonces.PayPalOneTimePayment}
    )

    assert not result.is_success
    errors = result.errors.for_object("paypal_account").on("base")
    assert [e.code for e in errors] == [
        braintree.ErrorCodes.PayPalAccount.CannotVaultOneTimeUsePayPalAccount
    ]


def test_a_vaulted_wallet_charges_as_that_wallet(gateway):
    token = gateway.payment_method.create(
        {"customer_id": "cust-wallet", "payment_method_nonce": Nonces.VenmoAccount}
    ).payment_method.token

    result = gateway.transaction.sale({"amount": "12.00", "payment_method_token": token})

    assert result.is_success
    assert result.transaction.venmo_account_details.username == "venmojoe"
    assert result.transaction.venmo_account_details.token == token


def test_store_in_vault_on_success_keeps_the_card_for_the_customer(gateway):
    result = _sale(
        gateway,
        Nonces.TransactableVisa,
        customer_id="cust-save",
        options={"store_in_vault_on_success": True},
    )

    token = result.transaction.credit_card_details.token
    assert result.is_success and token
    assert result.transaction.customer_details.id == "cust-save"
    card = gateway.payment_method.find(token)
    assert (card.last_4, card.customer_id) == ("1881", "cust-save")


def test_store_in_vault_on_success_keeps_nothing_when_declined(gateway):
    result = _sale(
        gateway,
        Nonces.TransactableVisa,
        "2000.00",
        customer_id="cust-save",
        options={"store_in_vault_on_success": True},
    )

    assert not result.is_success
    assert result.transaction.credit_card_details.token is None


def test_store_in_vault_on_success_keeps_no_one_time_paypal_account(gateway):
    result = _sale(
        gateway, Nonces.PayPalOneTimePayment, options={"store_in_vault_on_success": True}
    )

    assert result.is_success
    assert result.transaction.paypal_details.token is None


def test_a_wallet_refund_names_the_wallet(gateway):
    sale = _sale(gateway, Nonces.ApplePayVisa, options={"submit_for_settlement": True})
    gateway.testing.settle_transaction(sale.transaction.id)

    refund = gateway.transaction.refund(sale.transaction.id)

    assert refund.is_success
    assert refund.transaction.apple_pay_details.payment_instrument_name == "Visa 1881"
