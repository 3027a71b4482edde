"""3-D Secure 2 on the development sandbox, for braintree-web's real ``threeDSecure``.

Three parts, each following what braintree-web 3.144.0 reads and sends
(``three-d-secure/external/frameworks/songbird.js`` and ``base.js``):

- :func:`three_d_secure_configuration`: the gateway configuration's ``threeDSecure``
  block (``cardinalAuthenticationJWT``, ``cardinalSongbirdUrl``,
  ``cardinalSongbirdIdentityHash``) and ``threeDSecureEnabled`` (``three-d-secure/
  index.js`` refuses to create the component without it);
- the client API routes ``payment_methods/<nonce>/three_d_secure/lookup`` and
  ``.../authenticate_from_jwt``, answering with ``lookup``, ``paymentMethod`` and
  ``threeDSecureInfo`` as ``base.js`` reads them;
- a stand-in of Cardinal's "songbird" script (``static/songbird.js``, our own code:
  ``window.Cardinal`` with the calls songbird.js makes) and a simulated bank page for
  the challenge, labelled "development sandbox, not your bank".

What each test card or nonce gives is in ``three_d_secure_results``. The challenge's
result travels as a JWT signed with the merchant's private key (HS256, as Cardinal's
are), so the sandbox keeps no state between the lookup and the authentication other
than the new nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request

from .cards import CardDetails
from .client_api import credit_card_payload
from .client_token import ASSETS_ORIGIN, fingerprint_is_valid
from .processing import Processor
from .records import ValidationFailure
from .three_d_secure_results import card_check, info_of, verified_info

__all__ = ["register_three_d_secure_routes", "three_d_secure_configuration"]

SONGBIRD_PATH = "/three-d-secure/songbird.js"
CHALLENGE_PATH = "/three-d-secure/challenge"
_CHALLENGE_LIFETIME_SECONDS = 15 * 60
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")
# Signs the setup JWT handed to the songbird stand-in, which never sends it back: only
# its shape matters (Cardinal's own is signed by Braintree with Cardinal's API key).
_SETUP_KEY = secrets.token_bytes(32)


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


_SONGBIRD = _static("songbird.js")
# braintree-web loads the script with crossorigin="anonymous" and this integrity value
# when the configuration carries one (songbird.js ``_loadCardinalScript``).
_SONGBIRD_INTEGRITY = (
    "sha384-" + base64.b64encode(hashlib.sha384(_SONGBIRD.encode()).digest()).decode()
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _sign(claims: dict[str, Any], key: bytes) -> str:
    """A compact HS256 JWT."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, sort_keys=True).encode())
    mac = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def _verified(token: object, key: bytes) -> dict[str, Any] | None:
    """The claims of a JWT we signed and that has not expired, else None."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    header, body, mac = token.split(".")
    expected = _b64(hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict) or float(claims.get("exp", 0)) < time.time():
        return None
    return claims


def three_d_secure_configuration(assets_url: str, merchant_id: str) -> dict[str, Any]:
    """The top-level keys 3-D Secure adds to the gateway configuration braintree-web's
    client receives (merged into it by the assets app)."""
    now = int(time.time())
    setup_jwt = _sign(
        {
            "iss": merchant_id,
            "iat": now,
            "exp": now + 2 * 3600,
            "jti": secrets.token_hex(8),
            "OrgUnitId": merchant_id,
            "ObjectifyPayload": True,
        },
        _SETUP_KEY,
    )
    return {
        "threeDSecureEnabled": True,
        "threeDSecure": {
            "cardinalAuthenticationJWT": setup_jwt,
            "cardinalSongbirdUrl": assets_url.rstrip("/") + SONGBIRD_PATH,
            "cardinalSongbirdIdentityHash": _SONGBIRD_INTEGRITY,
        },
    }


def _camel(info: dict[str, Any]) -> dict[str, Any]:
    """The SDK's snake_case 3DS info as braintree-web's ``threeDSecureInfo``."""
    words = {key: key.split("_") for key in info}
    return {
        parts[0] + "".join(p.title() for p in parts[1:]): info[key] for key, parts in words.items()
    }


def _payment_method(nonce: str, card: CardDetails, info: dict[str, Any]) -> dict[str, Any]:
    """``paymentMethod`` of a lookup or authentication answer (braintree-web's
    ``verifyPayload``): the tokenized card as the client API gives it, with its
    ``threeDSecureInfo``."""
    return credit_card_payload(nonce, card) | {"threeDSecureInfo": _camel(info)}


def _liability(info: dict[str, Any]) -> dict[str, bool]:
    return {
        "liabilityShifted": bool(info["liability_shifted"]),
        "liabilityShiftPossible": bool(info["liability_shift_possible"]),
    }


def _json_error(status: int, message: str) -> Response:
    # The client API's error shape ({"error": {"message": ...}}); braintree-web keys its
    # lookup errors on the HTTP status only (404 nonce, 422 validation, else general).
    response = jsonify({"error": {"message": message}})
    response.status_code = status
    return response


def _cors(response: Response) -> Response:
    # Called from the merchant's page by braintree-web's XHR, JSON body (preflighted).
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", "Content-Type"
    )
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _amount_text(value: object) -> str | None:
    """verifyCard's ``amount`` as text with two decimals, or None when it is not one."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.001")):
        return None
    return f"{amount:.2f}"


