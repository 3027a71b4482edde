"""Braintree's static wallet nonces: PayPal, Venmo, Apple Pay and Google Pay.

The nonces are those of braintree_python ``braintree/test/nonces.py`` (``PayPalOneTimePayment``,
``PayPalBillingAgreement``, ``VenmoAccount``, ``VenmoAccountTokenIssuanceError``,
``ApplePay*``, ``AndroidPayCard*``; Google Pay is still "Android Pay" in the gateway's
API). What a sale or a vaulting with one answers follows the SDK's integration tests:

- a sale's ``<transaction>`` carries ``payment-instrument-type`` (``PaymentInstrumentType``
  in ``braintree/payment_instrument_type.py``) and the wallet's element that
  ``braintree/transaction.py`` reads: ``paypal`` -> ``paypal_details``, ``venmo-account``
  -> ``venmo_account_details``, ``apple-pay`` -> ``apple_pay_details``,
  ``android-pay-card`` -> ``android_pay_card_details``; its ``credit-card`` element is
  empty, as the card is the wallet's;
- ``PaymentMethod.create`` answers with the element ``braintree/payment_method_parser.py``
  turns into the right class: ``paypal-account``, ``venmo-account``, ``apple-pay-card``,
  ``android-pay-card``; a one-time PayPal nonce cannot be vaulted (82902,
  ``PayPalAccount.CannotVaultOneTimeUsePayPalAccount``, on ``paypal_account.base``:
  tests/integration/test_payment_method.py::test_create_with_paypal_one_time_nonce_fails).

The values asserted by those tests are used as they are (``payer@example.com``,
``jane.doe@paypal.com``, ``venmojoe``, "Visa 2006", "MasterCard 0017", "Discover 1111",
virtual card 1117...). Where a test asserts only that a value exists (the device
account number of the Apple Pay Visa and Amex nonces, the Google Pay Visa and Amex
cards), the sandbox uses the last 4 of the published test card of the same brand and
says so. Like the card nonces they are static: usable any number of times. No wallet
carries a full card number; a wallet's card is its BIN and last 4, as for cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cards import CardDetails

__all__ = [
    "ONE_TIME_PAYPAL_ERROR",
    "WALLET_NONCES",
    "Wallet",
    "transaction_wallet_fields",
    "vault_record",
    "vaulted_wallet_document",
    "wallet_of_record",
]

#: ``PaymentMethod.create`` with a one-time PayPal nonce (code, attribute, message, path).
ONE_TIME_PAYPAL_ERROR = (
    "82902",
    "base",
    "Cannot vault one-time use PayPal account.",
    ("paypal_account",),
)

#: Not a card: the empty card that a PayPal or Venmo account charges as.
_NO_CARD = CardDetails("", "", "", "", "")


@dataclass(frozen=True)
class Wallet:
    """One wallet nonce: what its sale shows and what vaulting it keeps."""

    #: ``Transaction.payment_instrument_type`` (``PaymentInstrumentType``)
    instrument_type: str
    #: the ``<transaction>`` child the SDK reads the wallet's details from
    transaction_element: str
    #: the root element of a vaulted payment method of this kind
    payment_method_element: str
    details: dict[str, Any]
    #: what a vaulted one adds (token, customer and ``default`` are added when vaulting)
    vaulted_details: dict[str, Any] = field(default_factory=dict)
    #: the card the processor charges (a network token's BIN and last 4; none for accounts)
    card: CardDetails = _NO_CARD
    vaultable: bool = True
    #: a gateway rejection every sale with it gets (``Transaction.GatewayRejectionReason``)
    gateway_rejection_reason: str | None = None

    def transaction_details(self, token: str | None) -> dict[str, Any]:
        """The wallet element of a sale (``token``: the vaulted one it was paid with)."""
        return dict(self.details, token=token)


def _paypal(*, billing_agreement: bool) -> Wallet:
    # test_transaction.py::test_creating_paypal_transaction_with_payee_email (payer_email,
    # PAY-/AUTH- ids, image_url, debug_id), ::test_creating_paypal_transaction_with_
    # billing_agreement_nonce (billing_agreement_id), ::test_paypal_transaction_payment_
    # instrument_type; test_payment_method.py::test_create_with_paypal_billing_agreements_
    # nonce (the vaulted account's email is jane.doe@paypal.com).
    details: dict[str, Any] = {
        "payer_email": "payer@example.com",
        "payer_id": "PAYER-SANDBOX",
        "payer_first_name": "Jane",
        "payer_last_name": "Doe",
        "payment_id": "PAY-SANDBOX1234",
        "authorization_id": "AUTH-SANDBOX1234",
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/paypal.png",
        "debug_id": "sandboxdebug",
    }
    if billing_agreement:
        details["billing_agreement_id"] = "B-SANDBOX1234"
    vaulted = {
        "email": "jane.doe@paypal.com",
        "image_url": details["image_url"],
        "billing_agreement_id": details.get("billing_agreement_id"),
        "payer_id": details["payer_id"],
    }
    return Wallet(
        "paypal_account",
        "paypal",
        "paypal_account",
        details,
        vaulted,
        vaultable=billing_agreement,
    )


def _venmo(rejection: str | None = None) -> Wallet:
    # test_transaction.py::test_sale_with_fake_venmo_account_nonce (username venmojoe,
    # venmo_user_id), test_payment_method.py::test_create_with_venmo_account_nonce
    # (source_description "Venmo Account: venmojoe", a .png image_url);
    # ::test_sale_with_gateway_rejected_token_issuance ("token_issuance").
    details = {
        "username": "venmojoe",
        "venmo_user_id": "1234567891234567891",
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/venmo.png",
        "source_description": "Venmo Account: venmojoe",
    }
    return Wallet(
        "venmo_account",
        "venmo_account",
        "venmo_account",
        details,
        dict(details),
        gateway_rejection_reason=rejection,
    )


def _apple_pay(
    brand: str,
    source: tuple[str, str],
    device_card: tuple[str, str],
    *,
    device_token: bool = True,
) -> Wallet:
    # test_transaction.py::test_sale_with_fake_apple_pay_nonce / ..._mpan_nonce and
    # test_payment_method.py::test_create_with_fake_apple_pay_nonce / ..._mpan_nonce:
    # card_type "Apple Pay - <brand>" (ApplePayCard.CardType), payment_instrument_name
    # and source_description "<brand> <last 4 of the customer's card>", is_device_token,
    # merchant_token_identifier for an MPAN, a cardholder name, an image_url with
    # "apple_pay". ``last_4`` is the device account number's, not the customer's card.
    name, source_last_4 = source
    bin_, last_4 = device_card
    details: dict[str, Any] = {
        "card_type": f"Apple Pay - {brand}",
        "payment_instrument_name": f"{name} {source_last_4}",
        "source_description": f"{name} {source_last_4}",
        "source_card_last4": source_last_4[-4:],
        "bin": bin_,
        "last_4": last_4,
        "expiration_month": "12",
        "expiration_year": "2030",
        "cardholder_name": "Visa Apple Pay Cardholder",
        "is_device_token": device_token,
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/apple_pay.png",
    }
    if not device_token:
        # an identifier of the merchant token, not a secret
        details["merchant_token_identifier"] = "DNITHE302308980427388297"  # noqa: S105
    card_type = {"AmEx": "American Express"}.get(name, name)
    return Wallet(
        "apple_pay_card",
        "apple_pay",
        "apple_pay_card",
        details,
        dict(details),
        CardDetails(bin_, last_4, card_type, "12", "2030"),
    )


def _google_pay(
    brand: str, source_last_4: str, virtual: tuple[str, str], *, network_token: bool
) -> Wallet:
    # test_transaction.py::test_sale_with_fake_android_pay_proxy_card_nonce /
    # ..._network_token_nonce and test_payment_method.py::test_create_with_fake_android_
    # pay_proxy_card_nonce / ..._network_token_nonce: virtual_card_type/last_4 (the SDK's
    # ``card_type``/``last_4`` properties), source_card_type/last_4, source_description
    # "<brand> <last 4>", is_network_tokenized, google_transaction_id, an image_url
    # with "android_pay".
    bin_, virtual_last_4 = virtual
    details: dict[str, Any] = {
        "virtual_card_type": brand,
        "virtual_card_last_4": virtual_last_4,
        "source_card_type": brand,
        "source_card_last_4": source_last_4,
        "source_description": f"{brand} {source_last_4}",
        "bin": bin_,
        "expiration_month": "12",
        "expiration_year": "2030",
        "google_transaction_id": "google_transaction_id",
        "is_network_tokenized": network_token,
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/android_pay_card.png",
    }
    return Wallet(
        "android_pay_card",
        "android_pay_card",
        "android_pay_card",
        details,
        dict(details),
        CardDetails(bin_, virtual_last_4, brand, "12", "2030"),
    )


# Google Pay Visa/Amex: the SDK's tests assert no values; the virtual card is the
# published test card's (credit_card_numbers.py Visa 4012888888881881, AmEx
# 378282246310005), the customer's card the brand's first test card.
_GOOGLE_PAY_VISA = _google_pay("Visa", "1111", ("401288", "1881"), network_token=True)

#: Braintree's static wallet nonces (``Nonces.<name>`` in the comment).
WALLET_NONCES: dict[str, Wallet] = {
    "fake-paypal-one-time-nonce": _paypal(billing_agreement=False),  # PayPalOneTimePayment
    "fake-paypal-billing-agreement-nonce": _paypal(billing_agreement=True),
    "fake-venmo-account-nonce": _venmo(),  # VenmoAccount
    "fake-token-issuance-error-venmo-account-nonce": _venmo("token_issuance"),
    # ApplePayVisa / ApplePayAmEx: device account numbers of the Visa / AmEx test cards
    "fake-apple-pay-visa-nonce": _apple_pay("Visa", ("Visa", "1881"), ("401288", "1881")),
    "fake-apple-pay-mastercard-nonce": _apple_pay(
        "MasterCard", ("MasterCard", "0017"), ("555555", "4444")
    ),
    "fake-apple-pay-amex-nonce": _apple_pay(
        "American Express", ("AmEx", "41002"), ("378282", "0005")
    ),
    "fake-apple-pay-mpan-nonce": _apple_pay(
        "Visa", ("Visa", "2006"), ("401288", "1881"), device_token=False
    ),
    "fake-android-pay-nonce": _GOOGLE_PAY_VISA,  # AndroidPayCard
    "fake-android-pay-visa-nonce": _GOOGLE_PAY_VISA,  # AndroidPayCardVisa
    "fake-android-pay-mastercard-nonce": _google_pay(
        "MasterCard", "0005", ("555555", "4444"), network_token=True
    ),
    "fake-android-pay-discover-nonce": _google_pay(
        "Discover", "1111", ("601111", "1117"), network_token=False
    ),
    "fake-android-pay-amex-nonce": _google_pay(
        "American Express", "0005", ("378282", "0005"), network_token=True
    ),
}

#: The key a vaulted wallet keeps its nonce under in the sandbox's vault record.
_WALLET_KEY = "wallet_nonce"


def vault_record(wallet_nonce: str, token: str, customer_id: str | None) -> dict[str, str]:
    """The vault record of a wallet (its card's fields, so a charge with the token works
    like a card's, plus which wallet it is)."""
    wallet = WALLET_NONCES[wallet_nonce]
    return dict(
        wallet.card.to_dict(),
        token=token,
        customer_id=customer_id or "",
        three_d_secure="",
        **{_WALLET_KEY: wallet_nonce},
    )


def wallet_of_record(record: dict[str, str]) -> Wallet | None:
    """The wallet a vault record holds (None: a card)."""
    return WALLET_NONCES.get(record.get(_WALLET_KEY, ""))


def vaulted_wallet_document(record: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    """``(root element, content)`` of a vaulted wallet, as ``PaymentMethod.create`` and
    ``find`` answer (payment_method_parser.py picks the class by the root); None: a card."""
    wallet = wallet_of_record(record)
    if wallet is None:
        return None
    return wallet.payment_method_element, dict(
        wallet.vaulted_details,
        token=record["token"],
        customer_id=record["customer_id"] or None,
        default=True,
    )


def transaction_wallet_fields(wallet: Wallet, token: str | None) -> dict[str, Any]:
    """What a sale paid with ``wallet`` stores beside the card fields: its instrument
    type, its wallet element, and an empty ``credit_card`` (the card is the wallet's)."""
    return {
        "payment_instrument_type": wallet.instrument_type,
        "wallet": {wallet.transaction_element: wallet.transaction_details(token)},
        "credit_card": dict.fromkeys(
            ("bin", "last_4", "card_type", "expiration_month", "expiration_year")
        ),
    }
