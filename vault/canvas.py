"""Salesforce Canvas signed requests: verify one and read the context it carries.

When a Canvas app uses *signed request* authentication, Salesforce POSTs a form field
``signed_request`` to the app's canvas URL:

    <base64 HMAC-SHA256 signature> "." <base64 JSON CanvasRequest>

The signature is HMAC-SHA256, keyed with the connected app's consumer secret, over the
second part exactly as sent (the base64 text, not the decoded JSON). The JSON carries
``algorithm`` (``"HMACSHA256"``), ``issuedAt``, ``userId`` and ``context`` (user,
organization, environment with the record the app was opened on, ...) plus ``client``
with an OAuth token for calling Salesforce back.

That token is a live credential: callers take what they need from the returned envelope
(the record id, the user's email) and must never log, store or show the envelope.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any, Final

from vault.errors import VaultError

__all__ = [
    "CANVAS_ALGORITHM",
    "CanvasRequestInvalid",
    "canvas_record_id",
    "sign_canvas_request",
    "verify_canvas_request",
]

CANVAS_ALGORITHM: Final = "HMACSHA256"
# A signed request is a few kilobytes; refuse anything absurd before hashing it.
_MAX_LENGTH: Final = 64 * 1024
_STANDARD_B64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_URLSAFE_B64: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
# issuedAt above this is in milliseconds, not seconds (10^11 s is the year 5138).
_MILLIS_THRESHOLD: Final = 10**11
# Record ids: Salesforce's are 15 or 18 letters and digits; a custom parameter may carry
# another system's id (the builtin CRM's "CUST-0001"). Nothing that could be markup.
_RECORD_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


class CanvasRequestInvalid(VaultError):
    """The signed request is malformed, not signed with our consumer secret, uses another
    algorithm or is too old. The message says which, never what the request contained."""

    code = "canvas_request_invalid"


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not; anything else is refused."""
    if _STANDARD_B64.fullmatch(text):
        alphabet_fixed = text
    elif _URLSAFE_B64.fullmatch(text):
        alphabet_fixed = text.replace("-", "+").replace("_", "/")
    else:
        raise ValueError("not base64")
    stripped = alphabet_fixed.rstrip("=")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def _mac(consumer_secret: str, encoded_envelope: str) -> bytes:
    return hmac.new(
        consumer_secret.encode("utf-8"), encoded_envelope.encode("ascii"), hashlib.sha256
    ).digest()


def sign_canvas_request(envelope: dict[str, Any], consumer_secret: str) -> str:
    """Build a signed request the way Salesforce does (for tests and local development)."""
    encoded = base64.b64encode(json.dumps(envelope).encode("utf-8")).decode("ascii")
    signature = base64.b64encode(_mac(consumer_secret, encoded)).decode("ascii")
    return f"{signature}.{encoded}"


def _issued_at_seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CanvasRequestInvalid("signed request issuedAt is not a timestamp")
    return value / 1000 if value > _MILLIS_THRESHOLD else float(value)


def verify_canvas_request(
    signed_request: str,
    consumer_secret: str,
    *,
    now: float,
    max_age: float = 900,
) -> dict[str, Any]:
    """Return the CanvasRequest JSON of a genuine, fresh signed request.

    ``now`` is the current time in Unix seconds. When the request carries ``issuedAt``
    (seconds or milliseconds since the epoch) it must lie within ``max_age`` seconds of
    ``now`` (either side, for clock skew); ``max_age=0`` skips that check.

    Fails closed with :class:`CanvasRequestInvalid`: no secret, a malformed request, a
    signature that does not match (checked with :func:`hmac.compare_digest` before the
    JSON is parsed), an algorithm other than HMACSHA256, or a stale ``issuedAt``.
    """
    if not consumer_secret:
        raise CanvasRequestInvalid("no Canvas consumer secret is configured", code="canvas_config")
    text = signed_request.strip()
    if not text or len(text) > _MAX_LENGTH:
        raise CanvasRequestInvalid("signed request is missing or too long")
    signature_part, sep, encoded_envelope = text.partition(".")
    if not sep or not signature_part or not encoded_envelope:
        raise CanvasRequestInvalid("signed request is malformed: expected signature.context")
    try:
        presented = _b64decode(signature_part)
        encoded_envelope.encode("ascii")
    except (ValueError, UnicodeEncodeError):
        raise CanvasRequestInvalid("signed request is malformed: not base64") from None
    if not hmac.compare_digest(presented, _mac(consumer_secret, encoded_envelope)):
        raise CanvasRequestInvalid(
            "signed request signature does not match: not signed with this consumer secret"
        )
    try:
        envelope = json.loads(_b64decode(encoded_envelope))
    except (ValueError, UnicodeDecodeError):
        raise CanvasRequestInvalid("signed request context is not base64 JSON") from None
    if not isinstance(envelope, dict):
        raise CanvasRequestInvalid("signed request context is not a JSON object")
    algorithm = envelope.get("algorithm")
    if algorithm != CANVAS_ALGORITHM:
        raise CanvasRequestInvalid(f"signed request algorithm must be {CANVAS_ALGORITHM}")
    issued = _issued_at_seconds(envelope.get("issuedAt"))
    if issued is not None and max_age > 0 and abs(now - issued) > max_age:
        raise CanvasRequestInvalid(
            f"signed request was issued more than {int(max_age)} seconds from now"
        )
    return envelope


def _path(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def canvas_record_id(envelope: dict[str, Any], *, parameter: str = "recordId") -> str | None:
    """The Salesforce record the app was opened on, or None.

    A custom parameter (``context.environment.parameters.<parameter>``, set by the
    Visualforce page or Lightning component that hosts the app) wins over the record of
    the page layout (``context.environment.record.Id``). Only an id of up to 100 letters,
    digits and ``_.:-`` is returned.
    """
    environment = _path(envelope, "context", "environment")
    for candidate in (
        _path(environment, "parameters", parameter),
        _path(environment, "record", "Id"),
    ):
        if isinstance(candidate, str) and _RECORD_ID.fullmatch(candidate.strip()):
            return candidate.strip()
    return None
