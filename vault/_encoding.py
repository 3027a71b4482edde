"""Strict base64url without padding, shared by the token formats of the vault."""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url ASCII."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; raise ``ValueError`` on anything else.

    The standard library's decoder silently skips characters outside the alphabet, which
    would let two different strings decode to the same bytes; a token part must have
    exactly one spelling.
    """
    stripped = text.rstrip("=")
    if not _ALPHABET.fullmatch(stripped) or len(stripped) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    # The decoder ignores the unused low bits of the last character, so "AB" and "AC"
    # are the same byte; insist on the canonical spelling.
    if b64encode(data) != stripped:
        raise ValueError("not canonical base64url")
    return data
