"""The assets origin: Braintree's client API, the hosted-field frame, the demo's client.

It runs on its own port so that, seen from the merchant page, card entry happens on
another origin, as with Braintree's hosted fields. It serves:

- the client API braintree-web calls (:mod:`.client_api`: configuration, credit-card
  tokenization), the 3-D Secure routes (:mod:`.three_d_secure`) and the wallets'
  (:mod:`.wallets`, with the stand-in of Google's ``pay.js`` at ``pay.google.com``'s path);
- the hosted-field frame at braintree-web's path ``/web/<version>/html/
  hosted-fields-frame[.min].html`` (``hosted-fields/external/compose-url.js``), our
  own page and script (``static/field.html``, ``static/field.js``) that answer
  braintree-web's hosted fields over framebus as Braintree's frame does;
- ``hosted-fields.js``: the demo's stand-in for braintree-web's ``client`` and
  ``hostedFields`` (same API, talking to the same frame), for a browser that cannot
  send Braintree's hosts here (see :mod:`.client_token`);
- ``POST /tokenize``: direct tokenization for scripts and tests without a browser.

Only Braintree's published test card numbers are accepted; numbers and CVVs are never
stored or logged.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request

from .client_api import TokenizeRefusal, register_client_api, tokenize_card
from .client_token import ASSETS_ORIGIN, CLIENT_API_ORIGIN, fingerprint_is_valid
from .gateway_app import SANDBOX_HEADER
from .processing import Processor
from .three_d_secure import register_three_d_secure_routes, three_d_secure_configuration
from .wallets import register_wallet_routes, wallet_configuration


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


# The direct endpoint's error codes (``POST /tokenize``), per refused field.
_TOKENIZE_CODES = {
    "number": "not_a_test_card",
    "expirationDate": "invalid_expiration_date",
    "cvv": "invalid_cvv",
    "postalCode": "invalid_postal_code",
}


def create_assets_app(
    *, merchant_id: str, private_key: str, processor: Processor, frame_ancestors: str = "*"
) -> Flask:
    """The Flask app for the assets origin."""
    app = Flask("crm_pay_braintree_sandbox_assets")
    frame_page = _static("field.html")
    scripts = {
        "hosted-fields.js": _static("hosted-fields.js"),
        "field.js": _static("field.js"),
    }
    styles = _static("field.css")

    def extras() -> dict[str, Any]:
        return dict(
            three_d_secure_configuration(ASSETS_ORIGIN, merchant_id),
            **wallet_configuration(merchant_id, private_key),
        )

    client_api = register_client_api(
        app,
        merchant_id=merchant_id,
        private_key=private_key,
        processor=processor,
        configuration_extras=extras,
    )
    register_three_d_secure_routes(
        app, client_api, processor, merchant_id=merchant_id, private_key=private_key
    )
    register_wallet_routes(app, client_api, merchant_id=merchant_id, private_key=private_key)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers[SANDBOX_HEADER[0]] = SANDBOX_HEADER[1]
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def script(name: str) -> Response:
        response = Response(scripts[name], content_type="text/javascript; charset=utf-8")
        # Loaded by <script src> from the merchant's origin (and by the frame).
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

    # What braintree-web also asks of PayPal's hosts, when they are routed here: its
    # analytics (lib/constants.js ANALYTICS_URL, www.paypal.com) are taken and dropped,
    # and the data collector's fraud script (FRAUDNET_URL, c.paypal.com) is an empty
    # stand-in, so the device data carries only the correlation id.
    @app.route("/xoplatform/logger/api/logger", methods=["POST", "OPTIONS"])
    def analytics() -> Response:
        response = Response(status=204)
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    @app.get("/da/r/fb.js")
    def fraud_script() -> Response:
        body = "/* crm-pay development sandbox: stand-in for PayPal's fraud script. */\n"
        response = Response(body, content_type="text/javascript; charset=utf-8")
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @app.get("/web/<version>/js/hosted-field.js")
    def field_js(version: str) -> Response:
        return script("field.js")

    @app.get("/web/<version>/css/hosted-field.css")
    def field_css(version: str) -> Response:
        return Response(styles, content_type="text/css; charset=utf-8")

    @app.get("/web/<version>/html/hosted-fields-frame.min.html")
    @app.get("/web/<version>/html/hosted-fields-frame.html")
    def frame(version: str) -> Response:
        # One page for every field: braintree-web names the frame after its field
        # ("braintree-hosted-field-number") and puts its channel in the URL's fragment.
        page = frame_page.replace("{{version}}", version)
        response = Response(page, content_type="text/html; charset=utf-8")
        # Embeddable on the merchant's origin, nothing else runs in the frame, and it
        # talks only to the client API (here, or Braintree's host routed here).
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"connect-src 'self' {CLIENT_API_ORIGIN.removesuffix(':443')}; "
            f"frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'none'"
        )
        return response

    @app.post("/tokenize")
    def tokenize() -> Response | tuple[Response, int]:
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _error(400, "invalid_request", "send the fields as a JSON object")
        fingerprint = str(data.get("authorizationFingerprint") or "")
        if not fingerprint_is_valid(fingerprint, merchant_id, private_key):
            return _error(401, "invalid_authorization", "client token is invalid or expired")
        try:
            nonce, card = tokenize_card(
                processor,
                number=data.pop("number", None),
                expiration_date=data.get("expirationDate"),
                cvv=data.pop("cvv", None),
                postal_code=data.get("postalCode"),
            )
        except TokenizeRefusal as refusal:
            return _error(422, _TOKENIZE_CODES[refusal.field], refusal.message)
        details = {
            "cardType": card.card_type,
            "lastFour": card.last_4,
            "bin": card.bin,
            "expirationMonth": card.expiration_month,
            "expirationYear": card.expiration_year,
        }
        return jsonify({"nonce": nonce, "type": "CreditCard", "details": details}), 201

    return app
