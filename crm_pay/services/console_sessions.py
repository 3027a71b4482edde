"""Server-side records of console sign-ins, so ending a session takes effect at once.

The console's cookie carries a random session id; the ``console_sessions`` table keeps
only its keyed hash (:func:`vault.tokens.hash_token`, as for pay-link tokens) with the
user, the last activity and an absolute expiry. Every console request and every
Socket.IO event checks the row (:func:`check`), so sign-out, "sign out everywhere",
deactivation and an admin's revoke end the session for every copy of the cookie, in
every process, on their next request; open sockets are swept by ``agent_ui.live_socket``.

A row ends once, with a reason, and is never reopened.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from crm_pay.domain.errors import NotFound
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import ConsoleSession
from vault import tokens

from . import audit, inbound
from .context import Context

__all__ = [
    "SessionInfo",
    "REASONS",
    "create",
    "check",
    "alive",
    "revoke",
    "revoke_by_id",
    "revoke_all_for_user",
    "list_for_user",
    "purge_old",
    "session_key",
]

#: Why a session ended (``revoked_reason``).
REASONS = frozenset(
    {"signed_out", "elsewhere", "idle", "expired", "revoked", "deactivated", "password"}
)
_MAX_USER_AGENT = 200
_MAX_IP = 45


@dataclass(frozen=True)
class SessionInfo:
    """A session as an admin sees it (never the id or its hash)."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    revoked_at: datetime | None
    revoked_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def session_key(ctx: Context, session_id: str) -> str:
    """The stored form of a cookie's session id."""
    return tokens.hash_token(session_id, pepper=ctx.settings.token_pepper)


def _end(row: ConsoleSession, now: datetime, reason: str) -> None:
    row.revoked_at = now
    row.revoked_reason = reason


def create(
    ctx: Context,
    user_id: int,
    *,
    max_age: int,
    ip: str = "",
    user_agent: str = "",
    single: bool = True,
) -> str:
    """Start a session for ``user_id`` and return its id (for the cookie; not stored).

    ``single``: the console allows one session per user, so the user's other open
    sessions end with reason ``elsewhere``."""
    if max_age <= 0:
        raise ValueError("max_age must be a positive number of seconds")
    now = ctx.now()
    session_id = tokens.new_token(32)
    with ctx.db.transaction() as s:
        if single:
            s.execute(
                update(ConsoleSession)
                .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason="elsewhere")
            )
        s.add(
            ConsoleSession(
                session_hash=session_key(ctx, session_id),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=max_age),
                ip=inbound.stored_header(ip, _MAX_IP),
                user_agent=inbound.stored_header(user_agent, _MAX_USER_AGENT),
            )
        )
    return session_id


def _why_not(row: ConsoleSession | None, now: datetime, idle_seconds: float) -> str | None:
    if row is None:
        return "gone"
    if row.revoked_at is not None:
        return row.revoked_reason or "revoked"
    if as_utc(row.expires_at) <= now:  # type: ignore[operator]
        return "expired"
    if (now - as_utc(row.last_seen_at)).total_seconds() > idle_seconds:  # type: ignore[operator]
        return "idle"
    return None


def check(ctx: Context, session_id: str, *, user_id: int, idle_seconds: float) -> str | None:
    """None when the session is live (its last activity moves to now); otherwise why it
    is not: ``gone`` (unknown id or another user's), a reason of :data:`REASONS`.
    A session found idle or past its lifetime is ended here, so it stays ended."""
    if not session_id or len(session_id) > 200:
        return "gone"
    now = ctx.now()
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(ConsoleSession).where(
                ConsoleSession.session_hash == session_key(ctx, session_id)
            )
        ).first()
        if row is not None and row.user_id != user_id:
            return "gone"
        reason = _why_not(row, now, idle_seconds)
        if row is not None:
            if reason is None:
                row.last_seen_at = now
            elif row.revoked_at is None:
                _end(row, now, reason)
        return reason


