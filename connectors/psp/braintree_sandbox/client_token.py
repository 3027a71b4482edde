"""Client tokens and their authorization fingerprints.

A Braintree client token is base64 JSON telling the browser library where to go and
carrying an ``authorizationFingerprint``. Ours is an HMAC over a few claims, keyed by
the merchant's private key, so the tokenize endpoint can check it without storing it
and it survives sandbox restarts.

The token names Braintree's own sandbox hosts, as a token from Braintree's sandbox does
(``configUrl`` on ``api.sandbox.braintreegateway.com``, ``assetsUrl`` on
``assets.braintreegateway.com``): braintree-web's client refuses any other host
(``lib/is-verified-domain.js``: https on braintreegateway.com, braintree-api.com,
braintreepayments.com or paypal.com, checked in ``client/client.js``), and its hosted
fields accept messages only from frames on those hosts (framebus ``verifyDomain``). So
whoever runs braintree-web against this sandbox sends those hosts here: the browser
tests route them (Playwright ``context.route``), and the demo's stand-in client
(``static/hosted-fields.js``) rewrites them to the sandbox's own origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlencode

FINGERPRINT_LIFETIME_SECONDS = 24 * 3600
#: Braintree's sandbox hosts as braintree-web 3.144.0 knows them (``lib/constants.js``).
CLIENT_API_ORIGIN = "https://api.sandbox.braintreegateway.com:443"
ASSETS_ORIGIN = "https://assets.braintreegateway.com"


def client_api_url(merchant_id: str) -> str:
    """The client API base a token and the configuration name (``clientApiUrl``)."""
    return f"{CLIENT_API_ORIGIN}/merchants/{merchant_id}/client_api"


def _mac(private_key: str, claims: str) -> str:
    return hmac.new(private_key.encode(), claims.encode(), hashlib.sha256).hexdigest()


def make_fingerprint(merchant_id: str, private_key: str, *, issued_at: int | None = None) -> str:
    claims = urlencode({"merchant_id": merchant_id, "created_at": issued_at or int(time.time())})
    return f"{_mac(private_key, claims)}|{claims}"


def fingerprint_is_valid(fingerprint: str, merchant_id: str, private_key: str) -> bool:
    mac, _, claims = fingerprint.partition("|")
    if not hmac.compare_digest(mac, _mac(private_key, claims)):
        return False
    values = parse_qs(claims)
    if values.get("merchant_id") != [merchant_id]:
        return False
    try:
        issued_at = int(values["created_at"][0])
    except (KeyError, ValueError):
        return False
    return 0 <= time.time() - issued_at <= FINGERPRINT_LIFETIME_SECONDS


def make_client_token(
    merchant_id: str, private_key: str, *, merchant_account_id: str | None = None
) -> str:
    """Base64 JSON shaped like Braintree's client token (version 2, as braintree-web's
    ``lib/create-authorization-data.js`` reads it: ``configUrl`` and
    ``authorizationFingerprint``; no ``graphQL`` key, so the client asks ``configUrl``
    over REST). It names the merchant account it was generated for, as Braintree's
    client configuration does, and says it comes from this development sandbox."""
    api = client_api_url(merchant_id)
    body = {
        "version": 2,
        "environment": "sandbox",
        "crmPayDevelopmentSandbox": True,
        "merchantId": merchant_id,
        "authorizationFingerprint": make_fingerprint(merchant_id, private_key),
        "assetsUrl": ASSETS_ORIGIN,
        "clientApiUrl": api,
        "configUrl": f"{api}/v1/configuration",
        "merchantAccountId": merchant_account_id,
    }
    return base64.b64encode(json.dumps(body).encode()).decode("ascii")
