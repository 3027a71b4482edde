"""Sign-in: passwords, lock-out, per-IP throttling, idle timeout, session rotation, CSRF."""

from __future__ import annotations

from collections.abc import Callable

from console_helpers import PASSWORD, Clock, csrf_of, login
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.services.access import LOGIN_FAILED


def test_sign_in_opens_the_console_and_sign_out_closes_it(app: Flask, users: dict[str, int]):
    client = app.test_client()
    assert client.get("/pay/agent/").status_code == 302  # not signed in yet
    resp = login(client, "agent@example.com")
    assert resp.status_code == 302 and resp.location.endswith("/pay/agent/")
    page = client.get("/pay/agent/")
    assert page.status_code == 200 and "agent@example.com" in page.text
    out = client.post("/pay/agent/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 302
    assert client.get("/pay/agent/").status_code == 302


def test_wrong_password_and_unknown_account_get_the_same_answer(app: Flask, users: dict[str, int]):
    client = app.test_client()
    wrong = login(client, "agent@example.com", "not the password!")
    nobody = login(client, "nobody@example.com", "not the password!")
    assert wrong.status_code == nobody.status_code == 401
    assert LOGIN_FAILED.split(",")[0] in wrong.text
    assert wrong.text.replace("agent@", "X@") == nobody.text.replace("nobody@", "X@")
    assert client.get("/pay/agent/").status_code == 302


def test_five_failures_lock_the_account_for_fifteen_minutes(
    app: Flask, users: dict[str, int], clock: Clock
):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "agent@example.com", "wrong password 123").status_code == 401
    locked = login(client, "agent@example.com")  # the right password, but locked
    assert locked.status_code == 401
    assert "too many attempts" in locked.text
    clock.advance(14 * 60)
    assert login(client, "agent@example.com").status_code == 401
    clock.advance(2 * 60)
    assert login(client, "agent@example.com").status_code == 302


def test_a_success_resets_the_failure_count(app: Flask, users: dict[str, int]):
    client = app.test_client()
    for _ in range(4):
        login(client, "agent@example.com", "wrong password 123")
    assert login(client, "agent@example.com").status_code == 302
    other = app.test_client()
    for _ in range(4):
        login(other, "agent@example.com", "wrong password 123")
    assert login(other, "agent@example.com").status_code == 302


def test_one_ip_address_gets_twenty_failures_per_ten_minutes(
    app: Flask, users: dict[str, int], clock: Clock
):
    client = app.test_client()
    for n in range(20):  # spread over accounts, so no account lock-out kicks in
        assert (
            login(client, f"guess{n}@example.com", "guess guess 1", ip="10.0.0.9").status_code
            == 401
        )
    blocked = login(client, "agent@example.com", ip="10.0.0.9")
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert login(app.test_client(), "agent@example.com", ip="10.0.0.10").status_code == 302
    clock.advance(10 * 60 + 1)
    assert login(client, "agent@example.com", ip="10.0.0.9").status_code == 302


def test_idle_sessions_end_with_a_message(
    app: Flask, users: dict[str, int], clock: Clock, signed_in: Callable[[str], FlaskClient]
):
    client = signed_in("agent")
    clock.advance(14 * 60)
    assert client.get("/pay/agent/").status_code == 200  # activity keeps it alive
    clock.advance(14 * 60)
    assert client.get("/pay/agent/").status_code == 200
    clock.advance(15 * 60 + 1)
    resp = client.get("/pay/agent/customers/CUST-0001")
    assert resp.status_code == 302 and "/pay/agent/login" in resp.location
    page = client.get(resp.location)
    assert "signed out after 15 minutes without activity" in page.text
    assert client.get("/pay/agent/").status_code == 302


def test_signing_in_again_makes_the_old_session_cookie_useless(app: Flask, users: dict[str, int]):
    first = app.test_client()
    login(first, "agent@example.com")
    old_cookie = first.get_cookie("session")
    assert old_cookie is not None
    with first.session_transaction() as s:
        old_sid = s["sid"]
    assert first.get("/pay/agent/").status_code == 200

    second = app.test_client()  # the same agent signs in again, e.g. on another desk
    login(second, "agent@example.com")
    with second.session_transaction() as s:
        assert s["sid"] != old_sid
    assert second.get("/pay/agent/").status_code == 200

    thief = app.test_client()
    thief.set_cookie("session", old_cookie.value, path="/")
    resp = thief.get("/pay/agent/")
    assert resp.status_code == 302
    assert "signed in again elsewhere" in thief.get(resp.location).text
    assert first.get("/pay/agent/").status_code == 302


def test_a_cookie_from_before_sign_in_is_not_reused(app: Flask, users: dict[str, int]):
    client = app.test_client()
    client.get("/pay/agent/login")
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
        before = s["csrf"]
    login(client, "agent@example.com")
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["csrf"] != before and s["sid"]


def test_sign_in_and_out_need_the_csrf_token(app: Flask, users: dict[str, int]):
    client = app.test_client()
    client.get("/pay/agent/login")
    no_token = client.post(
        "/pay/agent/login", data={"email": "agent@example.com", "password": PASSWORD}
    )
    assert no_token.status_code == 400
    assert client.get("/pay/agent/").status_code == 302
    login(client, "agent@example.com")
    assert client.post("/pay/agent/logout").status_code == 400
    assert client.get("/pay/agent/").status_code == 200


def test_next_only_leads_inside_the_console(app: Flask, users: dict[str, int]):
    client = app.test_client()
    page = client.get("/pay/agent/login")
    for target, expected in (
        ("https://evil.example/", "/pay/agent/"),
        ("//evil.example/pay/agent/", "/pay/agent/"),
        ("/pay/agent/customers/CUST-0001", "/pay/agent/customers/CUST-0001"),
    ):
        resp = client.post(
            "/pay/agent/login",
            data={
                "email": "agent@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": target,
            },
        )
        assert resp.status_code == 302 and resp.location == expected
        page = client.get("/pay/agent/login")
        client.post(
            "/pay/agent/logout", data={"csrf_token": csrf_of(client.get("/pay/agent/").text)}
        )
        page = client.get("/pay/agent/login")


def test_cookie_flags_and_security_headers(app: Flask, make_app, users: dict[str, int]):
    client = app.test_client()
    resp = login(client, "agent@example.com")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/pay/agent/")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"

    framed = make_app(
        CRM_PAY_FRAME_ANCESTORS="https://crm.example.com", CRM_PAY_SECURE_COOKIES=True
    )
    other = framed.test_client()
    page = other.get("/pay/agent/login")
    assert "frame-ancestors https://crm.example.com" in page.headers["Content-Security-Policy"]
    assert "Secure" in page.headers["Set-Cookie"]
