"""Wallets on the development sandbox, for braintree-web's real wallet components.

What each part follows:

- :func:`wallet_configuration`: the gateway configuration's wallet blocks, the keys
  braintree-web 3.144.0 reads. Google Pay: ``androidPay`` (``google-payment/index.js``
  refuses to create the component without it; ``lib/generate-google-pay-configuration.js``
  reads ``supportedNetworks`` and ``googleAuthorizationFingerprint``). Apple Pay:
  ``applePayWeb`` (``apple-pay/index.js``; ``apple-pay.js`` reads ``countryCode``,
  ``currencyCode``, ``merchantIdentifier``, ``supportedNetworks``). PayPal:
  ``paypalEnabled`` and ``paypal`` (``paypal-checkout/paypal-checkout.js`` reads
  ``clientId``, ``displayName``, ``assetsUrl``, ``environmentNoNetwork``,
  ``unvettedMerchant``). Venmo: ``payWithVenmo`` and Braintree's GraphQL endpoint
  (:mod:`.venmo`, which also answers the GraphQL operations and serves the QR code
  frame of braintree-web's desktop flow). The sandbox offers every wallet it
  simulates; the pay page shows only those the merchant turned on.
- the client API routes braintree-web's Apple Pay calls (``apple-pay/apple-pay.js``):
  ``POST v1/apple_pay_web/sessions`` (``performValidation``: Braintree asks Apple for a
  merchant session and answers it as it is) and ``POST v1/payment_methods/
  apple_payment_tokens`` (``tokenize``: answers ``{"applePayCards": [...]}``), and
  PayPal Checkout's (``paypal-checkout.js``): ``POST v1/paypal_hermes/
  create_payment_resource`` (``createPayment`` with ``flow: "checkout"``: a
  ``paymentResource`` whose ``redirectUrl`` carries the order's ``token``) and ``POST
  v1/payment_methods/paypal_accounts`` (``tokenizePayment``: ``{"paypalAccounts":
  [...]}``). Checkout with Vault (``requestBillingAgreement: true``) gives Braintree's
  billing-agreement nonce, which can be vaulted; a plain checkout the one-time nonce;
- stand-ins for the pieces that are not Braintree's, each a clearly labelled simulated
  approval sheet ("Development sandbox — simulated ... sheet"): Google's ``pay.js``
  (``google.payments.api.PaymentsClient``: ``isReadyToPay``, ``loadPaymentData``,
  ``prefetchPaymentData``, ``createButton``; Google's "Google Pay API for Web" reference)
  served at ``https://pay.google.com/gp/p/js/pay.js`` when a browser routes that host
  here; PayPal's JS SDK (``paypal.Buttons`` with ``createOrder`` / ``onApprove`` /
  ``onCancel`` / ``onError``; PayPal's "JavaScript SDK reference") at
  ``https://www.paypal.com/sdk/js``; and Apple's ``ApplePaySession``
  (``static/apple-pay-session.js``), which Chromium lacks, for a test to inject.
  Approving a sheet yields what the real wallet would hand braintree-web: Google Pay's
  ``paymentMethodData.tokenizationData.token`` (the JSON Braintree's gateway gives
  Google, ``{"androidPayCards": [...]}``, read by ``GooglePayment.parseResponse``),
  Apple's payment token, PayPal's approved order.

The nonces are Braintree's static wallet test nonces (:mod:`.wallet_nonces`), so a sale
with one answers what braintree_python's tests assert. No card number is involved.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request

from .client_token import ASSETS_ORIGIN, fingerprint_is_valid, make_fingerprint
from .venmo import register_venmo_routes, venmo_configuration
from .wallet_nonces import WALLET_NONCES

__all__ = [
    "APPLE_PAY_MERCHANT_IDENTIFIER",
    "PAYPAL_CLIENT_ID",
    "GOOGLE_PAY_CARDS",
    "APPLE_PAY_CARDS",
    "register_wallet_routes",
    "wallet_configuration",
]

#: The networks the sandbox's wallets take (Braintree's configuration spells them so).
_NETWORKS = ["visa", "mastercard", "amex", "discover"]
APPLE_PAY_MERCHANT_IDENTIFIER = "merchant.com.crm-pay.development-sandbox"
GOOGLE_PAY_JS_PATH = "/gp/p/js/pay.js"
GOOGLE_PAY_DATA_PATH = "/gp/p/sandbox/payment-data"
PAYPAL_SDK_PATH = "/sdk/js"
PAYPAL_CLIENT_ID = "crm-pay-development-sandbox"
#: braintree_python's test values for the PayPal nonces (see wallet_nonces.py)
_PAYPAL_PAYER = {
    "email": "payer@example.com",
    "firstName": "Jane",
    "lastName": "Doe",
    "payerId": "PAYER-SANDBOX",
    "countryCode": "US",
}

#: The cards each simulated sheet offers: (sheet key, wallet nonce, how the sheet names it).
GOOGLE_PAY_CARDS = (
    ("visa", "fake-android-pay-visa-nonce", "Visa •••• 1111"),
    ("mastercard", "fake-android-pay-mastercard-nonce", "Mastercard •••• 0005"),
)
APPLE_PAY_CARDS = (
    ("visa", "fake-apple-pay-visa-nonce", "Visa •••• 1881"),
    ("mastercard", "fake-apple-pay-mastercard-nonce", "MasterCard •••• 0017"),
)


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def wallet_configuration(merchant_id: str, private_key: str) -> dict[str, Any]:
    """The wallet keys of the gateway configuration braintree-web's client receives."""
    return {
        "paypalEnabled": True,
        "paypal": {
            "clientId": PAYPAL_CLIENT_ID,
            "displayName": "crm-pay development sandbox",
            "environment": "offline",
            "environmentNoNetwork": False,
            "assetsUrl": ASSETS_ORIGIN,
            "currencyIsoCode": "USD",
            "unvettedMerchant": False,
            "billingAgreementsEnabled": True,
            "merchantAccountId": None,
        },
        "androidPay": {
            "enabled": True,
            "displayName": "crm-pay development sandbox",
            "environment": "sandbox",
            "googleAuthorizationFingerprint": make_fingerprint(merchant_id, private_key),
            "supportedNetworks": list(_NETWORKS),
        },
        "applePayWeb": {
            "countryCode": "US",
            "currencyCode": "USD",
            "merchantIdentifier": APPLE_PAY_MERCHANT_IDENTIFIER,
            "supportedNetworks": list(_NETWORKS),
        },
        **venmo_configuration(),
    }


