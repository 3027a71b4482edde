"""The admin's Twilio page: what to paste into Twilio (status callback and TaskRouter
URLs), whether the auth token is in the vault (never the token), storing it (CSRF, and a
fresh second factor for an admin who has one), and Test connection against the Twilio
stand-in with the real SDK: passing with the right token, failing in words with a wrong
one. Admin role only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay.persistence.models import AuditEntry
from crm_pay.services.context import Context
from crm_pay.services.secrets import get_secret
from crm_pay.testing import Clock
from paytest import csrf_of, login

PAGE = "/pay/admin/telephony/"
SECRET = "telephony.twilio.auth_token"  # noqa: S105 - the vault's name


@pytest.fixture
def twilio() -> Iterator[TwilioSandboxServer]:
    with TwilioSandboxServer(TwilioSandboxConfig()) as server:
        yield server


@pytest.fixture
def app_settings(twilio: TwilioSandboxServer) -> dict[str, Any]:
    return {
        "CRM_PAY_TWILIO_ACCOUNT_SID": twilio.config.account_sid,
        "CRM_PAY_TWILIO_BASE_URL": twilio.base_url,
        "CRM_PAY_TWILIO_PAY_CONNECTOR": "braintree_connector",
    }


def _store(admin: FlaskClient, token: str, *, csrf: bool = True) -> Any:
    data = {"auth_token": token}
    if csrf:
        data["csrf_token"] = csrf_of(admin.get(PAGE).text)
    return admin.post(f"{PAGE}auth-token", data=data, follow_redirects=True)


def _test(admin: FlaskClient) -> Any:
    return admin.post(
        f"{PAGE}test", data={"csrf_token": csrf_of(admin.get(PAGE).text)}, follow_redirects=True
    )


def test_the_page_shows_what_to_paste_into_twilio_and_never_the_token(
    admin: FlaskClient, twilio: TwilioSandboxServer, ctx: Context
) -> None:
    page = admin.get(PAGE)
    assert page.status_code == 200
    assert twilio.config.account_sid in page.text and "braintree_connector" in page.text
    assert 'value="http://shop.test/pay/telephony/twilio/status"' in page.text
    assert 'value="http://shop.test/pay/telephony/twilio/taskrouter"' in page.text
    assert 'id="auth-token-state">not set<' in page.text
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Test connection", page.text)
    assert 'id="telephony-link"' in admin.get("/pay/admin/").text  # linked from the overview

    stored = _store(admin, twilio.config.auth_token)

    assert "Auth token stored in the vault" in stored.text
    assert 'id="auth-token-state">set<' in stored.text
    assert twilio.config.auth_token not in stored.text  # shown never again
    assert get_secret(ctx, SECRET) == twilio.config.auth_token
    with ctx.db.transaction() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "secret.stored"))
        assert entry.subject == f"secret:{SECRET}" and entry.actor.startswith("user:")


def test_test_connection_passes_with_the_right_token_and_fails_in_words_with_a_wrong_one(
    admin: FlaskClient, twilio: TwilioSandboxServer, ctx: Context
) -> None:
    _store(admin, twilio.config.auth_token)
    passed = _test(admin)
    assert "Test connection passed ✓" in passed.text
    assert "crm-pay development stand-in (active)" in passed.text

    _store(admin, "not-the-accounts-token")  # the adapter is built again with the new one
    failed = _test(admin)
    assert "Test connection failed ✗" in failed.text
    assert "check the account SID and auth token" in failed.text
    assert "not-the-accounts-token" not in failed.text
    with ctx.db.transaction() as s:
        results = [
            e.data
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "telephony.tested"))
        ]
    assert [r["ok"] for r in results] == [True, False]


def test_test_connection_says_what_is_missing_without_a_token(admin: FlaskClient) -> None:
    resp = _test(admin)
    assert "Test connection failed ✗ No auth token in the vault yet" in resp.text


def test_a_bad_or_forged_save_stores_nothing(admin: FlaskClient, ctx: Context) -> None:
    blank = _store(admin, "two words")
    assert "Nothing was saved" in blank.text
    forged = _store(admin, "a-token-without-csrf", csrf=False)
    assert forged.status_code == 400
    assert get_secret(ctx, SECRET) is None


def test_only_admins_see_the_page(signed_in: Any) -> None:
    for who in ("agent", "supervisor"):
        client = signed_in(who)
        assert client.get(PAGE).status_code == 403
        resp = client.post(f"{PAGE}auth-token", data={"auth_token": "x"})
        assert resp.status_code in (400, 403)


def test_storing_the_token_needs_a_fresh_second_factor(
    app: Flask, users: dict[str, int], clock: Clock, ctx: Context
) -> None:
    app.extensions["crm_pay_mfa_required"] = frozenset({"admin"})
    admin = app.test_client()
    page = login(admin, "admin@example.com")
    seed = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    pending = re.search(r'name="pending" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = admin.post(
        "/pay/agent/mfa/enrol", data={"pending": pending, "code": pyotp.TOTP(seed).at(clock.now)}
    )
    pending = re.search(r'name="pending" value="([^"]+)"', done.text).group(1)  # type: ignore[union-attr]
    assert admin.post("/pay/agent/mfa/finish", data={"pending": pending}).status_code == 302
    clock.advance(int(app.config["CRM_PAY_MFA_STEP_UP_SECONDS"]) + 31)

    resp = admin.post(
        f"{PAGE}auth-token",
        data={"auth_token": "a-fresh-token", "csrf_token": csrf_of(admin.get(PAGE).text)},
    )

    assert resp.status_code == 302 and "/agent/security/verify" in resp.headers["Location"]
    assert get_secret(ctx, SECRET) is None
