"""Braintree's client API on the development sandbox: what braintree-web asks for.

braintree-web 3.144.0 talks to ``clientApiUrl`` (``/merchants/<id>/client_api``):

- ``GET v1/configuration`` with the token's ``authorizationFingerprint`` and
  ``configVersion=3`` (``client/get-configuration.js``) answers the *gateway
  configuration*: ``assetsUrl`` (where the hosted-field frames load from),
  ``clientApiUrl``, the card types, challenges, and what 3-D Secure needs;
- ``POST v1/payment_methods/credit_cards`` (the hosted-field frame's tokenization) with
  ``{"creditCard": {...}, "authorizationFingerprint": ...}`` answers
  ``{"creditCards": [{"nonce", "details", "description", "type", "binData"}]}`` (201), or
  422 with ``error.message`` and ``fieldErrors`` as Braintree's client API does;
- every route answers CORS preflights: the client sends JSON with XHR from the
  merchant's page (``client/request/ajax-driver.js``).

Only Braintree's published test card numbers tokenize. The number and CVV are checked,
reduced to BIN / last 4 / brand / expiry and dropped: never stored or logged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

from .cards import (
    ONLY_TEST_CARDS_MESSAGE,
    CardDetails,
    cvv_response_code,
    describe_test_card,
    postal_code_response_code,
)
from .client_token import ASSETS_ORIGIN, client_api_url, fingerprint_is_valid
from .processing import Processor

__all__ = ["TokenizeRefusal", "credit_card_payload", "register_client_api", "tokenize_card"]

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
# The card brands braintree-web's hosted fields accept (``creditCards.supportedCardTypes``
# in Braintree's configuration, the names its ``get-card-types`` maps).
SUPPORTED_CARD_TYPES = (
    "Visa",
    "MasterCard",
    "American Express",
    "Discover",
    "JCB",
    "Maestro",
    "UnionPay",
)


@dataclasses.dataclass(frozen=True)
class TokenizeRefusal(Exception):
    """Card data the sandbox does not tokenize: ``field`` is braintree-web's field key,
    ``code`` the Braintree validation code (``81715`` number invalid, ``81712``
    expiration date invalid, ``81707`` CVV, ``81813`` postal code)."""

    field: str
    code: str
    message: str


def _in_future(month: str, year: str) -> bool:
    month_number = int(month)
    year_number = int(year) if len(year) == 4 else 2000 + int(year)
    if not 1 <= month_number <= 12:
        return False
    today = datetime.now(UTC)
    return (year_number, month_number) >= (today.year, today.month)


def tokenize_card(
    processor: Processor,
    *,
    number: object,
    expiration_date: object,
    cvv: object,
    postal_code: object = None,
) -> tuple[str, CardDetails]:
    """A nonce for a published test card, with the card details it keeps.

    ``postal_code`` ``None``: the page has no postal-code field. Raises
    :class:`TokenizeRefusal` for anything else. The number and CVV never leave here."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    card = describe_test_card(digits, "", "")
    del digits  # from here on only the reduced card details are used
    if card is None:
        raise TokenizeRefusal("number", "81715", ONLY_TEST_CARDS_MESSAGE)
    expiry = _EXPIRY.match(str(expiration_date or ""))
    if expiry is None or not _in_future(expiry.group(1), expiry.group(2)):
        raise TokenizeRefusal("expirationDate", "81712", "Expiration date is invalid or past.")
    code = str(cvv or "")
    cvv_length = 4 if card.card_type == "American Express" else 3
    if not (code.isdigit() and len(code) == cvv_length):
        raise TokenizeRefusal("cvv", "81707", f"Security code must be {cvv_length} digits.")
    cvv_answer = cvv_response_code(code)  # only the check's one-letter answer is kept
    del code
    if postal_code is not None and not str(postal_code).strip():
        raise TokenizeRefusal("postalCode", "81813", "Postal code is required.")
    month = f"{int(expiry.group(1)):02d}"
    year = expiry.group(2) if len(expiry.group(2)) == 4 else "20" + expiry.group(2)
    card = dataclasses.replace(
        card,
        expiration_month=month,
        expiration_year=year,
        cvv_response_code=cvv_answer,
        avs_postal_code_response_code=postal_code_response_code(postal_code),
    )
    return processor.issue_nonce(card), card


