"""Cryptography for crm-pay: secrets at rest, card-number redaction, tokens, audit chain.

This package depends on ``cryptography`` and the standard library only, so it can be
reviewed (and reused) on its own.
"""

from __future__ import annotations

from vault.audit import (
    GENESIS_HASH,
    AuditRecord,
    AuditValue,
    ChainReport,
    chain_hash,
    next_record,
    verify_chain,
)
from vault.errors import TokenExpired, TokenInvalid, VaultError
from vault.keyring import KEYS_SETTING, KeyRing
from vault.pan import (
    REDACTED_PAN,
    PanMatch,
    PanRedactingFilter,
    contains_pan,
    find_pans,
    install_pan_filter,
    redact,
    redact_obj,
)
from vault.tokens import hash_token, new_token, sign, tokens_equal, verify

__all__ = [
    "GENESIS_HASH",
    "KEYS_SETTING",
    "REDACTED_PAN",
    "AuditRecord",
    "AuditValue",
    "ChainReport",
    "KeyRing",
    "PanMatch",
    "PanRedactingFilter",
    "TokenExpired",
    "TokenInvalid",
    "VaultError",
    "chain_hash",
    "contains_pan",
    "find_pans",
    "hash_token",
    "install_pan_filter",
    "new_token",
    "next_record",
    "redact",
    "redact_obj",
    "sign",
    "tokens_equal",
    "verify",
    "verify_chain",
]
