"""API keys and users: created here, stored hashed, role-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from crm_pay.domain.errors import Conflict, Forbidden, Unauthorized, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ApiKey, User
from vault import tokens

from . import audit
from .context import Context

__all__ = [
    "ROLES",
    "Principal",
    "create_api_key",
    "authenticate_api_key",
    "create_user",
    "authenticate_user",
    "user_session",
    "require_role",
    "has_role",
    "may_view_payment",
    "may_view_receipt",
    "LOGIN_FAILED",
]

# Each role includes the ones before it.
ROLES = ("agent", "supervisor", "admin")
_KEY_PREFIX = "cpk_"


@dataclass(frozen=True)
class Principal:
    kind: str  # "api_key" | "user"
    id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}:{self.name}"


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}")
    return role


def has_role(principal: Principal, role: str) -> bool:
    """True if ``principal``'s role is ``role`` or one above it."""
    return ROLES.index(principal.role) >= ROLES.index(role)


def require_role(principal: Principal, role: str) -> None:
    if not has_role(principal, role):
        raise Forbidden(f"this needs the {role} role; yours is {principal.role}")


def may_view_payment(principal: Principal, created_by: str) -> bool:
    """A payment (its page, live status, links) is its creator's, or any supervisor's.

    ``created_by`` is the creator's ``Principal.actor``; identity is kind and id (the
    name part may change when a user's email does)."""
    if has_role(principal, "supervisor"):
        return True
    return created_by.startswith(f"{principal.kind}:{principal.id}:")


def may_view_receipt(principal: Principal, payment_created_by: str) -> bool:
    """A receipt (payment or refund receipt) is seen by whoever may see its payment:
    the payment's creator (user or API key) or any supervisor or admin.

    Receipt numbers are sequential, so an agent who could open any number could read
    every customer's receipts; the customer has their own copy (email, portal)."""
    return may_view_payment(principal, payment_created_by)


def create_api_key(ctx: Context, *, name: str, role: str) -> str:
    """Create a key and return it; only its hash is stored, so this is the one chance
    to copy it."""
    _check_role(role)
    if not name or len(name) > 100:
        raise ValidationError("name must be 1 to 100 characters")
    secret = _KEY_PREFIX + tokens.new_token(32)
    with ctx.db.transaction() as s:
        row = ApiKey(
            name=name,
            role=role,
            prefix=secret[:12],
            key_hash=tokens.hash_token(secret, pepper=ctx.settings.token_pepper),
            created_at=ctx.now(),
        )
        s.add(row)
        s.flush()
        audit.record(
            s,
            ctx,
            actor="cli",
            action="api_key.created",
            subject=f"api_key:{row.id}",
            data={"name": name, "role": role},
        )
    return secret


def authenticate_api_key(ctx: Context, secret: str) -> Principal:
    if not secret or not secret.startswith(_KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("send a valid API key as 'Authorization: Bearer <key>'")
    digest = tokens.hash_token(secret, pepper=ctx.settings.token_pepper)
    with ctx.db.transaction() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("this API key is not valid or was revoked")
        row.last_used_at = ctx.now()
        return Principal("api_key", row.id, row.name, row.role)


def create_user(ctx: Context, *, email: str, role: str, password: str) -> int:
    _check_role(role)
    email = email.strip().lower()
    if "@" not in email:
        raise ValidationError(f"{email!r} is not an email address")
    if len(password) < 12:
        raise ValidationError("passwords must be at least 12 characters")
    with ctx.db.transaction() as s:
        if s.scalars(select(User.id).where(User.email == email)).first() is not None:
            raise Conflict(f"a user {email} already exists")
        user = User(
            email=email,
            role=role,
            password_hash=generate_password_hash(password),
            active=True,
            created_at=ctx.now(),
        )
        s.add(user)
        s.flush()
        audit.record(
            s,
            ctx,
            actor="cli",
            action="user.created",
            subject=f"user:{user.id}",
            data={"email": email, "role": role},
        )
        return user.id


# One message for every failed sign-in, so it never tells whether an account exists or
# is locked.
LOGIN_FAILED = (
    "Email or password is wrong, or sign-in is paused after too many attempts. "
    "Check them and try again in a few minutes, or ask a supervisor."
)
# Hash checked for unknown emails so a miss takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("crm-pay: no such user")


def authenticate_user(
    ctx: Context,
    email: str,
    password: str,
    *,
    max_failures: int = 5,
    lock_seconds: int = 15 * 60,
) -> Principal:
    """Check a user's password; after ``max_failures`` consecutive failures the account
    is locked for ``lock_seconds`` (a correct password does not open it early).

    Success resets the failure count and moves ``last_login_at`` forward: the console
    uses that value as the session generation (see :func:`user_session`), so signing in
    again makes every older session cookie of the user useless."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        user = s.scalars(
            select(User).where(User.email == email.strip().lower()).with_for_update()
        ).first()
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            raise Unauthorized(LOGIN_FAILED)
        locked = user.locked_until is not None and as_utc(user.locked_until) > now  # type: ignore[operator]
        ok = check_password_hash(user.password_hash, password)
        if locked or not user.active or not ok:
            if not locked and user.active:
                user.failed_logins = (user.failed_logins or 0) + 1
                if user.failed_logins >= max_failures:
                    user.locked_until = now + timedelta(seconds=lock_seconds)
                    user.failed_logins = 0
                    audit.record(
                        s,
                        ctx,
                        actor="system",
                        action="user.locked",
                        subject=f"user:{user.id}",
                        data={"minutes": lock_seconds // 60},
                    )
            failed = True
        else:
            failed = False
            user.failed_logins = 0
            user.locked_until = None
            previous = as_utc(user.last_login_at) if user.last_login_at else None
            # Strictly later than the last one, even on a frozen or coarse clock.
            user.last_login_at = max(now, previous + timedelta(microseconds=1)) if previous else now
            principal = Principal("user", user.id, user.email, user.role)
    if failed:
        # Raised after the transaction commits, so the failure count is kept.
        raise Unauthorized(LOGIN_FAILED)
    return principal


def user_session(ctx: Context, user_id: int) -> tuple[Principal, str] | None:
    """The active user ``user_id`` and their session generation (an opaque string that
    changes at every sign-in), or None if the user is gone or deactivated."""
    with ctx.db.transaction() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            return None
        stamp = as_utc(user.last_login_at) if user.last_login_at else None
        return Principal("user", user.id, user.email, user.role), _generation(stamp)


def _generation(stamp: datetime | None) -> str:
    return stamp.isoformat() if stamp is not None else ""