def _bin_data() -> dict[str, str]:
    keys = ("prepaid", "healthcare", "debit", "durbinRegulated", "commercial", "payroll")
    data = dict.fromkeys(keys, "Unknown")
    data.update(issuingBank="Unknown", countryOfIssuance="Unknown", productId="Unknown")
    return data


def google_pay_token(nonce: str) -> dict[str, Any]:
    """What Braintree's gateway hands Google for a Google Pay card: the JSON that
    ``GooglePayment.parseResponse`` reads (``androidPayCards[0]``)."""
    wallet = WALLET_NONCES[nonce]
    last_4 = str(wallet.details["source_card_last_4"])
    return {
        "androidPayCards": [
            {
                "type": "AndroidPayCard",
                "nonce": nonce,
                "description": "Android Pay",
                "consumed": False,
                "details": {
                    "cardType": wallet.details["source_card_type"],
                    "lastTwo": last_4[-2:],
                    "lastFour": last_4,
                    "isNetworkTokenized": wallet.details["is_network_tokenized"],
                    "bin": wallet.card.bin,
                },
                "binData": _bin_data(),
            }
        ]
    }


def apple_pay_card(nonce: str) -> dict[str, Any]:
    """One ``applePayCards`` entry, as ``ApplePay.tokenize`` resolves it."""
    wallet = WALLET_NONCES[nonce]
    return {
        "type": "ApplePayCard",
        "nonce": nonce,
        "description": "Apple Pay",
        "consumed": False,
        "details": {
            "cardType": wallet.details["card_type"],
            "cardholderName": wallet.details["cardholder_name"],
            "dpanLastTwo": wallet.card.last_4[-2:],
        },
        "binData": _bin_data(),
    }


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"message": message}}), status