def register_three_d_secure_routes(
    app: Flask, base: str, processor: Processor, *, merchant_id: str, private_key: str
) -> None:
    """Add the 3DS client API routes under ``base`` (e.g. ``/merchants/<merchant_id>/
    client_api``; a ``<merchant_id>`` in it must name this merchant), the songbird
    stand-in at :data:`SONGBIRD_PATH` and the simulated bank page at
    :data:`CHALLENGE_PATH` (both under the assets origin's root)."""
    key = private_key.encode()
    challenge_page = _static("three-d-secure-challenge.html")
    prefix = base.rstrip("/") + "/v1/payment_methods/<nonce>/three_d_secure"

    def authorized(data: Any, path: dict[str, str]) -> Response | None:
        if path.get("merchant_id", merchant_id) != merchant_id:
            return _json_error(404, "Unknown merchant")
        if not isinstance(data, dict):
            return _json_error(400, "Send a JSON object")
        fingerprint = str(data.get("authorizationFingerprint") or "")
        if not fingerprint_is_valid(fingerprint, merchant_id, private_key):
            return _json_error(401, "Authorization fingerprint is invalid or expired")
        return None

    @app.route(f"{prefix}/lookup", methods=["POST", "OPTIONS"], endpoint="three_d_secure_lookup")
    def lookup(nonce: str, **path: str) -> Response:
        if request.method == "OPTIONS":
            return _cors(Response(status=204))
        data = request.get_json(silent=True)
        return _cors(authorized(data, path) or _lookup(nonce, data))

    def _lookup(nonce: str, data: dict[str, Any]) -> Response:
        amount = _amount_text(data.get("amount"))
        if amount is None:
            return _json_error(422, "Amount must be a number greater than 0")
        try:
            new_nonce, card = processor.upgrade_nonce(
                nonce, lambda card: verified_info(card_check(card).lookup_status)
            )
        except ValidationFailure as failure:
            codes = {error.code for error in failure.errors}
            # Unknown or used nonce: 404 (braintree-web's "tokenized card not found").
            status = 404 if codes & {"93107", "93108"} else 422
            return _json_error(status, str(failure))
        check = card_check(card)
        info = info_of(card) or {}
        lookup_block: dict[str, Any] = {
            "acsUrl": None,
            "pareq": None,
            "md": None,
            "termUrl": None,
            "transactionId": None,
            "threeDSecureVersion": info.get("three_d_secure_version"),
        }
        if check.challenge:
            transaction_id = "sandbox-3ds-" + secrets.token_hex(8)
            lookup_block |= {
                # the bank's page on the origin songbird came from (the configuration's
                # cardinalSongbirdUrl): songbird.js takes the result only from there
                "acsUrl": ASSETS_ORIGIN + CHALLENGE_PATH,
                "transactionId": transaction_id,
                "pareq": _sign(
                    {
                        "nonce": new_nonce,
                        "result": check.challenge_status,
                        "amount": amount,
                        "txn": transaction_id,
                        "exp": time.time() + _CHALLENGE_LIFETIME_SECONDS,
                    },
                    key,
                ),
            }
        return jsonify(
            {
                "lookup": lookup_block,
                "paymentMethod": _payment_method(new_nonce, card, info),
                "threeDSecureInfo": _liability(info),
            }
        )

    @app.route(
        f"{prefix}/authenticate_from_jwt",
        methods=["POST", "OPTIONS"],
        endpoint="three_d_secure_authenticate",
    )
    def authenticate(nonce: str, **path: str) -> Response:
        if request.method == "OPTIONS":
            return _cors(Response(status=204))
        data = request.get_json(silent=True)
        return _cors(authorized(data, path) or _authenticate(nonce, data))

    def _authenticate(nonce: str, data: dict[str, Any]) -> Response:
        claims = _verified(data.get("jwt"), key)
        if claims is None or claims.get("nonce") != nonce:
            return _json_error(422, "The authentication JWT is invalid or expired")
        if data.get("paymentMethodNonce") not in (None, nonce):
            return _json_error(422, "paymentMethodNonce does not match the JWT")
        stored = processor.state.nonces.get(nonce)
        lookup_info = info_of(CardDetails.from_dict(stored)) if stored else None
        if lookup_info is None:
            return _json_error(404, "Unknown or expired payment_method_nonce.")
        # A cancelled challenge authenticates nothing: the lookup's info stays.
        info = lookup_info if claims.get("cancelled") else verified_info(str(claims["status"]))
        card = processor.record_authentication(nonce, info)
        if card is None:
            return _json_error(404, "Unknown or expired payment_method_nonce.")
        return jsonify(
            {
                "paymentMethod": _payment_method(nonce, card, info),
                "threeDSecureInfo": _liability(info),
                "success": True,
            }
        )

    @app.get(SONGBIRD_PATH, endpoint="three_d_secure_songbird")
    def songbird() -> Response:
        response = Response(_SONGBIRD, content_type="text/javascript; charset=utf-8")
        # Loaded cross-origin with crossorigin="anonymous" and an integrity value.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @app.get(CHALLENGE_PATH + ".js", endpoint="three_d_secure_challenge_js")
    def challenge_js() -> Response:
        return Response(
            _static("three-d-secure-challenge.js"), content_type="text/javascript; charset=utf-8"
        )

    @app.route(CHALLENGE_PATH, methods=["GET", "POST"], endpoint="three_d_secure_challenge")
    def challenge() -> Response:
        values = request.form if request.method == "POST" else request.args
        creq = values.get("creq", "")
        parent = values.get("parent", "")
        claims = _verified(creq, key)
        if claims is None or "result" not in claims or not _ORIGIN.fullmatch(parent):
            return _page(
                "<p role='alert'>This bank check has expired. Close it and pay again.</p>", 400
            )
        error = ""
        if request.method == "POST":
            action = values.get("action")
            code = values.get("code", "").strip()
            if action == "cancel" or (action == "submit" and code):
                return _finished(claims, parent, cancelled=action == "cancel")
            error = "Enter the code from your bank (in this sandbox, any code, e.g. 1234)."
        body = (
            challenge_page.replace("{{amount}}", html.escape(str(claims.get("amount", ""))))
            .replace("{{creq}}", html.escape(creq))
            .replace("{{parent}}", html.escape(parent))
            .replace("{{error}}", html.escape(error))
            .replace("{{invalid}}", "true" if error else "false")
            .replace("{{error_hidden}}", "" if error else "hidden")
        )
        return _page(body)

    def _finished(claims: dict[str, Any], parent: str, *, cancelled: bool) -> Response:
        result = str(claims["result"])
        action_code = "SUCCESS" if result == "authenticate_successful" else "FAILURE"
        outcome = _sign(
            {
                "nonce": claims["nonce"],
                "status": result,
                "cancelled": cancelled,
                "exp": time.time() + _CHALLENGE_LIFETIME_SECONDS,
            },
            key,
        )
        note = "Cancelled." if cancelled else "Done. Returning to the payment page..."
        return _page(
            f"<p id='outcome' role='status' data-jwt='{html.escape(outcome)}' "
            f"data-parent='{html.escape(parent)}' data-action='{action_code}' "
            f"data-cancelled='{'true' if cancelled else 'false'}'>{note}</p>"
        )

    def _page(body: str, status: int = 200) -> Response:
        document = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Bank check (development sandbox, not your bank)</title>"
            f"<script src='{CHALLENGE_PATH}.js' defer></script></head><body>{body}</body></html>"
        )
        response = Response(document, status=status, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; "
            "frame-ancestors *; base-uri 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        return response
