"""The sandbox's wallets for braintree-web's components: the configuration's wallet
blocks, Apple Pay's merchant validation and tokenization, and the stand-in of Google's
``pay.js`` with its simulated sheet's endpoint; each refuses a forged authorization and
what it cannot read, with Braintree's words, and the nonces they give are charged with
the wallet's details."""

from __future__ import annotations

import base64
import json
from typing import Any

import braintree
import pytest
import requests

from connectors.psp.braintree_sandbox import SandboxServer

pytestmark = pytest.mark.sandbox

API = "/merchants/crm_pay_demo/client_api/v1"


def _fingerprint(gateway: braintree.BraintreeGateway) -> str:
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    return str(token["authorizationFingerprint"])


def _configuration(sandbox: SandboxServer, fingerprint: str) -> dict[str, Any]:
    answer = requests.get(
        sandbox.assets_url + API + "/configuration",
        params={"authorizationFingerprint": fingerprint, "configVersion": "3"},
        timeout=5,
    )
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def test_the_configuration_enables_google_pay_and_apple_pay(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    config = _configuration(sandbox, _fingerprint(gateway))
    google = config["androidPay"]
    assert google["enabled"] is True and "visa" in google["supportedNetworks"]
    assert google["googleAuthorizationFingerprint"]
    apple = config["applePayWeb"]
    assert apple["merchantIdentifier"] and "mastercard" in apple["supportedNetworks"]


def _apple(sandbox: SandboxServer, endpoint: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sandbox.assets_url}{API}/{endpoint}", json=body, timeout=5)


def test_apple_pay_validates_the_merchant_then_tokenizes_the_sheet_s_card(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    fingerprint = _fingerprint(gateway)
    merchant = _configuration(sandbox, fingerprint)["applePayWeb"]["merchantIdentifier"]
    asked = {"merchantIdentifier": merchant, "domainName": "shop.test", "validationUrl": "x"}
    session = _apple(
        sandbox,
        "apple_pay_web/sessions",
        {"authorizationFingerprint": fingerprint, "applePayWebSession": asked},
    )
    assert session.status_code == 200
    assert session.json()["merchantSessionIdentifier"].startswith("SSH")
    assert session.json()["domainName"] == "shop.test"

    # braintree-web base64-encodes the token's paymentData (apple-pay.js tokenize)
    data = base64.b64encode(json.dumps({"sandboxCard": "visa"}).encode()).decode()
    token = {"paymentData": data, "paymentMethod": {"network": "Visa"}}
    answer = _apple(
        sandbox,
        "payment_methods/apple_payment_tokens",
        {"authorizationFingerprint": fingerprint, "applePaymentToken": token},
    )
    assert answer.status_code == 201
    (card,) = answer.json()["applePayCards"]
    assert card["nonce"] == "fake-apple-pay-visa-nonce" and card["type"] == "ApplePayCard"

    result = gateway.transaction.sale(
        {"amount": "12.00", "payment_method_nonce": card["nonce"], "options": {}}
    )
    assert result.is_success
    assert result.transaction.payment_instrument_type == "apple_pay_card"
    assert result.transaction.apple_pay_details.source_card_last4 == "1881"


def test_apple_pay_refuses_a_forged_client_an_unknown_merchant_and_a_bad_token(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    fingerprint = _fingerprint(gateway)
    asked = {"merchantIdentifier": "merchant.other", "domainName": "shop.test"}
    forged = _apple(
        sandbox,
        "apple_pay_web/sessions",
        {"authorizationFingerprint": "forged", "applePayWebSession": asked},
    )
    assert forged.status_code == 401
    unknown = _apple(
        sandbox,
        "apple_pay_web/sessions",
        {"authorizationFingerprint": fingerprint, "applePayWebSession": asked},
    )
    assert unknown.status_code == 422
    assert "merchant identifier" in unknown.json()["error"]["message"]
    bad = _apple(
        sandbox,
        "payment_methods/apple_payment_tokens",
        {"authorizationFingerprint": fingerprint, "applePaymentToken": {"paymentData": "!!"}},
    )
    assert bad.status_code == 422 and "invalid" in bad.json()["error"]["message"]
    missing = _apple(sandbox, "payment_methods/apple_payment_tokens", {"x": 1})
    assert missing.status_code == 400


def _google_request(sandbox: SandboxServer, fingerprint: str) -> dict[str, Any]:
    """A payment data request as braintree-web's createPaymentDataRequest builds it
    (lib/generate-google-pay-configuration.js, version 2)."""
    config = _configuration(sandbox, fingerprint)
    params = {
        "gateway": "braintree",
        "braintree:merchantId": config["merchantId"],
        "braintree:authorizationFingerprint": config["androidPay"][
            "googleAuthorizationFingerprint"
        ],
    }
    return {
        "apiVersion": 2,
        "allowedPaymentMethods": [
            {"type": "CARD", "tokenizationSpecification": {"parameters": params}}
        ],
        "transactionInfo": {"currencyCode": "USD", "totalPrice": "12.00"},
    }


def test_google_pay_s_sheet_answers_the_token_braintree_gives_google(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    script = requests.get(sandbox.assets_url + "/gp/p/js/pay.js", timeout=5)
    assert script.status_code == 200 and "PaymentsClient" in script.text
    assert "development sandbox" in script.text.lower()

    request = _google_request(sandbox, _fingerprint(gateway))
    answer = requests.post(
        sandbox.assets_url + "/gp/p/sandbox/payment-data",
        json={"paymentDataRequest": request, "card": "visa"},
        timeout=5,
    )
    assert answer.status_code == 200
    token = json.loads(answer.json()["paymentMethodData"]["tokenizationData"]["token"])
    (card,) = token["androidPayCards"]
    assert card["nonce"] == "fake-android-pay-visa-nonce"
    assert card["details"]["lastFour"] == "1111"

    result = gateway.transaction.sale(
        {"amount": "12.00", "payment_method_nonce": card["nonce"], "options": {}}
    )
    assert result.is_success
    assert result.transaction.payment_instrument_type == "android_pay_card"


def test_google_pay_s_sheet_refuses_another_merchant_s_request(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    request = _google_request(sandbox, _fingerprint(gateway))
    params = request["allowedPaymentMethods"][0]["tokenizationSpecification"]["parameters"]
    params["braintree:authorizationFingerprint"] = "forged"
    forged = requests.post(
        sandbox.assets_url + "/gp/p/sandbox/payment-data",
        json={"paymentDataRequest": request, "card": "visa"},
        timeout=5,
    )
    assert forged.status_code == 400
    assert forged.json()["error"]["statusCode"] == "DEVELOPER_ERROR"
    no_card = requests.post(
        sandbox.assets_url + "/gp/p/sandbox/payment-data",
        json={"paymentDataRequest": _google_request(sandbox, _fingerprint(gateway)),
              "card": "amex-not-offered"},
        timeout=5,
    )  # fmt: skip
    assert no_card.status_code == 400


def _paypal_order(sandbox: SandboxServer, fingerprint: str, **extra: Any) -> requests.Response:
    body = {
        "authorizationFingerprint": fingerprint,
        "amount": "12.00",
        "currencyIsoCode": "USD",
        "intent": "sale",
        **extra,
    }
    return _apple(sandbox, "paypal_hermes/create_payment_resource", body)


def _paypal_tokenize(sandbox: SandboxServer, fingerprint: str, token: str) -> requests.Response:
    account = {"paymentToken": token, "payerId": "PAYER-SANDBOX", "options": {"validate": False}}
    return _apple(
        sandbox,
        "payment_methods/paypal_accounts",
        {"authorizationFingerprint": fingerprint, "paypalAccount": account},
    )


@pytest.mark.parametrize(
    ("vault", "nonce", "vaultable"),
    [
        (True, "fake-paypal-billing-agreement-nonce", True),
        (False, "fake-paypal-one-time-nonce", False),
    ],
    ids=["checkout-with-vault", "one-time"],
)
def test_paypal_checkout_gives_braintree_s_paypal_nonce_once_per_order(
    gateway: braintree.BraintreeGateway,
    sandbox: SandboxServer,
    vault: bool,
    nonce: str,
    vaultable: bool,
) -> None:
    fingerprint = _fingerprint(gateway)
    config = _configuration(sandbox, fingerprint)
    assert config["paypalEnabled"] is True and config["paypal"]["clientId"]
    sdk = requests.get(
        sandbox.assets_url + "/sdk/js",
        params={"client-id": config["paypal"]["clientId"], "components": "buttons"},
        timeout=5,
    )
    assert sdk.status_code == 200 and "Buttons" in sdk.text
    assert requests.get(sandbox.assets_url + "/sdk/js", timeout=5).status_code == 400

    order = _paypal_order(sandbox, fingerprint, requestBillingAgreement=vault)
    assert order.status_code == 201
    resource = order.json()["paymentResource"]
    token = resource["redirectUrl"].split("token=")[1]
    assert token == resource["paymentToken"]

    answer = _paypal_tokenize(sandbox, fingerprint, token)
    assert answer.status_code == 201
    (account,) = answer.json()["paypalAccounts"]
    assert account["nonce"] == nonce and account["details"]["email"] == "payer@example.com"
    # an order is tokenized once; an unknown one never
    assert _paypal_tokenize(sandbox, fingerprint, token).status_code == 422
    assert _paypal_tokenize(sandbox, fingerprint, "EC-FORGED").status_code == 422
    assert _paypal_tokenize(sandbox, "forged", token).status_code == 401

    result = gateway.transaction.sale(
        {
            "amount": "12.00",
            "payment_method_nonce": nonce,
            "options": {"submit_for_settlement": True},
        }
    )
    assert result.is_success
    assert result.transaction.paypal_details.payer_email == "payer@example.com"
    assert (
        bool(getattr(result.transaction.paypal_details, "billing_agreement_id", None)) is vaultable
    )


def test_a_paypal_order_without_an_amount_is_refused(
    gateway: braintree.BraintreeGateway, sandbox: SandboxServer
) -> None:
    answer = _paypal_order(sandbox, _fingerprint(gateway), amount="")
    assert answer.status_code == 422 and "Amount" in answer.json()["error"]["message"]
    assert _paypal_order(sandbox, "forged").status_code == 401