def _choice(key: object, cards: tuple[tuple[str, str, str], ...]) -> str | None:
    return next((nonce for name, nonce, _ in cards if name == key), None)


def register_wallet_routes(app: Flask, base: str, *, merchant_id: str, private_key: str) -> None:
    """Add the Apple Pay and PayPal client API routes under ``base``
    (``/merchants/<id>/client_api``; its CORS headers are the client API's), Google's
    ``pay.js`` and PayPal's SDK stand-ins with the Google sheet's endpoint at the root
    (the paths ``pay.google.com`` and ``www.paypal.com`` have), and Venmo's GraphQL
    endpoint and QR code frame (:func:`.venmo.register_venmo_routes`)."""
    register_venmo_routes(app, merchant_id=merchant_id, private_key=private_key)
    google_js = _static("google-pay.js")
    paypal_js = _static("paypal-sdk.js")
    # PayPal orders created and not yet tokenized: token -> Checkout with Vault asked
    orders: dict[str, bool] = {}

    def authorized(data: dict[str, Any]) -> bool:
        fingerprint = str(data.get("authorizationFingerprint") or "")
        return fingerprint_is_valid(fingerprint, merchant_id, private_key)

    @app.post(f"{base}/v1/apple_pay_web/sessions")
    def apple_pay_session() -> Any:
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("applePayWebSession"), dict):
            return _error(400, 'send {"applePayWebSession": {...}} as JSON')
        if not authorized(data):
            return _error(401, "Authorization fingerprint is invalid or expired.")
        asked = data["applePayWebSession"]
        if asked.get("merchantIdentifier") != APPLE_PAY_MERCHANT_IDENTIFIER:
            return _error(422, "Apple Pay merchant identifier is not registered.")
        if not str(asked.get("domainName") or "").strip():
            return _error(422, "Apple Pay domain name is required.")
        # Apple's merchant session is opaque to the page: it goes back to the sheet.
        now = int(time.time() * 1000)
        return jsonify(
            {
                "epochTimestamp": now,
                "expiresAt": now + 3600 * 1000,
                "merchantSessionIdentifier": "SSH" + secrets.token_hex(16),
                "nonce": secrets.token_hex(4),
                "merchantIdentifier": APPLE_PAY_MERCHANT_IDENTIFIER,
                "domainName": asked["domainName"],
                "displayName": asked.get("displayName") or "crm-pay development sandbox",
                "signature": "crm-pay-development-sandbox",
                "crmPayDevelopmentSandbox": True,
            }
        )

    @app.post(f"{base}/v1/payment_methods/apple_payment_tokens")
    def apple_payment_tokens() -> Any:
        data: Any = request.get_json(silent=True)
        token = data.get("applePaymentToken") if isinstance(data, dict) else None
        if not isinstance(token, dict):
            return _error(400, 'send {"applePaymentToken": {...}} as JSON')
        if not authorized(data):
            return _error(401, "Authorization fingerprint is invalid or expired.")
        try:
            payment_data = json.loads(base64.b64decode(str(token.get("paymentData") or "")))
        except (ValueError, binascii.Error):
            payment_data = None
        chosen = payment_data.get("sandboxCard") if isinstance(payment_data, dict) else None
        nonce = _choice(chosen, APPLE_PAY_CARDS)
        if nonce is None:
            return _error(422, "Apple Pay payment token is invalid.")
        return jsonify({"applePayCards": [apple_pay_card(nonce)]}), 201

    @app.post(f"{base}/v1/paypal_hermes/create_payment_resource")
    def paypal_payment_resource() -> Any:
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _error(400, "send the payment resource as JSON")
        if not authorized(data):
            return _error(401, "Authorization fingerprint is invalid or expired.")
        if not str(data.get("amount") or "").strip() or not data.get("currencyIsoCode"):
            # Braintree answers 422 for a checkout without amount or currency
            return _error(422, "Amount and currency are required for a PayPal checkout.")
        token = "EC-" + secrets.token_hex(8).upper()
        orders[token] = data.get("requestBillingAgreement") is True
        return jsonify(
            {
                "paymentResource": {
                    "paymentToken": token,
                    "intent": data.get("intent") or "authorize",
                    "redirectUrl": f"https://www.sandbox.paypal.com/checkoutnow?token={token}",
                }
            }
        ), 201

    @app.post(f"{base}/v1/payment_methods/paypal_accounts")
    def paypal_accounts() -> Any:
        data: Any = request.get_json(silent=True)
        account = data.get("paypalAccount") if isinstance(data, dict) else None
        if not isinstance(account, dict):
            return _error(400, 'send {"paypalAccount": {...}} as JSON')
        if not authorized(data):
            return _error(401, "Authorization fingerprint is invalid or expired.")
        token = str(account.get("paymentToken") or "")
        if token not in orders or not account.get("payerId"):
            return _error(422, "PayPal payment token is invalid or was used already.")
        vault = orders.pop(token)
        nonce = "fake-paypal-billing-agreement-nonce" if vault else "fake-paypal-one-time-nonce"
        details = {"email": _PAYPAL_PAYER["email"], "payerInfo": dict(_PAYPAL_PAYER)}
        return jsonify(
            {
                "paypalAccounts": [
                    {
                        "type": "PayPalAccount",
                        "nonce": nonce,
                        "description": "PayPal",
                        "consumed": False,
                        "details": details,
                    }
                ]
            }
        ), 201

    @app.get(PAYPAL_SDK_PATH)
    def paypal_sdk() -> Response:
        # what loadPayPalSDK asks for: the client id the configuration gave
        if request.args.get("client-id") != PAYPAL_CLIENT_ID:
            body = "/* crm-pay development sandbox: unknown PayPal client-id */\n"
            return Response(body, status=400, content_type="text/javascript; charset=utf-8")
        response = Response(paypal_js, content_type="text/javascript; charset=utf-8")
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @app.get(GOOGLE_PAY_JS_PATH)
    def google_pay_js() -> Response:
        response = Response(google_js, content_type="text/javascript; charset=utf-8")
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @app.route(GOOGLE_PAY_DATA_PATH, methods=["POST", "OPTIONS"])
    def google_payment_data() -> Any:
        # The simulated sheet's approval: Google would ask Braintree to tokenize with the
        # request's tokenization parameters; the sandbox checks them as Braintree would.
        if request.method == "OPTIONS":
            answer = Response(status=204)
        else:
            answer = _google_payment_data(request.get_json(silent=True))
        answer.headers["Access-Control-Allow-Origin"] = "*"
        answer.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return answer

    def _google_payment_data(data: Any) -> Response:
        asked = data.get("paymentDataRequest") if isinstance(data, dict) else None
        methods = asked.get("allowedPaymentMethods") if isinstance(asked, dict) else None
        card = next(
            (m for m in methods or [] if isinstance(m, dict) and m.get("type") == "CARD"), None
        )
        params = ((card or {}).get("tokenizationSpecification") or {}).get("parameters") or {}
        if (
            params.get("gateway") != "braintree"
            or params.get("braintree:merchantId") != merchant_id
            or not fingerprint_is_valid(
                str(params.get("braintree:authorizationFingerprint") or ""),
                merchant_id,
                private_key,
            )
        ):
            body = {"error": {"statusCode": "DEVELOPER_ERROR", "statusMessage": "bad request"}}
            return Response(json.dumps(body), status=400, content_type="application/json")
        nonce = _choice(data.get("card"), GOOGLE_PAY_CARDS)
        if nonce is None:
            body = {"error": {"statusCode": "DEVELOPER_ERROR", "statusMessage": "no such card"}}
            return Response(json.dumps(body), status=400, content_type="application/json")
        token = google_pay_token(nonce)
        details = token["androidPayCards"][0]["details"]
        answer = {
            "apiVersion": 2,
            "apiVersionMinor": 0,
            "paymentMethodData": {
                "type": "CARD",
                "description": f"{details['cardType']} •••• {details['lastFour']}",
                "info": {
                    "cardNetwork": details["cardType"].upper(),
                    "cardDetails": details["lastFour"],
                },
                "tokenizationData": {"type": "PAYMENT_GATEWAY", "token": json.dumps(token)},
            },
        }
        return Response(json.dumps(answer), content_type="application/json")
