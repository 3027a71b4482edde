"""An admin sees one user's console sessions and ends one or all of them: the ended
cookie is refused at its next request; every ending is audited and CSRF-protected.
Old session rows are purged by the janitor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import AuditEntry, ConsoleSession
from crm_pay.services import console_sessions
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from paytest import csrf_of, login

CONSOLE = "/pay/agent/"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def _sessions_page(user_id: int) -> str:
    return f"/pay/admin/users/{user_id}/sessions"


def _actions(ctx: Context) -> list[tuple[str, str, dict[str, object]]]:
    with ctx.db.transaction() as s:
        return [(a.action, a.subject, dict(a.data)) for a in s.scalars(select(AuditEntry))]


def _signed_in_agent(app: Flask, signed_in: Callable[[str], FlaskClient]) -> FlaskClient:
    client = signed_in("agent")
    assert client.get(CONSOLE).status_code == 200
    return client


def test_the_admin_sees_a_users_sessions_and_ends_one(
    app: Flask,
    admin: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    ctx: Context,
    users: dict[str, int],
) -> None:
    agent = app.test_client()
    agent.environ_base.update({"HTTP_USER_AGENT": BROWSER, "REMOTE_ADDR": "198.51.100.7"})
    assert login(agent, "agent@example.com").status_code == 302
    assert agent.get(CONSOLE).status_code == 200
    users_page = admin.get("/pay/admin/users").text
    assert f'href="{_sessions_page(users["agent"])}"' in users_page

    page = admin.get(_sessions_page(users["agent"]))
    assert page.status_code == 200
    assert "Sessions of agent@example.com" in page.text
    (info,) = console_sessions.list_for_user(ctx, users["agent"])
    assert f'data-session="{info.id}" data-state="active"' in page.text
    assert BROWSER in page.text and "198.51.100.7" in page.text

    done = admin.post(
        f"{_sessions_page(users['agent'])}/{info.id}/end",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert f"Session {info.id} of agent@example.com is ended" in done.text
    assert f'data-session="{info.id}" data-state="ended (revoked)"' in done.text
    # The agent's cookie is refused at its next request, pages and JSON alike.
    resp = agent.get(CONSOLE)
    assert resp.status_code == 302 and "/pay/agent/login" in resp.headers["Location"]
    assert agent.get(CONSOLE, headers={"Accept": "application/json"}).status_code == 401
    assert ("console_session.revoked", f"user:{users['agent']}", {"session": info.id}) in (
        _actions(ctx)
    )
    # The admin's own session is untouched.
    assert admin.get(_sessions_page(users["agent"])).status_code == 200


def test_end_all_sessions_signs_the_user_out_everywhere(
    app: Flask,
    admin: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    ctx: Context,
    users: dict[str, int],
) -> None:
    agent = _signed_in_agent(app, signed_in)
    # A second, older-style session (e.g. from before one-session-per-user) is open too.
    console_sessions.create(ctx, users["agent"], max_age=3600, single=False)
    page = admin.get(_sessions_page(users["agent"])).text
    assert "End all sessions (2)" in page
    done = admin.post(
        f"{_sessions_page(users['agent'])}/end-all",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=True,
    )
    assert "2 sessions of agent@example.com ended" in done.text
    assert console_sessions.list_for_user(ctx, users["agent"]) == []
    assert agent.get(CONSOLE).status_code == 302
    assert ("console_session.revoked_all", f"user:{users['agent']}") in [
        a[:2] for a in _actions(ctx)
    ]


def test_ending_needs_csrf_the_admin_role_and_the_right_user(
    app: Flask,
    admin: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    ctx: Context,
    users: dict[str, int],
) -> None:
    agent = _signed_in_agent(app, signed_in)
    (info,) = console_sessions.list_for_user(ctx, users["agent"])
    url = f"{_sessions_page(users['agent'])}/{info.id}/end"
    assert admin.post(url).status_code == 400  # no CSRF token
    assert agent.get(_sessions_page(users["agent"])).status_code == 403
    assert agent.post(url).status_code in (400, 403)
    # The session id under another user's page changes nothing.
    page = admin.get(_sessions_page(users["supervisor"])).text
    assert "supervisor@example.com has no console sessions." in page
    wrong = admin.post(
        f"{_sessions_page(users['supervisor'])}/{info.id}/end",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=True,
    )
    assert "Nothing was changed" in wrong.text
    assert [s.id for s in console_sessions.list_for_user(ctx, users["agent"])] == [info.id]
    assert agent.get(CONSOLE).status_code == 200
    assert admin.get(_sessions_page(99999)).status_code == 404


def _rows(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


def test_the_janitor_purges_sessions_ended_more_than_30_days_ago(
    ctx: Context, users: dict[str, int]
) -> None:
    start = ctx.now()
    user = users["agent"]
    ended = console_sessions.create(ctx, user, max_age=3600, single=False)
    console_sessions.revoke(ctx, ended)
    console_sessions.create(ctx, user, max_age=3600, single=False)  # expires, never ended
    console_sessions.create(ctx, user, max_age=90 * 86400, single=False)  # still valid
    assert _rows(ctx) == 3

    ctx.clock = lambda: start + timedelta(days=29)
    assert run_janitor(ctx).sessions_purged == 0
    ctx.clock = lambda: start + timedelta(days=31)
    assert run_janitor(ctx).sessions_purged == 2
    assert _rows(ctx) == 1
    (left,) = console_sessions.list_for_user(ctx, user, include_ended=True)
    assert left.expires_at > start + timedelta(days=31)