def _bin_data() -> dict[str, str]:
    unknown = "Unknown"
    keys = ("prepaid", "healthcare", "debit", "durbinRegulated", "commercial", "payroll")
    data = dict.fromkeys(keys, unknown)
    data.update(issuingBank=unknown, countryOfIssuance=unknown, productId=unknown)
    return data


def credit_card_payload(nonce: str, card: CardDetails) -> dict[str, Any]:
    """One entry of ``creditCards``, as braintree-web's tokenize resolves it."""
    return {
        "nonce": nonce,
        "type": "CreditCard",
        "consumed": False,
        "description": f"ending in {card.last_4[-2:]}",
        "details": {
            "bin": card.bin,
            "cardType": card.card_type,
            "lastFour": card.last_4,
            "lastTwo": card.last_4[-2:],
            "expirationMonth": card.expiration_month,
            "expirationYear": card.expiration_year,
        },
        "binData": _bin_data(),
        "threeDSecureInfo": None,
    }


def gateway_configuration(
    merchant_id: str, extra: Callable[[], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What ``GET v1/configuration`` answers (the keys braintree-web reads)."""
    api = client_api_url(merchant_id)
    found: dict[str, Any] = {
        "environment": "sandbox",
        "crmPayDevelopmentSandbox": True,
        "merchantId": merchant_id,
        "assetsUrl": ASSETS_ORIGIN,
        "clientApiUrl": api,
        "configUrl": f"{api}/v1/configuration",
        "challenges": ["cvv", "postal_code"],
        "creditCards": {
            "supportedCardTypes": list(SUPPORTED_CARD_TYPES),
            "supportedGateways": [{"name": "clientApi"}],
        },
        # the wallets' and 3-D Secure's blocks come from ``extra`` (wallets.py,
        # three_d_secure.py); without them the client offers neither
        "paypalEnabled": False,
        "threeDSecureEnabled": False,
    }
    if extra is not None:
        found.update(extra())
    return found


def _client_error(status: int, message: str, fields: list[dict[str, str]] | None = None) -> Any:
    body: dict[str, Any] = {"error": {"message": message}}
    if fields is not None:
        body["fieldErrors"] = [{"field": "creditCard", "fieldErrors": fields}]
    return jsonify(body), status


def register_client_api(
    app: Flask,
    *,
    merchant_id: str,
    private_key: str,
    processor: Processor,
    configuration_extras: Callable[[], dict[str, Any]] | None = None,
) -> str:
    """Add the client API routes to ``app``; returns their base path."""
    base = f"/merchants/{merchant_id}/client_api"

    def authorized(data: dict[str, Any]) -> bool:
        fingerprint = str(data.get("authorizationFingerprint") or "")
        return fingerprint_is_valid(fingerprint, merchant_id, private_key)

    @app.after_request
    def cors(response: Response) -> Response:
        if request.path.startswith(base + "/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            asked = request.headers.get("Access-Control-Request-Headers")
            response.headers["Access-Control-Allow-Headers"] = asked or "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.route(f"{base}/<path:rest>", methods=["OPTIONS"])
    def preflight(rest: str) -> Response:
        return Response(status=204)

    @app.get(f"{base}/v1/configuration")
    def configuration() -> Any:
        if not authorized(request.args.to_dict()):
            return _client_error(401, "Authorization fingerprint is invalid or expired.")
        return jsonify(gateway_configuration(merchant_id, configuration_extras))

    @app.post(f"{base}/v1/payment_methods/credit_cards")
    def credit_cards() -> Any:
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("creditCard"), dict):
            return _client_error(400, 'send {"creditCard": {...}} as JSON')
        if not authorized(data):
            return _client_error(401, "Authorization fingerprint is invalid or expired.")
        card = data.pop("creditCard")
        address = card.get("billingAddress") if isinstance(card.get("billingAddress"), dict) else {}
        expiry = card.get("expirationDate")
        if expiry is None and card.get("expirationMonth"):
            expiry = f"{card.get('expirationMonth')}/{card.get('expirationYear')}"
        try:
            nonce, details = tokenize_card(
                processor,
                number=card.pop("number", None),
                expiration_date=expiry,
                cvv=card.pop("cvv", None),
                postal_code=address.get("postalCode") if "postalCode" in address else None,
            )
        except TokenizeRefusal as refusal:
            return _client_error(
                422,
                refusal.message,
                [{"field": refusal.field, "code": refusal.code, "message": refusal.message}],
            )
        return jsonify({"creditCards": [credit_card_payload(nonce, details)]}), 201

    return base
