"""Security keys (WebAuthn, via py_webauthn) as a second sign-in factor beside TOTP.

Why each choice:

- A key is an *extra* option: the rule "roles in ``CRM_PAY_MFA_REQUIRED_ROLES`` must
  use MFA" is still met by TOTP only (a key can be lost without a recovery code, the
  authenticator app comes with ten). A user with a key and TOTP picks either at sign-in.
- The challenge is made here but kept by the caller (signed, short-lived, single-use):
  the web layer signs it into a value the page sends back; this module only checks.
- py_webauthn refuses an assertion whose signature counter did not grow (when either
  count is non-zero): a cloned key. We refuse the sign-in and keep the stored count.
- Attestation "none": crm-pay does not restrict key makers; the key's public key and
  credential id are all we keep (no biometric or personal data).

No Flask here: the pages and JSON endpoints live in ``agent_ui.mfa_webauthn``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import webauthn
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers import bytes_to_base64url, options_to_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from crm_pay.domain.errors import NotFound, Unauthorized, ValidationError
from crm_pay.persistence.models import User, WebauthnCredential

from . import audit, mfa
from .context import Context

__all__ = [
    "RP_NAME",
    "KeyInfo",
    "new_challenge",
    "registration_options",
    "register",
    "keys",
    "has_keys",
    "remove",
    "authentication_options",
    "authenticate",
]

RP_NAME = "crm-pay"
_TIMEOUT_MS = 120_000
_DONE = ":done"  # same marker as crm_pay.services.mfa: a completed pending sign-in

KEY_REFUSED = (
    "The security key's answer could not be checked ({reason}). Nothing was changed; "
    "try again, or use a code from your authenticator app."
)
CLONED = (
    "This security key's counter went backwards, which is what a copied key does. "
    "The sign-in was refused; use your authenticator app and tell an administrator."
)
UNKNOWN_KEY = "That security key is not registered for this account. Use another key or a code."
USED = mfa.USED


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def _user(s: Session, user_id: int) -> User:
    row = s.get(User, user_id, with_for_update=True)
    if row is None:
        raise NotFound("That user does not exist.")
    return row


def _descriptors(s: Session, user_id: int) -> list[PublicKeyCredentialDescriptor]:
    rows = s.scalars(select(WebauthnCredential).where(WebauthnCredential.user_id == user_id))
    return [
        PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(r.credential_id)) for r in rows
    ]


def registration_options(ctx: Context, user_id: int, *, rp_id: str, challenge: bytes) -> str:
    """Options JSON for ``navigator.credentials.create`` (the user's keys excluded, so
    the same key is not registered twice)."""
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        options = webauthn.generate_registration_options(
            rp_id=rp_id,
            rp_name=RP_NAME,
            user_name=user.email,
            user_id=f"crm-pay-user:{user.id}".encode(),
            user_display_name=user.email,
            challenge=challenge,
            timeout=_TIMEOUT_MS,
            exclude_credentials=_descriptors(s, user_id),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.DISCOURAGED,
            ),
        )
    return str(options_to_json(options))


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())[:80]
    return cleaned or "Security key"


def register(
    ctx: Context,
    user_id: int,
    credential: dict[str, Any] | str,
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    name: str,
) -> KeyInfo:
    """Check the browser's answer to :func:`registration_options` and keep the key."""
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(KEY_REFUSED.format(reason=str(exc) or "malformed")) from exc
    cred_id = bytes_to_base64url(verified.credential_id)
    with ctx.db.transaction() as s:
        _user(s, user_id)
        taken = s.scalars(
            select(WebauthnCredential).where(WebauthnCredential.credential_id == cred_id)
        ).first()
        if taken is not None:
            raise ValidationError("This security key is already registered. Nothing was changed.")
        row = WebauthnCredential(
            user_id=user_id,
            credential_id=cred_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=_clean_name(name),
            created_at=ctx.now(),
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            ctx,
            actor=f"user:{user_id}",
            action="mfa.webauthn_added",
            subject=f"user:{user_id}",
            data={"key": row.id, "name": row.name},
        )
        return KeyInfo(row.id, row.name, row.created_at, None)


def keys(ctx: Context, user_id: int) -> list[KeyInfo]:
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(WebauthnCredential)
            .where(WebauthnCredential.user_id == user_id)
            .order_by(WebauthnCredential.id)
        )
        return [KeyInfo(r.id, r.name, r.created_at, r.last_used_at) for r in rows]


def has_keys(ctx: Context, user_id: int) -> bool:
    return bool(keys(ctx, user_id))


def remove(ctx: Context, user_id: int, key_id: int) -> str:
    """Remove one of the user's own keys; returns its name."""
    with ctx.db.transaction() as s:
        row = s.get(WebauthnCredential, key_id)
        if row is None or row.user_id != user_id:
            raise NotFound("That security key does not exist on your account. Nothing was changed.")
        name = row.name
        s.delete(row)
        audit.record(
            s,
            ctx,
            actor=f"user:{user_id}",
            action="mfa.webauthn_removed",
            subject=f"user:{user_id}",
            data={"key": key_id, "name": name},
        )
    return name


def authentication_options(ctx: Context, user_id: int, *, rp_id: str, challenge: bytes) -> str:
    """Options JSON for ``navigator.credentials.get`` allowing only the user's keys."""
    with ctx.db.transaction() as s:
        allowed = _descriptors(s, user_id)
    if not allowed:
        raise ValidationError("This account has no security key. Use a code instead.")
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    return str(options_to_json(options))


def authenticate(
    ctx: Context,
    user_id: int,
    credential: dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    nonce: str | None = None,
) -> KeyInfo:
    """Check an assertion by one of the user's keys; on success the counter is stored
    and the pending sign-in ``nonce`` is marked completed (works once)."""
    cred_id = str(credential.get("id") or "") if isinstance(credential, dict) else ""
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        if nonce is not None and user.mfa_nonce == nonce + _DONE:
            raise Unauthorized(USED)
        dead = user.mfa_nonce == nonce and (user.mfa_failures or 0) >= mfa.MAX_WRONG_CODES
        if nonce is not None and dead:
            raise Unauthorized(mfa.TOO_MANY)  # killed by wrong codes: password again
        row = s.scalars(
            select(WebauthnCredential).where(
                WebauthnCredential.credential_id == cred_id,
                WebauthnCredential.user_id == user_id,
            )
        ).first()
        if row is None:
            raise Unauthorized(UNKNOWN_KEY)
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count,
            )
        except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
            if "sign count" in str(exc).lower():
                raise Unauthorized(CLONED) from exc
            raise Unauthorized(KEY_REFUSED.format(reason=str(exc) or "malformed")) from exc
        row.sign_count = verified.new_sign_count
        row.last_used_at = ctx.now()
        if nonce is not None:
            user.mfa_nonce = nonce + _DONE
            user.mfa_failures = 0
        return KeyInfo(row.id, row.name, row.created_at, row.last_used_at)
