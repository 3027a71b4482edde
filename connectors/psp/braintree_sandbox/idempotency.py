"""``api_request_key``: Braintree's idempotency key on money-moving calls.

braintree_python tests/integration/test_transaction_idempotency.py:
* the same key with the same request answers the first result (sale, submit for
  settlement, void, refund: ``..._returns_original_..._on_duplicate_request``);
* the same key with a different request is refused with 915232
  (``Transaction.ApiRequestKeyCanBeReusedOnlyWithTheSameRequest``,
  ``test_sale_with_api_request_key_fails_when_different_request_used_with_same_key``);
* a key of 255 characters is accepted, 256 is refused with 915230
  (``Transaction.ApiRequestKeyTooLong``, ``..._fails_when_api_request_key_is_too_big``).
The error messages are ours (the SDK's tests check only codes). "The same request" is
the same operation on the same path with the same parameters, the key left aside.
Answers that created or changed something (HTTP 2xx, or a decline carrying a
transaction) are remembered; validation errors are not, so a corrected retry can pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from .records import fail
from .state import SandboxState

__all__ = ["MAX_KEY_LENGTH", "Answer", "answer_once"]

MAX_KEY_LENGTH = 255

#: ``(http_status, xml_body)`` as the gateway sends it.
Answer = tuple[int, bytes]


def _fingerprint(operation: str, params: dict[str, Any]) -> str:
    significant = {k: v for k, v in params.items() if k != "api_request_key"}
    text = json.dumps([operation, significant], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def answer_once(
    state: SandboxState, operation: str, params: dict[str, Any], run: Callable[[], Answer]
) -> Answer:
    """Run ``run`` once per ``api_request_key``; replay its answer for the same request."""
    key = params.get("api_request_key")
    if not key:
        return run()
    key = str(key)
    if len(key) > MAX_KEY_LENGTH:
        raise fail("915230", "api_request_key", "API request key is too long.")
    fingerprint = _fingerprint(operation, params)
    with state.lock:
        first = state.idempotent_responses.get(key)
        if first is not None and "fingerprint" in first:
            if first["fingerprint"] != fingerprint:
                raise fail(
                    "915232",
                    "api_request_key",
                    "API request key can be reused only with the same request.",
                )
            return int(first["status"]), str(first["body"]).encode()
        status, body = run()
        if 200 <= status < 300 or b"<transaction>" in body:
            state.idempotent_responses[key] = {
                "fingerprint": fingerprint,
                "status": status,
                "body": body.decode(),
            }
            state.save()
        return status, body
