"""Server-side console sessions: sign-out, "sign out everywhere", revocation (as on
deactivation) and the absolute lifetime end a session for every copy of its cookie."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from console_helpers import COOKIE, console_cookie_of, form_of, set_console_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from crm_pay.domain.errors import NotFound
from crm_pay.persistence.models import AuditEntry, ConsoleSession, Payment, User
from crm_pay.services import console_sessions
from crm_pay.services.access import deactivate_user
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import csrf_of, login


def _payments(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie(COOKIE, path="/pay")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value, path="/pay")
    return thief


def _refused_everywhere(client: FlaskClient, payment_id: str, data: dict[str, str]) -> str:
    """The cookie opens no page, no JSON endpoint and takes no payment; returns the
    sign-in page's message."""
    page = client.get("/pay/agent/")
    assert page.status_code == 302 and "/pay/agent/login" in page.location
    message = client.get(page.location).text
    status = client.get(
        f"/pay/agent/payments/{payment_id}/status", headers={"Accept": "application/json"}
    )
    assert status.status_code == 401
    assert status.json["error"]["code"] == "unauthorized"
    assert client.get("/pay/admin/").status_code == 302  # a signed-in agent gets 403
    taken = client.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert taken.status_code in (302, 400)
    return message


def _take(client: FlaskClient) -> tuple[str, dict[str, str]]:
    data = {**form_of(client, "CUST-0001"), "channel": "email", "invoice": "INV-1001"}
    resp = client.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert resp.status_code == 302, resp.text
    return resp.location.rsplit("/", 1)[1], data


def test_sign_out_kills_a_copied_cookie_and_no_payment_is_taken_with_it(
    app: Flask, ctx: Context, agent: FlaskClient
) -> None:
    thief = _copy(app, agent)
    assert thief.get("/pay/agent/").status_code == 200  # the copy works while signed in
    payment_id, data = _take(agent)
    fresh = {**form_of(thief, "CUST-0001"), "channel": "email", "invoice": "INV-1004"}
    agent.post("/pay/agent/logout", data={"csrf_token": csrf_of(agent.get("/pay/agent/").text)})
    before = _payments(ctx)

    message = _refused_everywhere(thief, payment_id, fresh)

    assert "This session was signed out" in message
    assert _payments(ctx) == before
    assert agent.get("/pay/agent/").status_code == 302
    assert data["invoice"] == "INV-1001"


def test_sign_out_everywhere_ends_every_copy_with_a_message(
    app: Flask, ctx: Context, agent: FlaskClient, users: dict[str, int]
) -> None:
    thief = _copy(app, agent)
    csrf = csrf_of(agent.get("/pay/agent/").text)
    out = thief.post("/pay/agent/logout/everywhere", data={"csrf_token": csrf})
    assert out.status_code == 302

    page = agent.get("/pay/agent/")
    assert page.status_code == 302
    assert "signed out everywhere" in agent.get(page.location).text
    assert console_sessions.list_for_user(ctx, users["agent"]) == []
    with ctx.db.transaction() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "console_session.revoked_all")
        ).one()
        assert entry.subject == f"user:{users['agent']}"


