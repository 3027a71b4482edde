"""Errors raised by the vault.

The vault may not import ``crm_pay`` (the import contract keeps it a leaf package), so it
has its own small hierarchy. ``VaultError`` derives from ``ValueError`` because every
failure here is "this input cannot be used": a bad key spec, an altered token, an expired
link. Each error carries a stable, machine-readable ``code`` like ``crm_pay``'s errors, so
the wiring code can translate it without parsing messages.

Messages name key ids, token parts and reasons. They never contain plaintext, key material
or card numbers.
"""

from __future__ import annotations

__all__ = ["VaultError", "TokenInvalid", "TokenExpired"]


class VaultError(ValueError):
    """Base class of every vault error; ``code`` is stable and machine-readable."""

    code = "vault_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class TokenInvalid(VaultError):
    """A signed token is malformed, altered, or signed with another key."""

    code = "token_invalid"


class TokenExpired(VaultError):
    """A signed token was genuine but its lifetime is over."""

    code = "token_expired"
