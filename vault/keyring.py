"""Key ring and envelope encryption for secrets at rest.

Secrets (PSP keys, CRM OAuth secrets and refresh tokens, TOTP seeds) are sealed as one
self-describing ASCII token::

    v1.<kid>.<wrapped data key>.<nonce + ciphertext>

Each secret gets its own random 256-bit data key (DEK). The data is sealed with the DEK
(AES-256-GCM); the DEK is sealed ("wrapped") with the key-encryption key (KEK) named by
``kid``. Rotation therefore never needs downtime:

1. Put a new key first in ``CRM_PAY_VAULT_KEYS`` and keep the old ones after it. New
   secrets are sealed under the new key, old tokens still open.
2. Run :meth:`KeyRing.rewrap` over the stored tokens (:meth:`KeyRing.needs_rotation`
   says which). Only the 60-byte wrapped DEK changes; the sealed data is copied as is.
3. Drop the old key from the configuration.

A ``context`` (for example ``b"secret:psp.private_key"``) is authenticated with both
layers, so a token copied into another row fails to open instead of silently yielding
that row's neighbour's secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault._encoding import b64decode, b64encode
from vault.errors import VaultError

__all__ = ["KeyRing", "KEYS_SETTING"]

#: The configuration key the ring is usually read from; used in error messages.
KEYS_SETTING = "CRM_PAY_VAULT_KEYS"

_VERSION = "v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_BYTES = _NONCE_BYTES + _KEY_BYTES + _TAG_BYTES
# Key ids appear in tokens and configuration, so they may not contain the separators
# of either ("." in tokens, ":" and "," in the spec).
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Domain separation: the two AES-GCM layers never share associated data, so a wrapped
# key can never be replayed as a data ciphertext or the other way round.
_WRAP_AAD = b"crm-pay/vault/v1/wrap\x00"
_DATA_AAD = b"crm-pay/vault/v1/data\x00"


class KeyRing:
    """An ordered set of 256-bit key-encryption keys; the first one is active.

    The active key seals new secrets; every key in the ring opens tokens sealed under it.
    Instances are immutable: :meth:`with_new_active` returns a new ring.
    """

    __slots__ = ("_aead", "_raw", "_active_kid", "_source")

    def __init__(self, keys: Iterable[tuple[str, bytes]], *, source: str = KEYS_SETTING) -> None:
        """Build a ring from ``(kid, key)`` pairs, active key first.

        Raises :class:`VaultError` if the ring is empty, a kid is not 1–64 characters of
        ``[A-Za-z0-9_-]``, a kid repeats, or a key is not exactly 32 bytes.
        """
        self._source = source
        ordered: dict[str, bytes] = {}
        for kid, key in keys:
            if not _KID.fullmatch(kid):
                raise VaultError(
                    f"{source} key id {kid!r} is invalid: use 1-64 characters of "
                    "letters, digits, '_' or '-'",
                    code="vault_config",
                )
            if kid in ordered:
                raise VaultError(
                    f"{source} lists key id {kid!r} twice; every key needs its own id",
                    code="vault_config",
                )
            if len(key) != _KEY_BYTES:
                raise VaultError(
                    f"{source} key {kid!r} is {len(key)} bytes; keys must be exactly "
                    f"{_KEY_BYTES} bytes (create one with `KeyRing.generate_key()`)",
                    code="vault_config",
                )
            ordered[kid] = bytes(key)
        if not ordered:
            raise VaultError(
                f"{source} holds no keys; set it to 'kid:base64urlkey' "
                "(create a key with `KeyRing.generate_key()`)",
                code="vault_config",
            )
        self._raw = ordered
        self._aead = {kid: AESGCM(key) for kid, key in ordered.items()}
        self._active_kid = next(iter(ordered))

    @classmethod
    def from_config(cls, spec: str, *, source: str = KEYS_SETTING) -> KeyRing:
        """Parse ``"kid1:key1,kid2:key2"``: base64url 32-byte keys, the first one active.

        Whitespace around entries and empty entries (a trailing comma) are ignored.
        ``source`` names the setting in error messages.
        """
        pairs: list[tuple[str, bytes]] = []
        for position, raw_entry in enumerate(spec.split(","), start=1):
            entry = raw_entry.strip()
            if not entry:
                continue
            kid, sep, encoded = entry.partition(":")
            kid, encoded = kid.strip(), encoded.strip()
            if not sep or not kid or not encoded:
                # The entry may well be a bare key: name its position, never its value.
                raise VaultError(
                    f"{source} entry #{position} is not kid:base64key",
                    code="vault_config",
                )
            try:
                key = b64decode(encoded)
            except ValueError:
                raise VaultError(
                    f"{source} entry {kid!r} is not kid:base64key (the key is not valid base64url)",
                    code="vault_config",
                ) from None
            pairs.append((kid, key))
        return cls(pairs, source=source)

    @staticmethod
    def generate_key() -> str:
        """Return a new random 32-byte key, base64url-encoded, for ``kid:key`` specs."""
        return b64encode(os.urandom(_KEY_BYTES))

    @property
    def active_kid(self) -> str:
        """The id of the key that seals new secrets."""
        return self._active_kid

    @property
    def kids(self) -> tuple[str, ...]:
        """All key ids, active first."""
        return tuple(self._raw)

    def with_new_active(self, kid: str, key: str | bytes) -> KeyRing:
        """Return a ring with ``kid`` in front, keeping every current key for decryption.

        ``key`` is raw bytes or the base64url text :meth:`generate_key` returns. Passing
        a kid already in the ring with the same key makes that key active again.
        """
        if isinstance(key, str):
            try:
                key = b64decode(key.strip())
            except ValueError:
                raise VaultError(
                    f"new key {kid!r} is not valid base64url", code="vault_config"
                ) from None
        current = self._raw.get(kid)
        if current is not None and current != key:
            raise VaultError(
                f"key id {kid!r} is already in the key ring with a different key; pick a new id",
                code="vault_config",
            )
        # Re-promoting a key that is already in the ring just moves it to the front.
        others = [(k, v) for k, v in self._raw.items() if k != kid]
        return KeyRing([(kid, key), *others], source=self._source)

    def without(self, kid: str) -> KeyRing:
        """Return a ring without ``kid`` (retire a key after every token was rewrapped)."""
        if kid not in self._raw:
            raise VaultError(f"key {kid!r} is not in the key ring", code="vault_unknown_key")
        if kid == self._active_kid:
            raise VaultError(
                f"key {kid!r} is the active key; make another key active before retiring it",
                code="vault_config",
            )
        return KeyRing([(k, v) for k, v in self._raw.items() if k != kid], source=self._source)

    def to_config(self) -> str:
        """Render the ring as a ``kid:base64urlkey,...`` spec (this contains the keys)."""
        return ",".join(f"{kid}:{b64encode(key)}" for kid, key in self._raw.items())

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active_kid!r}, kids={list(self._raw)!r})"

    def __contains__(self, kid: object) -> bool:
        return kid in self._raw

    # -- sealing -----------------------------------------------------------------

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> str:
        """Seal ``plaintext`` under the active key; ``context`` must match on decrypt."""
        dek = AESGCM.generate_key(bit_length=_KEY_BYTES * 8)
        data_nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(dek).encrypt(data_nonce, plaintext, _DATA_AAD + context)
        wrapped = self._wrap(self._active_kid, dek, context)
        return ".".join(
            (_VERSION, self._active_kid, b64encode(wrapped), b64encode(data_nonce + sealed))
        )

    def decrypt(self, token: str, *, context: bytes = b"") -> bytes:
        """Open a token sealed by :meth:`encrypt` with any key of the ring.

        Raises :class:`VaultError` when the token is malformed, its key id is not in the
        ring, or it fails authentication (altered, or sealed with another ``context``).
        """
        kid, wrapped, sealed = _parse(token)
        dek = self._unwrap(kid, wrapped, context)
        try:
            return AESGCM(dek).decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _DATA_AAD + context
            )
        except InvalidTag:
            raise VaultError(
                f"vault token under key {kid!r} failed authentication: its data was "
                "altered or it belongs to another record",
                code="vault_token_tampered",
            ) from None

    def encrypt_text(self, plaintext: str, *, context: bytes = b"") -> str:
        """:meth:`encrypt` for text (UTF-8)."""
        return self.encrypt(plaintext.encode("utf-8"), context=context)

    def decrypt_text(self, token: str, *, context: bytes = b"") -> str:
        """:meth:`decrypt` for text sealed with :meth:`encrypt_text`."""
        data = self.decrypt(token, context=context)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise VaultError(
                "vault token holds binary data, not UTF-8 text; use decrypt()",
                code="vault_not_text",
            ) from None

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` is sealed under a key other than the active one."""
        kid, _, _ = _parse(token)
        return kid != self._active_kid

    def rewrap(self, token: str, *, context: bytes = b"") -> str:
        """Move ``token`` to the active key without re-encrypting its data.

        Only the wrapped data key is opened and sealed again, so the plaintext is never
        materialised; an altered data part still fails at :meth:`decrypt`. A token that
        is already under the active key is returned unchanged.
        """
        kid, wrapped, sealed = _parse(token)
        if kid == self._active_kid:
            return token
        dek = self._unwrap(kid, wrapped, context)
        rewrapped = self._wrap(self._active_kid, dek, context)
        return ".".join((_VERSION, self._active_kid, b64encode(rewrapped), b64encode(sealed)))

    # -- key wrapping ------------------------------------------------------------

    def _wrap(self, kid: str, dek: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead[kid].encrypt(nonce, dek, _wrap_aad(kid, context))

    def _unwrap(self, kid: str, wrapped: bytes, context: bytes) -> bytes:
        kek = self._aead.get(kid)
        if kek is None:
            raise VaultError(
                f"vault token was sealed under key {kid!r}, which is not in the key ring "
                f"({self._source} has {', '.join(map(repr, self._raw))}); put the old key "
                "back after the active one until every token is rewrapped",
                code="vault_unknown_key",
            )
        try:
            return kek.decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _wrap_aad(kid, context)
            )
        except InvalidTag:
            raise VaultError(
                f"vault token could not be opened with key {kid!r}: it was altered, it "
                f"belongs to another record, or {kid!r} is not the key that sealed it",
                code="vault_token_tampered",
            ) from None


def _wrap_aad(kid: str, context: bytes) -> bytes:
    # kid cannot contain NUL (see _KID), so kid and context cannot be shifted into
    # each other.
    return _WRAP_AAD + kid.encode("ascii") + b"\x00" + context


def _parse(token: str) -> tuple[str, bytes, bytes]:
    """Split a token into (kid, wrapped DEK, nonce + sealed data) or raise VaultError."""
    malformed = VaultError(
        "vault token is malformed: expected 'v1.<kid>.<wrapped key>.<data>'",
        code="vault_token_malformed",
    )
    if not isinstance(token, str):
        raise malformed
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not _KID.fullmatch(parts[1]):
        raise malformed
    try:
        wrapped = b64decode(parts[2])
        sealed = b64decode(parts[3])
    except ValueError:
        raise malformed from None
    if len(wrapped) != _WRAPPED_BYTES or len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise malformed
    return parts[1], wrapped, sealed
