"""API keys and users: created here, stored hashed, role-scoped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from crm_pay.domain.errors import Conflict, Forbidden, Unauthorized, ValidationError
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
    "require_role",
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


def require_role(principal: Principal, role: str) -> None:
    if ROLES.index(principal.role) < ROLES.index(role):
        raise Forbidden(f"this needs the {role} role; yours is {principal.role}")


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


def authenticate_user(ctx: Context, email: str, password: str) -> Principal:
    with ctx.db.transaction() as s:
        user = s.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        raise Unauthorized("email or password is wrong")
    return Principal("user", user.id, user.email, user.role)
