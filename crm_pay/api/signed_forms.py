"""A telephony provider's signed form (status callbacks, TaskRouter events), read the way
its adapter verifies the signature. Entry-point helper: no rule here, the adapter checks.
"""

from __future__ import annotations

from flask import request

from crm_pay.ports import KeypadCallback

__all__ = ["signed_callback"]


def signed_callback(url: str, *, max_bytes: int) -> KeypadCallback | None:
    """The provider's signed form as its adapter verifies it: over ``url``, the exact
    public URL the provider was given (and signed), not the one a proxy forwarded, plus
    the query; None when the body is larger than ``max_bytes`` (then nothing is read)."""
    if (request.content_length or 0) > max_bytes:
        return None
    request.max_content_length = max_bytes  # bounds a chunked body too
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return KeypadCallback(
        url=url,
        form=request.form.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
    )
