"""The assets origin: hosted-fields script, field iframes and the tokenize endpoint.

It runs on its own port so that, seen from the merchant page, card entry happens on
another origin, as with Braintree's hosted fields. ``POST /tokenize`` accepts only
Braintree's published test card numbers; the number and CVV are checked, reduced to
BIN/last 4/brand/expiry, and dropped. They are never stored or logged.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request

from .cards import (
    ONLY_TEST_CARDS_MESSAGE,
    cvv_response_code,
    describe_test_card,
    postal_code_response_code,
)
from .client_token import fingerprint_is_valid
from .gateway_app import SANDBOX_HEADER
from .processing import Processor

FIELD_NAMES = ("number", "expirationDate", "cvv", "postalCode")
_FIELD_LABELS = {
    "number": ("Card number", "cc-number", "numeric", "23"),
    "expirationDate": ("Expiration date (MM/YY)", "cc-exp", "numeric", "7"),
    "cvv": ("Security code", "cc-csc", "numeric", "4"),
    "postalCode": ("Postal code", "postal-code", "text", "10"),
}
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def create_assets_app(
    *, merchant_id: str, private_key: str, processor: Processor, frame_ancestors: str = "*"
) -> Flask:
    """The Flask app for the assets origin."""
    app = Flask("crm_pay_braintree_sandbox_assets")
    field_page = _static("field.html")
    scripts = {
        "hosted-fields.js": _static("hosted-fields.js"),
        "field.js": _static("field.js"),
    }
    styles = _static("field.css")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers[SANDBOX_HEADER[0]] = SANDBOX_HEADER[1]
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def script(name: str) -> Response:
        response = Response(scripts[name], content_type="text/javascript; charset=utf-8")
        # Loaded by <script src> from the merchant's origin.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @app.get("/")
    def index() -> Response:
        page = (
            "<!doctype html><title>crm-pay development sandbox - hosted fields</title>"
            "<h1>crm-pay development sandbox: hosted fields</h1><p>Development tool, not "
            "Braintree. Only Braintree's published test card numbers are accepted.</p>"
        )
        return Response(page, content_type="text/html; charset=utf-8")

    @app.get("/hosted-fields.js")
    def hosted_fields_js() -> Response:
        return script("hosted-fields.js")

    @app.get("/field.js")
    def field_js() -> Response:
        return script("field.js")

    @app.get("/field.css")
    def field_css() -> Response:
        return Response(styles, content_type="text/css; charset=utf-8")

    @app.get("/field/<name>.html")
    def field(name: str) -> Response | tuple[Response, int]:
        if name not in FIELD_NAMES:
            return _error(404, "unknown_field", f"fields are {', '.join(FIELD_NAMES)}")
        label, autocomplete, inputmode, maxlength = _FIELD_LABELS[name]
        page = (
            field_page.replace("{{name}}", name)
            .replace("{{label}}", label)
            .replace("{{autocomplete}}", autocomplete)
            .replace("{{inputmode}}", inputmode)
            .replace("{{maxlength}}", maxlength)
        )
        response = Response(page, content_type="text/html; charset=utf-8")
        # Embeddable on the merchant's origin, but nothing else may run in the frame.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'none'"
        )
        return response

    @app.get("/config")
    def config() -> Response:
        return jsonify(
            {
                "environment": "crm-pay-development-sandbox",
                "merchantId": merchant_id,
                "fields": list(FIELD_NAMES),
            }
        )

    @app.post("/tokenize")
    def tokenize() -> Response | tuple[Response, int]:
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _error(400, "invalid_request", "send the fields as a JSON object")
        fingerprint = str(data.get("authorizationFingerprint") or "")
        if not fingerprint_is_valid(fingerprint, merchant_id, private_key):
            return _error(401, "invalid_authorization", "client token is invalid or expired")
        return _tokenize_card(data, processor)

    return app


def _tokenize_card(data: dict[str, Any], processor: Processor) -> Any:
    digits = "".join(ch for ch in str(data.get("number") or "") if ch.isdigit())
    expiry = _EXPIRY.match(str(data.get("expirationDate") or ""))
    cvv = str(data.get("cvv") or "")
    postal_code = data.get("postalCode")
    card = describe_test_card(digits, "", "")
    # From here on only the reduced card details are used.
    del digits
    data.pop("number", None)
    data.pop("cvv", None)
    if card is None:
        return _error(422, "not_a_test_card", ONLY_TEST_CARDS_MESSAGE)
    if expiry is None or not _in_future(expiry.group(1), expiry.group(2)):
        return _error(422, "invalid_expiration_date", "Expiration date is invalid or past.")
    cvv_length = 4 if card.card_type == "American Express" else 3
    if not (cvv.isdigit() and len(cvv) == cvv_length):
        return _error(422, "invalid_cvv", f"Security code must be {cvv_length} digits.")
    # Only the check's one-letter answer is kept with the card, never the CVV.
    cvv_answer = cvv_response_code(cvv)
    del cvv
    if postal_code is not None and not str(postal_code).strip():
        return _error(422, "invalid_postal_code", "Postal code is required.")
    month = f"{int(expiry.group(1)):02d}"
    year = expiry.group(2) if len(expiry.group(2)) == 4 else "20" + expiry.group(2)
    card = dataclasses.replace(
        card,
        expiration_month=month,
        expiration_year=year,
        cvv_response_code=cvv_answer,
        avs_postal_code_response_code=postal_code_response_code(postal_code),
    )
    nonce = processor.issue_nonce(card)
    details = {
        "cardType": card.card_type,
        "lastFour": card.last_4,
        "bin": card.bin,
        "expirationMonth": month,
        "expirationYear": year,
    }
    return jsonify({"nonce": nonce, "type": "CreditCard", "details": details}), 201


def _in_future(month: str, year: str) -> bool:
    month_number = int(month)
    year_number = int(year) if len(year) == 4 else 2000 + int(year)
    if not 1 <= month_number <= 12:
        return False
    today = datetime.now(UTC)
    return (year_number, month_number) >= (today.year, today.month)