def test_revoke_all_for_user_as_on_deactivation_ends_open_sessions(
    app: Flask, ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent, supervisor = signed_in("agent"), signed_in("supervisor")
    thief = _copy(app, agent)

    assert console_sessions.revoke_all_for_user(ctx, users["agent"], reason="deactivated") == 1

    for client in (agent, thief):
        page = client.get("/pay/agent/")
        assert page.status_code == 302
        assert "This account was deactivated" in client.get(page.location).text
    assert supervisor.get("/pay/agent/").status_code == 200  # other users keep theirs
    ended = console_sessions.list_for_user(ctx, users["agent"], include_ended=True)
    assert [(s.active, s.revoked_reason) for s in ended] == [(False, "deactivated")]
    # a second call finds nothing open and changes nothing
    assert console_sessions.revoke_all_for_user(ctx, users["agent"], reason="deactivated") == 0


def test_sessions_end_after_the_absolute_lifetime_however_active(
    ctx: Context, clock: Clock, signed_in: Callable[[str], FlaskClient]
) -> None:
    agent = signed_in("agent")
    for _ in range(71):  # 71 x 10 min: active all along, 11 h 50 min
        clock.advance(10 * 60)
        assert agent.get("/pay/agent/").status_code == 200
    clock.advance(10 * 60 + 1)
    page = agent.get("/pay/agent/")
    assert page.status_code == 302
    assert "maximum length" in agent.get(page.location).text


def test_only_a_hash_of_the_session_id_is_stored_with_who_and_where(
    ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    sid = console_cookie_of(agent)["sid"]
    with ctx.db.transaction() as s:
        row = s.scalars(select(ConsoleSession)).one()
        stored = " ".join(str(v) for v in vars(row).values())
    assert sid not in stored
    assert row.session_hash == console_sessions.session_key(ctx, sid)
    (info,) = console_sessions.list_for_user(ctx, users["agent"])
    assert info.active and info.ip == "127.0.0.1" and info.user_agent.startswith("Werkzeug")


def test_signing_in_again_ends_the_older_session_record(
    app: Flask, ctx: Context, users: dict[str, int]
) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, "agent@example.com")
    login(second, "agent@example.com")
    sessions = console_sessions.list_for_user(ctx, users["agent"], include_ended=True)
    assert [(s.active, s.revoked_reason) for s in sessions] == [(True, None), (False, "elsewhere")]


def test_a_forged_or_tampered_session_id_is_refused(
    ctx: Context, agent: FlaskClient, users: dict[str, int]
) -> None:
    set_console_cookie(agent, {**console_cookie_of(agent), "sid": "made-up-" + "x" * 40})
    assert agent.get("/pay/agent/").status_code == 302
    assert console_sessions.check(ctx, "", user_id=users["agent"], idle_seconds=60) == "gone"
    assert console_sessions.check(ctx, "y" * 500, user_id=users["agent"], idle_seconds=60) == "gone"


def test_another_users_session_id_does_not_sign_in_as_them(
    ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    sid = console_cookie_of(agent)["sid"]
    assert console_sessions.check(ctx, sid, user_id=users["admin"], idle_seconds=60) == "gone"
    assert agent.get("/pay/agent/").status_code == 200  # the owner's session is untouched


def test_bad_input_to_the_service_is_refused_and_changes_nothing(
    ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    with pytest.raises(ValueError, match="unknown session end reason"):
        console_sessions.revoke_all_for_user(ctx, users["agent"], reason="because")
    with pytest.raises(ValueError, match="max_age"):
        console_sessions.create(ctx, users["agent"], max_age=0)
    with pytest.raises(NotFound):
        console_sessions.revoke_by_id(ctx, 999_999, actor="user:1:admin@example.com")
    assert console_sessions.revoke(ctx, "no-such-session") is False
    assert agent.get("/pay/agent/").status_code == 200
    assert len(console_sessions.list_for_user(ctx, users["agent"])) == 1


def test_an_admin_revokes_one_session_from_the_list(
    ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    (info,) = console_sessions.list_for_user(ctx, users["agent"])
    ended = console_sessions.revoke_by_id(ctx, info.id, actor="user:3:admin@example.com")
    assert ended.revoked_reason == "revoked"
    page = agent.get("/pay/agent/")
    assert page.status_code == 302
    assert "by an administrator" in agent.get(page.location).text
    # revoking it again is a no-op, not a second audit entry
    console_sessions.revoke_by_id(ctx, info.id, actor="user:3:admin@example.com")
    with ctx.db.transaction() as s:
        count = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "console_session.revoked")
        )
    assert count == 1


def test_every_console_page_offers_sign_out_everywhere(agent: FlaskClient) -> None:
    page = agent.get("/pay/agent/").text
    assert 'id="sign-out-everywhere"' in page
    assert 'formaction="/pay/agent/logout/everywhere"' in page


def test_a_deactivated_users_next_page_says_the_account_was_deactivated(
    app: Flask, ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    thief = _copy(app, agent)
    deactivate_user(ctx, users["agent"], actor="user:admin")

    page = agent.get("/pay/agent/customers/CUST-0001")
    assert page.status_code == 302 and "/pay/agent/login" in page.location
    assert "This account was deactivated. Ask an administrator." in agent.get(page.location).text
    answer = thief.get("/pay/agent/", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["message"] == (
        "This account was deactivated. Ask an administrator."
    )
    assert agent.get("/pay/agent/").status_code == 302  # and it stays signed out


def test_a_deleted_users_session_just_ended(
    ctx: Context, signed_in: Callable[[str], FlaskClient], users: dict[str, int]
) -> None:
    agent = signed_in("agent")
    with ctx.db.transaction() as s:
        s.execute(delete(ConsoleSession))
        s.execute(delete(User).where(User.id == users["agent"]))
    page = agent.get("/pay/agent/")
    assert page.status_code == 302
    text = agent.get(page.location).text
    assert "Your session ended. Sign in again to continue." in text
    assert "deactivated" not in text
