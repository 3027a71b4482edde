"""Secrets at rest (PSP keys, CRM credentials) encrypted with the vault key ring."""

from __future__ import annotations

from sqlalchemy import select

from crm_pay.persistence.models import PayLink, User, VaultSecret

from . import audit
from .context import Context

__all__ = ["put_secret", "get_secret", "rotate_secrets"]


def _context(name: str) -> bytes:
    return f"secret:{name}".encode()


def put_secret(ctx: Context, name: str, value: str, *, actor: str = "system") -> None:
    token = ctx.keyring.encrypt_text(value, context=_context(name))
    with ctx.db.transaction() as s:
        row = s.get(VaultSecret, name)
        if row is None:
            s.add(VaultSecret(name=name, ciphertext=token, updated_at=ctx.now()))
        else:
            row.ciphertext = token
            row.updated_at = ctx.now()
        audit.record(s, ctx, actor=actor, action="secret.stored", subject=f"secret:{name}", data={})


def get_secret(ctx: Context, name: str) -> str | None:
    with ctx.db.transaction() as s:
        row = s.get(VaultSecret, name)
        token = row.ciphertext if row else None
    if token is None:
        return None
    return str(ctx.keyring.decrypt_text(token, context=_context(name)))


def rotate_secrets(ctx: Context, *, actor: str = "cli") -> tuple[int, int]:
    """Re-wrap every secret under the active key. Old keys keep decrypting until this has
    run everywhere, so rotation needs no downtime. Returns (rewrapped, total)."""
    done = 0
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(VaultSecret).with_for_update()))
        for row in rows:
            if ctx.keyring.needs_rotation(row.ciphertext):
                row.ciphertext = ctx.keyring.rewrap(row.ciphertext, context=_context(row.name))
                row.updated_at = ctx.now()
                done += 1
        total = len(rows)
        # Pay-link tokens kept for resends and idempotent replays are vault ciphertexts too.
        for link in s.scalars(select(PayLink).with_for_update()):
            total += 1
            if ctx.keyring.needs_rotation(link.sealed_token):
                context = f"paylink:{link.payment_id}".encode()
                link.sealed_token = ctx.keyring.rewrap(link.sealed_token, context=context)
                done += 1
        # TOTP seeds of console MFA (crm_pay.services.mfa) are sealed the same way.
        for user in s.scalars(select(User).where(User.totp_secret.is_not(None)).with_for_update()):
            total += 1
            if ctx.keyring.needs_rotation(user.totp_secret):
                context = f"totp:{user.id}".encode()
                user.totp_secret = ctx.keyring.rewrap(user.totp_secret, context=context)
                done += 1
        audit.record(
            s,
            ctx,
            actor=actor,
            action="vault.rotated",
            subject="vault",
            data={"rewrapped": done, "total": total},
        )
    return done, total
