"""API keys and users: created here, stored hashed, role-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from crm_pay.domain.errors import Conflict, NotFound, Unauthorized, ValidationError
from crm_pay.domain.roles import API_KEY_ROLES, ROLES  # ROLES: each includes those before
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ApiKey, Payment, User
from vault import tokens

from . import audit, console_sessions, policy
from .context import Context

__all__ = [
    "API_KEY_ROLES",
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
    "require_payment_access",
    "LOGIN_FAILED",
    "list_api_keys",
    "revoke_api_key",
    "list_users",
    "deactivate_user",
    "reactivate_user",
    "set_user_role",
]

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


def _check_role(role: str, roles: tuple[str, ...] = ROLES) -> str:
    """``role`` if it is one of ``roles`` (a user's: :data:`ROLES`; a key's:
    :data:`API_KEY_ROLES`, which adds the key-only ones such as telephony)."""
    if role not in roles:
        raise ValidationError(f"role must be one of {', '.join(roles)}")
    return role


def has_role(principal: Principal, role: str) -> bool:
    """True if ``principal``'s role is ``role`` or one above it (:mod:`.policy`)."""
    return policy.has_role(principal, role)


def require_role(principal: Principal, role: str) -> None:
    """:func:`policy.require_role`: ``Forbidden`` unless the role is ``role`` or above."""
    policy.require_role(principal, role)


def may_view_payment(principal: Principal, created_by: str) -> bool:
    """A payment (its page, live status, links) is its creator's, or any supervisor's.
    Thin wrapper: the rule is :func:`policy.may` ``payment.view``."""
    return policy.may(principal, "payment.view", created_by)


def may_view_receipt(principal: Principal, payment_created_by: str) -> bool:
    """A receipt is seen by whoever may see its payment (creator or supervisor/admin).

    Receipt numbers are sequential, so an agent who could open any number could read
    every customer's receipts. Thin wrapper over :func:`policy.may` ``receipt.view``."""
    return policy.may(principal, "receipt.view", payment_created_by)


def require_payment_access(
    ctx: Context, principal: Principal, action: str, payment_id: str
) -> None:
    """Raise NotFound, word for word like a missing payment, unless ``principal`` may do
    ``action`` to payment ``payment_id`` (:func:`policy.may`: creator or supervisor).
    Payment ids are not guessable, but "not yours" still reveals nothing."""
    with ctx.db.transaction() as s:
        created_by = s.scalars(select(Payment.created_by).where(Payment.id == payment_id)).first()
    if created_by is None:
        return  # the route answers its own 404 (after checking the body, as before)
    if not policy.may(principal, action, created_by):
        raise NotFound(f"no payment {payment_id!r}")


def create_api_key(ctx: Context, *, name: str, role: str, actor: str = "cli") -> str:
    """Create a key and return it; only its hash is stored, so this is the one chance
    to copy it."""
    _check_role(role, API_KEY_ROLES)
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
            actor=actor,
            action="api_key.created",
            subject=f"api_key:{row.id}",
            data={"name": name, "role": role},
        )
    return secret


#: An API key's ``last_used_at`` is refreshed at most this often.
LAST_USED_RESOLUTION_SECONDS = 60


def authenticate_api_key(ctx: Context, secret: str) -> Principal:
    if not secret or not secret.startswith(_KEY_PREFIX) or len(secret) > 200:
        raise Unauthorized("send a valid API key as 'Authorization: Bearer <key>'")
    digest = tokens.hash_token(secret, pepper=ctx.settings.token_pepper)
    with ctx.db.transaction() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if row is None:
            raise Unauthorized("this API key is not valid or was revoked")
        if row.revoked_at is not None:
            # Only the key's holder can see this, so naming the date tells nobody new
            # anything, and it saves the holder a support call.
            raise Unauthorized(
                f"this API key was revoked on {as_utc(row.revoked_at):%Y-%m-%d %H:%M} UTC; "
                "ask an admin for a new one"
            )
        now = ctx.now()
        last = as_utc(row.last_used_at)
        # "Last used" to the minute is what an admin reads; writing it on every request
        # made each authenticated call a write (on the hot path: one UPDATE per call).
        if last is None or (now - last).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
            row.last_used_at = now
        return Principal("api_key", row.id, row.name, row.role)


