"""Client tokens and their authorization fingerprints.

A Braintree client token is base64 JSON telling the browser library where to go and
carrying an ``authorizationFingerprint``. Ours is an HMAC over a few claims, keyed by
the merchant's private key, so the tokenize endpoint can check it without storing it
and it survives sandbox restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlencode

FINGERPRINT_LIFETIME_SECONDS = 24 * 3600


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
    merchant_id: str, private_key: str, assets_url: str, *, merchant_account_id: str | None = None
) -> str:
    """Base64 JSON shaped like Braintree's client token (version 2); it names the merchant
    account it was generated for, as Braintree's client configuration does."""
    body = {
        "version": 2,
        "environment": "crm-pay-development-sandbox",
        "merchantId": merchant_id,
        "authorizationFingerprint": make_fingerprint(merchant_id, private_key),
        "assetsUrl": assets_url,
        "clientApiUrl": assets_url,
        "configUrl": f"{assets_url}/config",
        "merchantAccountId": merchant_account_id,
    }
    return base64.b64encode(json.dumps(body).encode()).decode("ascii")
