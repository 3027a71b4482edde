"""Sign-in: passwords, sign-in delays and lock-out, idle timeout, session rotation, CSRF."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from console_helpers import COOKIE, console_cookie_of, set_console_cookie
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from crm_pay.current import get_context
from crm_pay.services.access import LOGIN_FAILED, create_user
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import PASSWORD, csrf_of, login


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


def test_the_hard_ceiling_locks_the_account_for_fifteen_minutes(
    make_app: Callable[..., Flask], users: dict[str, int], clock: Clock
):
    """The database's lock-out (a backstop, 100 by default) still works as configured;
    delays are set out of the way here to see it alone."""
    app = make_app(CRM_PAY_LOGIN_MAX_FAILURES=5, CRM_PAY_LOGIN_ACCOUNT_IP_FREE_FAILURES=50)
    get_context(app).clock = clock
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


def test_five_wrong_passwords_do_not_lock_the_account(app: Flask, users: dict[str, int]):
    """The default ceiling is far off: an attacker typing a victim's email five times
    costs the victim a one-second wait, not fifteen minutes."""
    client = app.test_client()
    for _ in range(5):
        assert login(client, "agent@example.com", "wrong password 123").status_code == 401
    time.sleep(1.1)
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


def test_after_five_failures_the_next_try_waits_and_says_how_long(
    app: Flask, users: dict[str, int]
):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "agent@example.com", "wrong password 123").status_code == 401
    waiting = login(client, "agent@example.com")  # even the right password waits
    assert waiting.status_code == 429
    assert waiting.headers["Retry-After"] == "1"
    assert "Too many wrong passwords for this account" in waiting.text
    assert "Wait 1 second and try again" in waiting.text
    time.sleep(1.1)
    assert login(client, "agent@example.com", "wrong password 123").status_code == 401
    longer = login(client, "agent@example.com")
    assert longer.status_code == 429 and longer.headers["Retry-After"] == "2"  # doubled
    assert "Wait 2 seconds" in longer.text
    time.sleep(2.1)
    assert login(client, "agent@example.com").status_code == 302  # the delay is over
    # The success forgot the failures from this address: a typo is a plain 401 again.
    other = app.test_client()
    assert login(other, "agent@example.com", "wrong password 123").status_code == 401


def test_one_agents_typos_never_lock_out_the_shift(ctx: Context, app: Flask):
    """Twenty agents behind one NAT address; one types a wrong password 30 times."""
    shift = [f"shift{n}@example.com" for n in range(20)]
    for email in shift:
        create_user(ctx, email=email, role="agent", password=PASSWORD)
    clumsy = app.test_client()
    answers = [
        login(clumsy, shift[0], "wrong password 123", ip="203.0.113.7").status_code
        for _ in range(30)
    ]
    assert answers[:5] == [401] * 5 and set(answers[5:]) <= {401, 429}
    assert 429 in answers
    # The clumsy agent waits, from that address only; at home the account still works.
    assert login(clumsy, shift[0], ip="203.0.113.7").status_code == 429
    assert login(app.test_client(), shift[0], ip="198.51.100.4").status_code == 302
    for email in shift[1:]:
        resp = login(app.test_client(), email, ip="203.0.113.7")
        assert resp.status_code == 302, (email, resp.text)


def test_failures_of_one_account_from_many_addresses_delay_that_account(
    app: Flask, users: dict[str, int]
):
    for n in range(20):  # 4 per address: no address alone reaches its five
        client = app.test_client()
        assert (
            login(client, "agent@example.com", "wrong pass 1", ip=f"10.1.0.{n // 4}").status_code
            == 401
        )
    waiting = login(app.test_client(), "agent@example.com", ip="10.9.9.9")
    assert waiting.status_code == 429 and "Wait 1 second" in waiting.text
    assert login(app.test_client(), "agent2@example.com", ip="10.1.0.1").status_code == 302


def _login_error(page: str) -> str:
    found = re.search(r'id="login-error"[^>]*>([^<]*)<', page)
    assert found is not None, page
    return found.group(1)


def test_unknown_accounts_wait_exactly_like_known_ones(app: Flask, users: dict[str, int]):
    answers = {}
    for email in ("agent@example.com", "nobody@example.com"):
        client = app.test_client()
        for _ in range(5):
            assert login(client, email, "wrong password 123").status_code == 401
        resp = login(client, email, "wrong password 123")
        answers[email] = (
            resp.status_code,
            resp.headers.get("Retry-After"),
            _login_error(resp.text),
        )
    assert answers["agent@example.com"] == answers["nobody@example.com"]


def test_one_address_failing_for_many_accounts_waits(
    make_app: Callable[..., Flask], users: dict[str, int]
):
    """Credential stuffing: many distinct accounts failing from one IP (100 per 10
    minutes by default; 3 here). Repeats of one account count once."""
    app = make_app(CRM_PAY_LOGIN_IP_ACCOUNTS_LIMIT="3/10 minutes")
    client = app.test_client()
    for _ in range(3):
        assert (
            login(client, "guess0@example.com", "guess guess 1", ip="10.0.0.9").status_code == 401
        )
    assert login(client, "agent@example.com", ip="10.0.0.9").status_code == 302  # 1 account
    for n in (1, 2):
        assert (
            login(app.test_client(), f"guess{n}@example.com", "guess 1", ip="10.0.0.9").status_code
            == 401
        )
    blocked = login(app.test_client(), "agent2@example.com", ip="10.0.0.9")
    assert blocked.status_code == 429
    assert "different accounts failed from this network" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 9 * 60
    assert login(app.test_client(), "agent2@example.com", ip="10.0.0.10").status_code == 302


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
    old_cookie = first.get_cookie(COOKIE, path="/pay")
    assert old_cookie is not None
    old_sid = console_cookie_of(first)["sid"]
    assert first.get("/pay/agent/").status_code == 200

    second = app.test_client()  # the same agent signs in again, e.g. on another desk
    login(second, "agent@example.com")
    assert console_cookie_of(second)["sid"] != old_sid
    assert second.get("/pay/agent/").status_code == 200

    thief = app.test_client()
    thief.set_cookie(COOKIE, old_cookie.value, path="/pay")
    resp = thief.get("/pay/agent/")
    assert resp.status_code == 302
    assert "signed in again elsewhere" in thief.get(resp.location).text
    assert first.get("/pay/agent/").status_code == 302


def test_a_cookie_from_before_sign_in_is_not_reused(app: Flask, users: dict[str, int]):
    client = app.test_client()
    client.get("/pay/agent/login")
    planted = {**console_cookie_of(client), "planted": "by an attacker"}
    before = planted["csrf"]
    set_console_cookie(client, planted)
    login(client, "agent@example.com")
    after = console_cookie_of(client)
    assert "planted" not in after
    assert after["csrf"] != before and after["sid"]


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


def test_a_console_cookie_signed_with_another_key_signs_nobody_in(
    app: Flask, users: dict[str, int]
) -> None:
    client = app.test_client()
    login(client, "agent@example.com")
    real = console_cookie_of(client)
    forged = URLSafeSerializer("the-host-apps-secret-key", salt="crm-pay console session")
    thief = app.test_client()
    thief.set_cookie(COOKIE, forged.dumps(real), path="/pay")
    resp = thief.get("/pay/agent/")
    assert resp.status_code == 302 and "/pay/agent/login" in resp.location
    assert client.get("/pay/agent/").status_code == 200  # the real one still works


def test_the_console_cookie_is_scoped_to_crm_pay(app: Flask, users: dict[str, int]) -> None:
    client = app.test_client()
    page = client.get("/pay/agent/login")
    (header,) = [h for h in page.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    assert "Path=/pay" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert not [h for h in page.headers.getlist("Set-Cookie") if h.startswith("session=")]
    # an unchanged cookie is not sent again
    again = client.get("/pay/agent/login")
    assert not again.headers.getlist("Set-Cookie")