def alive(ctx: Context, keys: Collection[str], *, idle_seconds: float) -> set[str]:
    """Which of these stored keys (:func:`session_key`) are live sessions: one read-only
    query, for the live-socket sweep."""
    if not keys:
        return set()
    now = ctx.now()
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(ConsoleSession).where(ConsoleSession.session_hash.in_(list(keys)))
        ).all()
        return {r.session_hash for r in rows if _why_not(r, now, idle_seconds) is None}


def revoke(ctx: Context, session_id: str, *, reason: str = "signed_out") -> bool:
    """End the session with this id (sign-out). False if it was unknown or already over."""
    _check_reason(reason)
    now = ctx.now()
    with ctx.db.transaction() as s:
        result = s.execute(
            update(ConsoleSession)
            .where(
                ConsoleSession.session_hash == session_key(ctx, session_id),
                ConsoleSession.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason=reason)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_by_id(ctx: Context, row_id: int, *, actor: str) -> SessionInfo:
    """An admin ends one session from the list; audited. Ending an ended one is a no-op."""
    now = ctx.now()
    with ctx.db.transaction() as s:
        row = s.get(ConsoleSession, row_id, with_for_update=True)
        if row is None:
            raise NotFound(f"console session {row_id} does not exist")
        if row.revoked_at is None:
            _end(row, now, "revoked")
            audit.record(
                s,
                ctx,
                actor=actor,
                action="console_session.revoked",
                subject=f"user:{row.user_id}",
                data={"session": row.id},
            )
        return _info(row)


def revoke_all_for_user(
    ctx: Context, user_id: int, *, reason: str = "revoked", actor: str = "system"
) -> int:
    """End every open session of ``user_id`` ("sign out everywhere", deactivation with
    ``reason="deactivated"``, a password change with ``reason="password"``); audited.
    Returns how many were open. Their live sockets close within a second (see
    ``agent_ui.live_socket``)."""
    _check_reason(reason)
    now = ctx.now()
    with ctx.db.transaction() as s:
        result = s.execute(
            update(ConsoleSession)
            .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        audit.record(
            s,
            ctx,
            actor=actor,
            action="console_session.revoked_all",
            subject=f"user:{user_id}",
            data={"reason": reason, "sessions": count},
        )
        return count


def list_for_user(ctx: Context, user_id: int, *, include_ended: bool = False) -> list[SessionInfo]:
    """The user's sessions, newest first; ended ones only when asked."""
    query = select(ConsoleSession).where(ConsoleSession.user_id == user_id)
    if not include_ended:
        query = query.where(ConsoleSession.revoked_at.is_(None))
    with ctx.db.transaction() as s:
        rows = s.scalars(query.order_by(ConsoleSession.id.desc())).all()
        return [_info(r) for r in rows]


#: How long an ended (or expired) session row is kept for the admin's list and
#: investigations before the janitor deletes it.
RETENTION = timedelta(days=30)


def purge_old(ctx: Context, *, older_than: timedelta = RETENTION) -> int:
    """Delete rows that ended, or passed their lifetime, more than ``older_than`` ago
    (the janitor's step; the audit log keeps who ended what). Returns how many."""
    cutoff = ctx.now() - older_than
    with ctx.db.transaction() as s:
        result = s.execute(
            delete(ConsoleSession).where(
                or_(
                    ConsoleSession.revoked_at < cutoff,
                    ConsoleSession.revoked_at.is_(None) & (ConsoleSession.expires_at < cutoff),
                )
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise ValueError(f"unknown session end reason {reason!r}; use one of {sorted(REASONS)}")


def _info(row: ConsoleSession) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        user_id=row.user_id,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        last_seen_at=as_utc(row.last_seen_at),  # type: ignore[arg-type]
        expires_at=as_utc(row.expires_at),  # type: ignore[arg-type]
        ip=row.ip,
        user_agent=row.user_agent,
        revoked_at=as_utc(row.revoked_at),
        revoked_reason=row.revoked_reason,
    )
