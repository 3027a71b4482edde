"""Second factor for console users: TOTP (authenticator app) and one-time recovery codes.

Why each choice:

- The TOTP seed is sealed with the vault key ring (context ``totp:<user id>``) and kept
  in ``users.totp_secret``: a copy of the database alone cannot mint codes.
- ``users.totp_last_step`` remembers the last accepted 30-second step, so a code seen
  over a shoulder (or replayed from a proxy log) is refused the second time.
- Recovery codes are shown once and stored as salted PBKDF2 hashes; each works once.
- Wrong codes are counted per pending sign-in (``mfa_nonce``): after
  :data:`MAX_WRONG_CODES` the pending sign-in is dead and the password must be typed
  again (which the login throttle and account lock-out limit).

No Flask here: the pages live in ``agent_ui.mfa``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, Unauthorized, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ConsoleSession, MfaRecoveryCode, User, WebauthnCredential
from vault import pan

from . import audit, console_sessions
from .context import Context

__all__ = [
    "MAX_WRONG_CODES",
    "RECOVERY_CODE_COUNT",
    "MfaStatus",
    "status",
    "start_enrolment",
    "pending_seed",
    "confirm_enrolment",
    "verify",
    "regenerate_recovery_codes",
    "reset",
    "provisioning_uri",
    "mark_session",
    "session_mfa_age",
    "labels",
    "complete_pending",
]

MAX_WRONG_CODES = 5
RECOVERY_CODE_COUNT = 10
_ISSUER = "crm-pay"
# Recovery codes carry 80 random bits (20 hex digits), far beyond any offline guessing
# of a leaked table, so one salted SHA-256 per code is enough; a slow password hash
# would only make every recovery sign-in (10 hashes) slow.
_RECOVERY_CODE_BYTES = 10
_DONE = ":done"

WRONG_CODE = "That code is not right. Nothing was changed; type the current 6-digit code."
TOO_MANY = "Too many wrong codes. This sign-in was cancelled; sign in again with your password."
USED = "This sign-in step was already completed. Sign in again."
REPLAYED = "That code was already used. Wait for your app to show the next code and type that one."


@dataclass(frozen=True)
class MfaStatus:
    enrolled: bool  # TOTP confirmed
    recovery_codes_left: int

    @property
    def label(self) -> str:
        return "TOTP" if self.enrolled else "none"


def _user(s: Session, user_id: int) -> User:
    row = s.get(User, user_id, with_for_update=True)
    if row is None:
        raise NotFound("That user does not exist.")
    return row


def _seal(ctx: Context, user_id: int, seed: str) -> str:
    return str(ctx.keyring.encrypt_text(seed, context=f"totp:{user_id}".encode()))


def _open(ctx: Context, user: User) -> str | None:
    if not user.totp_secret:
        return None
    return str(ctx.keyring.decrypt_text(user.totp_secret, context=f"totp:{user.id}".encode()))


def status(ctx: Context, user_id: int) -> MfaStatus:
    with ctx.db.transaction() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("That user does not exist.")
        left = s.scalar(
            select(func.count())
            .select_from(MfaRecoveryCode)
            .where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None))
        )
        return MfaStatus(user.totp_confirmed_at is not None, int(left or 0))


def provisioning_uri(seed: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(seed).provisioning_uri(name=email, issuer_name=_ISSUER)


def start_enrolment(ctx: Context, user_id: int) -> str:
    """A fresh seed for ``user_id`` (sealed in the vault, not yet active). Returns the
    seed in clear for the QR code; it counts only after :func:`confirm_enrolment`.
    Refused when the user already has a confirmed authenticator (reset it first)."""
    seed = pyotp.random_base32()
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        if user.totp_confirmed_at is not None:
            raise ValidationError(
                "An authenticator app is already set up for this account. Nothing was "
                "changed; ask an administrator to reset MFA to set up a new one."
            )
        user.totp_secret = _seal(ctx, user_id, seed)
        user.totp_last_step = None
    return seed


def pending_seed(ctx: Context, user_id: int) -> str | None:
    """The seed of an enrolment started but not confirmed (shown again after a wrong
    first code), or None."""
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        return None if user.totp_confirmed_at is not None else _open(ctx, user)


def _step(now: datetime) -> int:
    return int(now.timestamp()) // 30


def _matching_step(seed: str, code: str, now: datetime) -> int | None:
    """The time step (now ±1) whose code is ``code``, or None."""
    totp = pyotp.TOTP(seed)
    current = _step(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _clean(code: str) -> str:
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()


def _hash_code(code: str, salt: bytes) -> str:
    digest = hashlib.sha256(salt + code.encode()).digest()
    return f"{salt.hex()}${digest.hex()}"


def _check_code(code: str, stored: str) -> bool:
    salt_hex, _, digest_hex = stored.partition("$")
    return hmac.compare_digest(_hash_code(code, bytes.fromhex(salt_hex)), stored)


def _new_code() -> str:
    """A random recovery code that cannot look like a card number: about one code in
    a thousand has a Luhn-valid run of 13+ digits between its dashes, and crm-pay's
    last-line redaction of its own answers would blank it on the page that shows it."""
    while True:
        code = secrets.token_hex(_RECOVERY_CODE_BYTES)
        if not pan.find_pans(_formatted(code)):
            return code


def _formatted(code: str) -> str:
    return "-".join(code[i : i + 5] for i in range(0, len(code), 5))


def _new_codes(s: Session, ctx: Context, user_id: int) -> list[str]:
    s.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        s.add(
            MfaRecoveryCode(
                user_id=user_id,
                code_hash=_hash_code(code, secrets.token_bytes(16)),
                created_at=ctx.now(),
            )
        )
    return [_formatted(c) for c in codes]


def _count_attempt(user: User, nonce: str | None) -> None:
    """Refuse a dead or completed pending sign-in; start counting for a new one."""
    if nonce is None:
        return
    if user.mfa_nonce == nonce + _DONE:
        raise Unauthorized(USED)
    if user.mfa_nonce != nonce:
        user.mfa_nonce = nonce
        user.mfa_failures = 0
    if (user.mfa_failures or 0) >= MAX_WRONG_CODES:
        raise Unauthorized(TOO_MANY)


def _wrong(user: User, nonce: str | None) -> str:
    if nonce is None:
        return WRONG_CODE
    user.mfa_failures = (user.mfa_failures or 0) + 1
    if user.mfa_failures >= MAX_WRONG_CODES:
        return TOO_MANY
    left = MAX_WRONG_CODES - user.mfa_failures
    return f"{WRONG_CODE} ({left} tries left)"


def confirm_enrolment(
    ctx: Context, user_id: int, code: str, *, nonce: str | None = None
) -> list[str]:
    """Activate the pending seed with a first code from the app; returns the recovery
    codes in clear (shown once). A wrong code changes nothing (and counts, when the
    enrolment is part of a pending sign-in ``nonce``)."""
    failure: str | None = None
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        _count_attempt(user, nonce)
        seed = _open(ctx, user)
        if seed is None or user.totp_confirmed_at is not None:
            raise ValidationError("There is no authenticator set-up in progress. Start again.")
        step = _matching_step(seed, _clean(code), ctx.now())
        if step is None:
            failure = _wrong(user, nonce)
        else:
            user.totp_confirmed_at = ctx.now()
            user.totp_last_step = step
            codes = _new_codes(s, ctx, user_id)
            audit.record(
                s,
                ctx,
                actor=f"user:{user_id}",
                action="mfa.enrolled",
                subject=f"user:{user_id}",
                data={"method": "totp"},
            )
    if failure is not None:  # raised after commit so the count is kept
        raise Unauthorized(failure)
    return codes


def verify(
    ctx: Context, user_id: int, code: str, *, nonce: str | None = None, single_use: bool = True
) -> str:
    """Check a TOTP code or a recovery code; returns ``"totp"`` or ``"recovery"``.

    A TOTP code of a step already used is refused (replay); a recovery code works
    once. ``nonce`` ties the wrong-code count to one pending sign-in and marks it
    completed on success, so the same pending token cannot start a second session."""
    failure: str | None = None
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        _count_attempt(user, nonce)
        seed = _open(ctx, user) if user.totp_confirmed_at is not None else None
        if seed is None:
            raise ValidationError("This account has no authenticator set up.")
        cleaned = _clean(code)
        method: str | None = None
        if cleaned.isdigit() and len(cleaned) == 6:
            step = _matching_step(seed, cleaned, ctx.now())
            if step is not None and user.totp_last_step is not None and step <= user.totp_last_step:
                failure = REPLAYED
            elif step is not None:
                user.totp_last_step = step
                method = "totp"
        elif len(cleaned) == 2 * _RECOVERY_CODE_BYTES:
            for row in s.scalars(
                select(MfaRecoveryCode).where(
                    MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None)
                )
            ):
                if _check_code(cleaned, row.code_hash):
                    row.used_at = ctx.now()
                    method = "recovery"
                    audit.record(
                        s,
                        ctx,
                        actor=f"user:{user_id}",
                        action="mfa.recovery_code_used",
                        subject=f"user:{user_id}",
                        data={},
                    )
                    break
        if method is None and failure is None:
            failure = _wrong(user, nonce)
        elif method is not None and nonce is not None:
            # single_use: a pending sign-in completes once; a session's step-up nonce
            # is reused, its count starts again.
            user.mfa_nonce = nonce + _DONE if single_use else nonce
            user.mfa_failures = 0
    if failure is not None:
        raise Unauthorized(failure)
    assert method is not None
    return method


def regenerate_recovery_codes(ctx: Context, user_id: int) -> list[str]:
    """Ten new codes; the old ones stop working. For an enrolled user only."""
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        if user.totp_confirmed_at is None:
            raise ValidationError("Set up an authenticator app first; no codes were made.")
        codes = _new_codes(s, ctx, user_id)
        audit.record(
            s,
            ctx,
            actor=f"user:{user_id}",
            action="mfa.recovery_codes_regenerated",
            subject=f"user:{user_id}",
            data={},
        )
    return codes


def reset(ctx: Context, user: int | str, *, actor: str) -> dict[str, object]:
    """Remove the user's authenticator and recovery codes (a lost phone) and end their
    sessions; at the next sign-in a user whose role requires MFA enrols again."""
    with ctx.db.transaction() as s:
        if isinstance(user, str):
            row = s.scalars(select(User).where(User.email == user.strip().lower())).first()
            if row is None:
                raise NotFound(f"No user with email {user.strip()!r}. Nothing was changed.")
        else:
            row = _user(s, user)
        had = row.totp_confirmed_at is not None
        row.totp_secret = None
        row.totp_confirmed_at = None
        row.totp_last_step = None
        row.mfa_nonce = None
        row.mfa_failures = 0
        s.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == row.id))
        s.execute(delete(WebauthnCredential).where(WebauthnCredential.user_id == row.id))
        audit.record(
            s,
            ctx,
            actor=actor,
            action="mfa.reset",
            subject=f"user:{row.id}",
            data={"had_totp": had},
        )
        user_id, email = row.id, row.email
    sessions = console_sessions.revoke_all_for_user(ctx, user_id, reason="revoked", actor=actor)
    return {"id": user_id, "email": email, "had_totp": had, "sessions_ended": sessions}


def mark_session(ctx: Context, session_id: str) -> None:
    """Record that a second factor was typed in this console session (now)."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(ConsoleSession).where(
                ConsoleSession.session_hash == console_sessions.session_key(ctx, session_id)
            )
        ).first()
        if row is not None:
            row.mfa_at = ctx.now()


def session_mfa_age(ctx: Context, session_id: str) -> float | None:
    """Seconds since the last second factor of this session, or None (never)."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(ConsoleSession).where(
                ConsoleSession.session_hash == console_sessions.session_key(ctx, session_id)
            )
        ).first()
        stamp = as_utc(row.mfa_at) if row is not None and row.mfa_at else None
    if stamp is None:
        return None
    return (ctx.now() - stamp).total_seconds()


def labels(ctx: Context) -> dict[int, str]:
    """MFA of every enrolled user for the admin's user list ("TOTP"); others: "none"."""
    with ctx.db.transaction() as s:
        rows = s.scalars(select(User.id).where(User.totp_confirmed_at.is_not(None)))
        return {int(uid): "TOTP" for uid in rows}


def complete_pending(ctx: Context, user_id: int, nonce: str) -> None:
    """Mark the pending sign-in ``nonce`` used (the "I saved my codes" step); a second
    use is refused, so a copied form cannot start another session."""
    with ctx.db.transaction() as s:
        user = _user(s, user_id)
        if user.mfa_nonce == nonce + _DONE:
            raise Unauthorized(USED)
        user.mfa_nonce = nonce + _DONE
        user.mfa_failures = 0