def create_user(ctx: Context, *, email: str, role: str, password: str, actor: str = "cli") -> int:
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
            actor=actor,
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
    max_failures: int = 100,
    lock_seconds: int = 15 * 60,
) -> Principal:
    """Check a user's password; after ``max_failures`` consecutive failures the account
    is locked for ``lock_seconds`` (a correct password does not open it early).

    This lock is a *hard ceiling*, deliberately high (100): anyone who knows an email
    address can trigger it, so it must not be the everyday defence. That is the web
    layer's progressive delay per account and per account+IP (``crm_pay.rate_limits``),
    which reaches 100 failures only after many hours. The ceiling still holds when the
    delays' storage is down (they fail open) and counts across every process.

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


# --- managing keys and users (admin console and CLI) -------------------------------


def _stamp(value: datetime | None) -> str | None:
    stamp = as_utc(value)
    return stamp.isoformat() if stamp is not None else None


def _key_view(row: ApiKey) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": _stamp(row.created_at),
        "last_used_at": _stamp(row.last_used_at),
        "revoked_at": _stamp(row.revoked_at),
    }


def list_api_keys(ctx: Context) -> list[dict[str, object]]:
    """Every key, newest first: never the secret, only the first characters of it
    (``prefix``) so a holder can tell which key is theirs."""
    with ctx.db.transaction() as s:
        return [_key_view(r) for r in s.scalars(select(ApiKey).order_by(ApiKey.id.desc()))]


def revoke_api_key(ctx: Context, key_id: int, *, actor: str) -> dict[str, object]:
    """Revoke a key: from the next request on, every API call with it gets 401.
    Revoking is final (a new key is the way back); a second revoke is refused so the
    audit log shows one revocation per key."""
    with ctx.db.transaction() as s:
        row = s.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound(f"there is no API key {key_id}; `crm-pay api-keys list` shows them")
        if row.revoked_at is not None:
            raise Conflict(f"API key {key_id} ({row.name}) was already revoked")
        row.revoked_at = ctx.now()
        audit.record(
            s,
            ctx,
            actor=actor,
            action="api_key.revoked",
            subject=f"api_key:{row.id}",
            data={"name": row.name, "role": row.role},
        )
        return _key_view(row)


def _user_view(row: User) -> dict[str, object]:
    return {
        "id": row.id,
        "email": row.email,
        "role": row.role,
        "active": bool(row.active),
        "created_at": _stamp(row.created_at),
        "last_login_at": _stamp(row.last_login_at),
    }


def list_users(ctx: Context) -> list[dict[str, object]]:
    with ctx.db.transaction() as s:
        return [_user_view(r) for r in s.scalars(select(User).order_by(User.email))]


def _find_user(s: Session, user: int | str) -> User:
    """``user`` is an id (admin console) or an email address (CLI)."""
    if isinstance(user, int):
        row = s.get(User, user, with_for_update=True)
    else:
        row = s.scalars(
            select(User).where(User.email == user.strip().lower()).with_for_update()
        ).first()
    if row is None:
        raise NotFound(f"there is no user {user}; `crm-pay users list` shows them")
    return row


def _refuse_if_last_admin(s: Session, row: User, doing: str) -> None:
    """Nobody could manage users, keys or connectors any more without an active admin."""
    if row.role != "admin" or not row.active:
        return
    others = s.scalar(
        select(func.count(User.id)).where(
            User.role == "admin", User.active.is_(True), User.id != row.id
        )
    )
    if not others:
        raise Conflict(
            f"{row.email} is the last active admin and cannot be {doing}; "
            "make another user admin first"
        )


def deactivate_user(ctx: Context, user: int | str, *, actor: str) -> dict[str, object]:
    """Deactivate a user: they cannot sign in, their console sessions are ended (their
    signed-in consoles are sent to sign in at the next request, their live sockets
    close) and stay ended if the user is reactivated later."""
    with ctx.db.transaction() as s:
        row = _find_user(s, user)
        if not row.active:
            raise Conflict(f"{row.email} is already deactivated")
        _refuse_if_last_admin(s, row, "deactivated")
        row.active = False
        audit.record(
            s,
            ctx,
            actor=actor,
            action="user.deactivated",
            subject=f"user:{row.id}",
            data={"email": row.email, "role": row.role},
        )
        view, user_id = _user_view(row), row.id
    # After the commit: even if this failed, the user loader already refuses an
    # inactive user on every request; ending the records also closes live sockets
    # within a second and keeps old cookies dead after a reactivation.
    console_sessions.revoke_all_for_user(ctx, user_id, reason="deactivated", actor=actor)
    return view


def reactivate_user(ctx: Context, user: int | str, *, actor: str) -> dict[str, object]:
    """Let a deactivated user sign in again (with their password; no old session)."""
    with ctx.db.transaction() as s:
        row = _find_user(s, user)
        if row.active:
            raise Conflict(f"{row.email} is already active")
        row.active = True
        row.failed_logins = 0
        row.locked_until = None
        audit.record(
            s,
            ctx,
            actor=actor,
            action="user.reactivated",
            subject=f"user:{row.id}",
            data={"email": row.email, "role": row.role},
        )
        return _user_view(row)


def set_user_role(ctx: Context, user: int | str, role: str, *, actor: str) -> dict[str, object]:
    """Change a user's role; it applies from their next request (the console reads the
    role from the database each time)."""
    _check_role(role)
    with ctx.db.transaction() as s:
        row = _find_user(s, user)
        if row.role == role:
            raise Conflict(f"{row.email} is already {role}")
        if role != "admin":
            _refuse_if_last_admin(s, row, f"made {role}")
        before, row.role = row.role, role
        audit.record(
            s,
            ctx,
            actor=actor,
            action="user.role_changed",
            subject=f"user:{row.id}",
            data={"email": row.email, "from": before, "to": role},
        )
        return _user_view(row)
