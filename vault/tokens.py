"""Random secrets, their stored hashes, and short-lived signed tokens.

Pay-link tokens and API keys are handed out once (:func:`new_token`) and stored only as
a keyed hash (:func:`hash_token`): a leaked database does not yield usable links or
keys, and the pepper lives outside the database.

Signed tokens (:func:`sign` / :func:`verify`) carry a small JSON payload plus an expiry,
authenticated with HMAC-SHA256; they are for links that must work without a database
row, such as receipt downloads. They are signed, not encrypted: anyone holding one can
read its payload, so it must never carry card data or secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vault._encoding import b64decode, b64encode
from vault.errors import TokenExpired, TokenInvalid, VaultError

__all__ = ["new_token", "hash_token", "tokens_equal", "sign", "verify"]

_MIN_TOKEN_BYTES = 16
_MIN_KEY_BYTES = 16
# Domain separation: a MAC made for signed tokens never equals hash_token() of the same
# text under the same key.
_SIGN_PREFIX = b"crm-pay/signed-token/v1\x00"


def new_token(nbytes: int = 32) -> str:
    """Return a URL-safe random token of ``nbytes`` random bytes (at least 16)."""
    if nbytes < _MIN_TOKEN_BYTES:
        raise ValueError(f"tokens need at least {_MIN_TOKEN_BYTES} random bytes, got {nbytes}")
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str, *, pepper: bytes) -> str:
    """Return the HMAC-SHA256 (hex) of ``token`` under ``pepper``, for storage and lookup.

    The hash is deterministic, so the stored value can be indexed and looked up by the
    hash of the token a client presents.
    """
    _check_key(pepper, "pepper")
    return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Compare two tokens or hashes in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def sign(
    payload: Mapping[str, Any],
    *,
    key: bytes,
    expires_in: int,
    now: datetime | None = None,
) -> str:
    """Return a token carrying ``payload`` that :func:`verify` accepts for ``expires_in`` s.

    ``payload`` must be JSON-serialisable. ``now`` (timezone-aware) is for tests and
    defaults to the current time.
    """
    _check_key(key, "signing key")
    if expires_in <= 0:
        raise ValueError(f"expires_in must be a positive number of seconds, got {expires_in}")
    expires_at = math.floor(_timestamp(now)) + expires_in
    body = json.dumps(
        {"exp": expires_at, "payload": dict(payload)},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    ).encode("utf-8")
    encoded_body = b64encode(body)
    return f"{encoded_body}.{b64encode(_mac(key, encoded_body))}"


def verify(token: str, *, key: bytes, now: datetime | None = None) -> dict[str, Any]:
    """Return the payload of a token made by :func:`sign` with the same ``key``.

    Raises :class:`TokenInvalid` if the token is malformed, altered or signed with
    another key, and :class:`TokenExpired` if it is genuine but past its expiry. The
    signature is checked before anything in the token is parsed or trusted.
    """
    _check_key(key, "signing key")
    encoded_body, sep, encoded_mac = token.partition(".")
    if not sep:
        raise TokenInvalid("signed token is malformed")
    try:
        presented_mac = b64decode(encoded_mac)
    except ValueError:
        raise TokenInvalid("signed token is malformed") from None
    if not hmac.compare_digest(presented_mac, _mac(key, encoded_body)):
        raise TokenInvalid("signed token signature does not match: altered or another key")
    try:
        body = json.loads(b64decode(encoded_body))
    except ValueError:
        raise TokenInvalid("signed token is malformed") from None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("exp"), int)
        or not isinstance(body.get("payload"), dict)
    ):
        raise TokenInvalid("signed token is malformed")
    expires_at: int = body["exp"]
    if _timestamp(now) >= expires_at:
        when = datetime.fromtimestamp(expires_at, UTC).isoformat()
        raise TokenExpired(f"signed token expired at {when}")
    payload: dict[str, Any] = body["payload"]
    return payload


def _mac(key: bytes, encoded_body: str) -> bytes:
    return hmac.new(key, _SIGN_PREFIX + encoded_body.encode("utf-8"), hashlib.sha256).digest()


def _timestamp(now: datetime | None) -> float:
    if now is None:
        return datetime.now(UTC).timestamp()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.timestamp()


def _check_key(key: bytes, what: str) -> None:
    if len(key) < _MIN_KEY_BYTES:
        raise VaultError(
            f"the {what} is {len(key)} bytes; use at least {_MIN_KEY_BYTES} random bytes",
            code="vault_config",
        )
