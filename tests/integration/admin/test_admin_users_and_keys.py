"""Users and API keys in the admin console: list, create, change role, deactivate and
reactivate users; create (secret shown once) and revoke keys; all audited, all behind
the admin role and CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry
from crm_pay.services import console_sessions
from crm_pay.services.access import list_api_keys, list_users
from crm_pay.services.context import Context
from paytest import csrf_of, login

USERS = "/pay/admin/users"
KEYS = "/pay/admin/api-keys"
CONSOLE = "/pay/agent/"
CUSTOMER = "/pay/api/v1/customers/CUST-0001"


def _audit(ctx: Context) -> list[tuple[str, str, str]]:
    with ctx.db.transaction() as s:
        return [(a.actor, a.action, a.subject) for a in s.scalars(select(AuditEntry))]


def _post(client: FlaskClient, page: str, url: str, **data: str):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)


def _user(ctx: Context, email: str) -> dict[str, object]:
    return next(u for u in list_users(ctx) if u["email"] == email)


def test_users_page_lists_people_and_is_for_admins_only(
    admin: FlaskClient, agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    page = admin.get(USERS)
    assert page.status_code == 200
    for role in ("agent", "supervisor", "admin"):
        assert f'data-user="{role}@example.com"' in page.text
    assert "Last sign-in" in page.text and "active" in page.text
    assert 'href="/pay/admin/users"' in admin.get("/pay/admin/").text  # in the navigation
    assert agent.get(USERS).status_code == 403
    assert signed_in("supervisor").get(KEYS).status_code == 403
    assert agent.post("/pay/admin/users/1/deactivate").status_code in (400, 403)


def test_deactivated_user_is_signed_out_and_cannot_sign_in(
    app: Flask, admin: FlaskClient, agent: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    assert agent.get(CONSOLE).status_code == 200
    assert console_sessions.list_for_user(ctx, users["agent"])
    done = _post(admin, USERS, f"/pay/admin/users/{users['agent']}/deactivate")
    assert "agent@example.com is deactivated" in done.text
    assert _user(ctx, "agent@example.com")["active"] is False
    # Its session records are ended, which also closes its live sockets (agent_ui.live_socket).
    assert console_sessions.list_for_user(ctx, users["agent"]) == []
    assert "console_session.revoked_all" in [a[1] for a in _audit(ctx)]

    # The agent's open console: next click goes to sign-in, pages and JSON alike.
    resp = agent.get(CONSOLE)
    assert resp.status_code == 302 and "/pay/agent/login" in resp.headers["Location"]
    assert agent.get(CONSOLE, headers={"Accept": "application/json"}).status_code == 401
    # And a fresh sign-in is refused with the usual words.
    fresh = login(app.test_client(), "agent@example.com")
    assert fresh.status_code == 401 and "Email or password is wrong" in fresh.text
    assert (
        "user:" + str(users["admin"]) + ":admin@example.com",
        "user.deactivated",
        f"user:{users['agent']}",
    ) in _audit(ctx)

    # Reactivated: the password works again, the old cookie does not.
    back = _post(admin, USERS, f"/pay/admin/users/{users['agent']}/activate")
    assert "agent@example.com can sign in again" in back.text
    assert agent.get(CONSOLE).status_code == 302
    assert login(app.test_client(), "agent@example.com").status_code == 302
    assert "user.reactivated" in [a[1] for a in _audit(ctx)]


def test_change_role_applies_at_the_next_request(
    admin: FlaskClient, agent: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    assert agent.get("/pay/admin/").status_code == 403
    done = _post(admin, USERS, f"/pay/admin/users/{users['agent']}/role", role="admin")
    assert "agent@example.com is now admin" in done.text
    assert agent.get("/pay/admin/").status_code == 200
    bad = _post(admin, USERS, f"/pay/admin/users/{users['agent']}/role", role="root")
    assert "Nothing was changed" in bad.text and "role must be one of" in bad.text
    assert _user(ctx, "agent@example.com")["role"] == "admin"
    assert "user.role_changed" in [a[1] for a in _audit(ctx)]


def test_the_last_admin_cannot_remove_themselves(
    admin: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    before = len(_audit(ctx))
    me = users["admin"]
    off = _post(admin, USERS, f"/pay/admin/users/{me}/deactivate")
    assert "Nothing was changed" in off.text and "last active admin" in off.text
    down = _post(admin, USERS, f"/pay/admin/users/{me}/role", role="supervisor")
    assert "last active admin" in down.text
    assert _user(ctx, "admin@example.com")["active"] is True
    assert _user(ctx, "admin@example.com")["role"] == "admin"
    assert admin.get(USERS).status_code == 200  # still in
    assert len(_audit(ctx)) == before


def test_post_without_csrf_changes_nothing(
    admin: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    resp = admin.post(f"/pay/admin/users/{users['agent']}/deactivate")
    assert resp.status_code == 400 and "Nothing was changed" in resp.text
    assert _user(ctx, "agent@example.com")["active"] is True
    assert admin.post(KEYS, data={"name": "x", "role": "agent"}).status_code == 400
    assert list_api_keys(ctx) == []


def test_create_user_shows_the_password_once(app: Flask, admin: FlaskClient, ctx: Context) -> None:
    token = csrf_of(admin.get(USERS).text)
    resp = admin.post(
        USERS, data={"csrf_token": token, "email": "New@Example.com", "role": "agent"}
    )
    assert resp.status_code == 201
    password = re.search(r'id="new-password">([^<]+)<', resp.text).group(1)  # type: ignore[union-attr]
    assert password not in admin.get(USERS).text
    client = app.test_client()
    page = client.get("/pay/agent/login")
    signed = client.post(
        "/pay/agent/login",
        data={"email": "new@example.com", "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert signed.status_code == 302
    dup = admin.post(USERS, data={"csrf_token": token, "email": "new@example.com", "role": "agent"})
    assert dup.status_code == 302
    assert "already exists" in admin.get(USERS).text
    assert len([u for u in list_users(ctx) if u["email"] == "new@example.com"]) == 1


def test_api_key_created_shown_once_then_revoked(
    app: Flask, admin: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    token = csrf_of(admin.get(KEYS).text)
    made = admin.post(KEYS, data={"csrf_token": token, "name": "ivr-bot", "role": "agent"})
    assert made.status_code == 201
    secret = re.search(r'id="new-key-secret">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    api = app.test_client()
    assert api.get(CUSTOMER, headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    page = admin.get(KEYS).text
    assert secret not in page and secret[:12] in page and "ivr-bot" in page
    assert "never" not in page.split('data-key="1"')[1].split("</tr>")[0]  # last use shown

    done = _post(admin, KEYS, "/pay/admin/api-keys/1/revoke")
    assert "ivr-bot is revoked" in done.text
    resp = api.get(CUSTOMER, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401 and "revoked" in resp.get_json()["error"]["message"]
    again = _post(admin, KEYS, "/pay/admin/api-keys/1/revoke")
    assert "already revoked" in again.text
    actor = f"user:{users['admin']}:admin@example.com"
    assert (actor, "api_key.created", "api_key:1") in _audit(ctx)
    assert (actor, "api_key.revoked", "api_key:1") in _audit(ctx)
    bad = _post(admin, KEYS, KEYS, name="", role="agent")
    assert "No key was created" in bad.text and len(list_api_keys(ctx)) == 1


def test_the_keys_page_offers_the_telephony_role_and_its_key_only_reports_calls(
    app: Flask, admin: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    page = admin.get(KEYS).text
    offered = re.findall(r'<option value="([a-z]+)">', page.split('id="add-key"')[1])
    assert offered == ["agent", "supervisor", "admin", "telephony"]
    assert "may only report calls" in page
    # people are never given it: the users page does not offer it
    assert '<option value="telephony">' not in admin.get(USERS).text

    token = csrf_of(page)
    made = admin.post(KEYS, data={"csrf_token": token, "name": "pbx", "role": "telephony"})
    assert made.status_code == 201
    secret = re.search(r'id="new-key-secret">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert [(k["name"], k["role"]) for k in list_api_keys(ctx)] == [("pbx", "telephony")]
    key = {"Authorization": f"Bearer {secret}"}
    api = app.test_client()
    call = {"caller": "+12125550101", "agent": "agent@example.com", "call_sid": "CA" + "ab" * 16}
    assert api.post("/pay/api/v1/calls", json=call, headers=key).status_code == 202
    assert api.get(CUSTOMER, headers=key).status_code == 403
