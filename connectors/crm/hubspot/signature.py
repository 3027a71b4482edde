"""HubSpot request signatures, version 3, for requests HubSpot sends us (CRM card fetches,
webhooks) -- the CRM card that opens the agent console is verified with it.

HubSpot's documented algorithm (``X-HubSpot-Signature-v3`` with
``X-HubSpot-Request-Timestamp``, milliseconds since the epoch):

1. refuse the request if its timestamp is older than 5 minutes;
2. decode these percent-escapes in the request URI: ``%3A :``, ``%2F /``, ``%3F ?``,
   ``%40 @``, ``%21 !``, ``%24 $``, ``%27 '``, ``%28 (``, ``%29 )``, ``%2A *``, ``%2C ,``,
   ``%3B ;``;
3. concatenate method + URI + body + timestamp, UTF-8 encoded;
4. HMAC-SHA256 it with the app's client secret and base64-encode the digest;
5. compare with the header, in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Final

__all__ = ["hubspot_signature_v3", "verify_hubspot_signature_v3"]

_DECODED: Final = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE: Final = re.compile("|".join(_DECODED), re.IGNORECASE)


def hubspot_signature_v3(
    method: str, uri: str, body: str | bytes, timestamp: str, client_secret: str
) -> str:
    """The base64 signature HubSpot sends for this request (see the module docstring).

    ``uri`` is the full URL HubSpot called (scheme, host, path and query); ``body`` the raw
    request body (empty for a GET).
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    decoded_uri = _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], uri)
    message = f"{method.upper()}{decoded_uri}{text}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_hubspot_signature_v3(
    method: str,
    uri: str,
    body: str | bytes,
    timestamp: str,
    signature: str,
    client_secret: str,
    *,
    now: float,
    tolerance: float = 300,
) -> bool:
    """True only if ``signature`` is HubSpot's v3 signature of this request, made no more
    than ``tolerance`` seconds before ``now`` (Unix seconds).

    Fails closed: a missing secret, a malformed or future-dated timestamp (beyond the same
    tolerance, for clock skew), a body that is not UTF-8 or a signature that is not
    base64 all answer ``False``.
    """
    if not client_secret or not signature or not timestamp.isdigit():
        return False
    age = now - int(timestamp) / 1000
    if not -tolerance <= age <= tolerance:
        return False
    try:
        expected = hubspot_signature_v3(method, uri, body, timestamp, client_secret)
        given = base64.b64decode(signature.strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return False
    return hmac.compare_digest(base64.b64decode(expected), given)
