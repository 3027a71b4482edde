"""Signatures and event ids of crm-pay's outgoing webhooks.

The header is ``CrmPay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the MAC
is computed with the shared signing secret over ``f"{t}.{body}"`` (the exact bytes of
the request body). Receivers check it with :func:`verify_signature` or the stdlib-only
snippet in ``docs/crm/webhook.md``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["SIGNATURE_HEADER", "EVENT_ID_HEADER", "event_id", "sign", "verify_signature"]

SIGNATURE_HEADER: Final = "CrmPay-Signature"
EVENT_ID_HEADER: Final = "CrmPay-Event-Id"


def event_id(*parts: str) -> str:
    """A stable id for one logical event: ``"evt_"`` + 24 hex digits of the SHA-256 of
    ``parts`` joined by ``|``. The same parts always give the same id, so a redelivery is
    recognisable; a ``|`` inside a part is escaped so that parts cannot run together."""
    joined = "|".join(part.replace("\\", "\\\\").replace("|", "\\|") for part in parts)
    return "evt_" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``CrmPay-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    header: str, body: bytes | str, secret: str, *, now: float, tolerance: int = 300
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` at most ``tolerance`` seconds
    from ``now`` (either way). Several ``v1=`` values are accepted (secret rotation:
    any one matching is enough); anything malformed is simply ``False``."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body).encode("ascii")
    # Compare every candidate (no early exit) in constant time.
    matches = [hmac.compare_digest(expected, c.encode("utf-8")) for c in candidates]
    return any(matches)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
