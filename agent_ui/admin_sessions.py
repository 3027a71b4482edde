"""Admin page ``{prefix}/admin/users/<id>/sessions``: one user's console sessions
(created, last activity, address, browser, state) with "End this session" and "End all
sessions". Ending one is immediate: the next request with that cookie is refused.

Views only, mounted on the admin blueprint by ``agent_ui.admin`` (admin role; every
POST carries the CSRF token); the service (``crm_pay.services.console_sessions``)
audits each ending.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, abort, redirect, render_template, url_for

from crm_pay.current import get_context
from crm_pay.services import access, console_sessions
from crm_pay.services.console_sessions import SessionInfo

from .auth import signed_in_principal
from .console_session import flash

__all__ = ["end_all_sessions", "end_session", "user_sessions"]

# Ended sessions shown below the open ones (older ones are purged after 30 days anyway).
_SHOWN = 50


def _user(user_id: int) -> dict[str, Any]:
    for user in access.list_users(get_context()):
        if user["id"] == user_id:
            return user
    abort(404)


def _state(info: SessionInfo, idle: timedelta) -> str:
    """In words: open sessions past their lifetime or idle are ended at their next use."""
    if info.revoked_at is not None:
        return f"ended ({info.revoked_reason})"
    now = get_context().now()
    if info.expires_at <= now:
        return "expired"
    if now - info.last_seen_at > idle:
        return "idle"
    return "active"


def user_sessions(user_id: int) -> str:
    user = _user(user_id)
    idle = timedelta(seconds=get_context().config.idle_timeout)
    found = console_sessions.list_for_user(get_context(), user_id, include_ended=True)
    rows = [{"info": s, "state": _state(s, idle)} for s in found[:_SHOWN]]
    return render_template(
        "crm_pay/admin_sessions.html",
        user=user,
        rows=rows,
        open_count=sum(1 for s in found if s.revoked_at is None),
        me=signed_in_principal().id,
    )


def end_session(user_id: int, session_id: int) -> Response:
    ctx = get_context()
    user = _user(user_id)
    if all(s.id != session_id for s in console_sessions.list_for_user(ctx, user_id)):
        flash(
            f"Nothing was changed: session {session_id} is not an open session of {user['email']}.",
            "warning",
        )
    else:
        console_sessions.revoke_by_id(ctx, session_id, actor=signed_in_principal().actor)
        flash(
            f"Session {session_id} of {user['email']} is ended: its next click signs it out.",
            "notice",
        )
    return redirect(url_for(".user_sessions", user_id=user_id))  # type: ignore[return-value]


def end_all_sessions(user_id: int) -> Response:
    user = _user(user_id)
    count = console_sessions.revoke_all_for_user(
        get_context(), user_id, reason="revoked", actor=signed_in_principal().actor
    )
    flash(
        f"{count} session{'s' if count != 1 else ''} of {user['email']} ended: every "
        "browser they were signed in on is signed out at its next click.",
        "notice",
    )
    return redirect(url_for(".user_sessions", user_id=user_id))  # type: ignore[return-value]
