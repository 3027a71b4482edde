"""MFA in the console: enrolment at sign-in for roles that require it, codes, replay,
recovery codes, the Security page, reset by an admin, step-up before secret changes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import select

from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError
from crm_pay.persistence.models import MfaRecoveryCode, User
from crm_pay.services import mfa
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import csrf_of, login


@pytest.fixture
def mfa_on(app: Flask) -> None:
    """The production default: supervisors and admins must use a second factor."""
    app.extensions["crm_pay_mfa_required"] = frozenset({"supervisor", "admin"})


def _pending(html: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', html)
    assert found, "page has no pending sign-in token"
    return found.group(1)


def _seed(html: str) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert found, "page shows no TOTP secret"
    return found.group(1)


def _codes(html: str) -> list[str]:
    return re.findall(r"<li><code>((?:[0-9a-f]{5}-){3}[0-9a-f]{5})</code></li>", html)


def _enrol(client: FlaskClient, email: str, clock: Clock) -> tuple[str, list[str]]:
    """Sign in with the password, enrol through the pages; returns (seed, codes)."""
    page = login(client, email)
    assert page.status_code == 200 and "Set up an authenticator app" in page.text
    seed = _seed(page.text)
    assert 'src="data:image/svg+xml' in page.text  # the QR code, inline (CSP: img data:)
    done = client.post(
        "/pay/agent/mfa/enrol",
        data={"pending": _pending(page.text), "code": pyotp.TOTP(seed).at(clock.now)},
    )
    assert done.status_code == 200, done.text
    codes = _codes(done.text)
    assert len(codes) == 10
    started = client.post("/pay/agent/mfa/finish", data={"pending": _pending(done.text)})
    assert started.status_code == 302
    # The "I saved them" form works once: a copy of it starts no second session.
    copy = client.application.test_client()
    again = copy.post("/pay/agent/mfa/finish", data={"pending": _pending(done.text)})
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    assert not _signed_in(copy)
    return seed, codes


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/pay/agent/").status_code == 200


def _sign_out(client: FlaskClient) -> None:
    page = client.get("/pay/agent/")
    client.post("/pay/agent/logout", data={"csrf_token": csrf_of(page.text)})


def test_supervisor_must_enrol_and_then_signs_in_with_a_code(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    page = login(client, "supervisor@example.com")
    assert not _signed_in(client)  # the password alone starts nothing
    client = app.test_client()
    seed, _ = _enrol(client, "supervisor@example.com", clock)
    assert _signed_in(client)
    _sign_out(client)
    assert not _signed_in(client)

    clock.advance(30)
    page = login(client, "supervisor@example.com")
    assert "Enter your code" in page.text and not _signed_in(client)
    resp = client.post(
        "/pay/agent/mfa/code",
        data={"pending": _pending(page.text), "code": pyotp.TOTP(seed).at(clock.now)},
    )
    assert resp.status_code == 302
    assert _signed_in(client)


def test_agent_is_not_asked_for_a_code(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    assert login(client, "agent@example.com").status_code == 302
    assert _signed_in(client)


def test_wrong_code_is_refused_clearly_and_starts_nothing(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    seed, _ = _enrol(client, "admin@example.com", clock)
    _sign_out(client)
    page = login(client, "admin@example.com")
    pending = _pending(page.text)
    good = pyotp.TOTP(seed).at(clock.now)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": wrong})
    assert resp.status_code == 401
    assert "That code is not right. Nothing was changed" in resp.text
    assert not _signed_in(client)
    # A forged or tampered pending token is refused: sign in again.
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending + "x", "code": good})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _signed_in(client)


def test_five_wrong_codes_end_the_pending_sign_in(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    seed, _ = _enrol(client, "admin@example.com", clock)
    _sign_out(client)
    clock.advance(30)
    pending = _pending(login(client, "admin@example.com").text)
    for _ in range(mfa.MAX_WRONG_CODES - 1):
        resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": "000000"})
        assert resp.status_code == 401
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": "000000"})
    assert resp.status_code == 302  # back to sign-in
    good = pyotp.TOTP(seed).at(clock.now)
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": good})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _signed_in(client)
    # A new password sign-in gets a fresh count.
    pending = _pending(login(client, "admin@example.com").text)
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": good})
    assert resp.status_code == 302 and _signed_in(client)


def test_pending_token_times_out(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    seed, _ = _enrol(client, "admin@example.com", clock)
    _sign_out(client)
    pending = _pending(login(client, "admin@example.com").text)
    # The code arrives just after CRM_PAY_MFA_PENDING_SECONDS (itsdangerous reads the
    # real clock, so its clock is moved on, not the test's).
    issued = TimestampSigner.get_timestamp
    late = get_context(app).config.mfa_pending_seconds + 1
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued(self) + late)
    resp = client.post(
        "/pay/agent/mfa/code", data={"pending": pending, "code": pyotp.TOTP(seed).at(clock.now)}
    )
    assert resp.status_code == 302 and not _signed_in(client)


def test_replayed_code_is_refused(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    seed, _ = _enrol(client, "admin@example.com", clock)
    _sign_out(client)
    clock.advance(30)
    code = pyotp.TOTP(seed).at(clock.now)
    pending = _pending(login(client, "admin@example.com").text)
    assert (
        client.post("/pay/agent/mfa/code", data={"pending": pending, "code": code}).status_code
        == 302
    )
    other = app.test_client()
    pending = _pending(login(other, "admin@example.com").text)
    resp = other.post("/pay/agent/mfa/code", data={"pending": pending, "code": code})
    assert resp.status_code == 401 and "already used" in resp.text
    assert not _signed_in(other)


def test_recovery_code_works_once(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    client = app.test_client()
    _, codes = _enrol(client, "admin@example.com", clock)
    _sign_out(client)
    pending = _pending(login(client, "admin@example.com").text)
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": codes[0].upper()})
    assert resp.status_code == 302 and _signed_in(client)
    page = client.get("/pay/agent/security/")
    assert 'id="recovery-left">9<' in page.text
    _sign_out(client)
    pending = _pending(login(client, "admin@example.com").text)
    resp = client.post("/pay/agent/mfa/code", data={"pending": pending, "code": codes[0]})
    assert resp.status_code == 401 and not _signed_in(client)


def test_recovery_codes_are_stored_hashed_and_seed_sealed(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    seed, codes = _enrol(app.test_client(), "admin@example.com", clock)
    with ctx.db.transaction() as s:
        stored = [r.code_hash for r in s.scalars(select(MfaRecoveryCode))]
        secret = s.get(User, users["admin"]).totp_secret
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert seed not in (secret or "")


def test_voluntary_enrolment_for_an_agent_and_regenerate(
    app: Flask, signed_in: Callable[[str], FlaskClient], clock: Clock, mfa_on: None
) -> None:
    agent = signed_in("agent")
    page = agent.get("/pay/agent/security/")
    assert "Two-step sign-in is <strong>off</strong>" in page.text
    page = agent.post("/pay/agent/security/enrol", data={"csrf_token": csrf_of(page.text)})
    seed = _seed(page.text)
    bad = agent.post(
        "/pay/agent/security/confirm", data={"csrf_token": csrf_of(page.text), "code": "12"}
    )
    assert bad.status_code == 400 and "not right" in bad.text
    done = agent.post(
        "/pay/agent/security/confirm",
        data={"csrf_token": csrf_of(page.text), "code": pyotp.TOTP(seed).at(clock.now)},
    )
    first = _codes(done.text)
    assert len(first) == 10
    page = agent.get("/pay/agent/security/")
    again = agent.post(
        "/pay/agent/security/recovery-codes", data={"csrf_token": csrf_of(page.text)}
    )
    assert set(_codes(again.text)).isdisjoint(first)
    _sign_out(agent)
    clock.advance(30)
    page = login(agent, "agent@example.com")
    assert "Enter your code" in page.text  # enrolled now, so asked even if not required
    resp = agent.post(
        "/pay/agent/mfa/code", data={"pending": _pending(page.text), "code": first[0]}
    )
    assert resp.status_code == 401  # the regenerated set replaced the first


def test_admin_resets_mfa_and_user_enrols_again(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    super_client = app.test_client()
    _enrol(super_client, "supervisor@example.com", clock)
    clock.advance(30)
    admin = app.test_client()
    _enrol(admin, "admin@example.com", clock)
    page = admin.get("/pay/admin/users")
    assert f'data-mfa="{users["supervisor"]}">TOTP<' in page.text
    resp = admin.post(
        f"/pay/admin/users/{users['supervisor']}/reset-mfa", data={"csrf_token": csrf_of(page.text)}
    )
    assert resp.status_code == 302
    page = admin.get("/pay/admin/users")
    assert "MFA of supervisor@example.com was reset" in page.text
    assert f'data-mfa="{users["supervisor"]}">none<' in page.text
    assert not _signed_in(super_client)  # their sessions ended
    assert "Set up an authenticator app" in login(app.test_client(), "supervisor@example.com").text


def test_cli_reset_mfa(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    _enrol(app.test_client(), "admin@example.com", clock)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm-pay", "users", "reset-mfa", "nobody@example.com"])
    assert result.exit_code != 0 and "No user with email" in result.output
    assert mfa.status(ctx, users["admin"]).enrolled
    result = runner.invoke(args=["crm-pay", "users", "reset-mfa", "Admin@example.com"])
    assert result.exit_code == 0, result.output
    assert "MFA of admin@example.com reset" in result.output
    assert not mfa.status(ctx, users["admin"]).enrolled


def test_step_up_before_connector_secret_change(
    app: Flask, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    admin = app.test_client()
    seed, _ = _enrol(admin, "admin@example.com", clock)
    form_page = admin.get("/pay/admin/connectors/new?kind=webhook")
    data = {
        "csrf_token": csrf_of(form_page.text),
        "name": "hook",
        "setting-url": "https://receiver.example/crm-pay",
        "secret-signing_secret": "whsec-step-up-test-secret-value",
    }
    clock.advance(int(app.config["CRM_PAY_MFA_STEP_UP_SECONDS"]) + 31)
    resp = admin.post("/pay/admin/connectors/new?kind=webhook", data=data)
    assert resp.status_code == 302 and "/agent/security/verify" in resp.headers["Location"]
    verify = admin.get(resp.headers["Location"])
    assert "Nothing was saved" in verify.text
    assert admin.get("/pay/admin/connectors/hook").status_code == 404
    resp = admin.post(
        "/pay/agent/security/verify",
        data={
            "csrf_token": csrf_of(verify.text),
            "next": "/pay/admin/connectors/new?kind=webhook",
            "code": pyotp.TOTP(seed).at(clock.now),
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/pay/admin/connectors/new?kind=webhook")
    again = admin.post("/pay/admin/connectors/new?kind=webhook", data=data)
    assert again.status_code == 302, again.text
    assert again.headers["Location"].endswith("/pay/admin/connectors/hook")


def test_unknown_required_role_stops_start_up(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigurationError, match="unknown role.*boss"):
        make_app(CRM_PAY_MFA_REQUIRED_ROLES="supervisor,boss")
    assert CrmPayConfig(mfa_required_roles=" Admin , ").mfa_roles == {"admin"}
    assert CrmPayConfig(mfa_required_roles="").mfa_roles == frozenset()


def test_vault_rotation_rewraps_totp_seeds(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, mfa_on: None
) -> None:
    """After `crm-pay vault rotate` the old key can go: the seed opens with the new one."""
    from crm_pay.services.secrets import rotate_secrets
    from vault import KeyRing

    seed, _ = _enrol(app.test_client(), "admin@example.com", clock)
    old = ctx.keyring.to_config()
    new = f"k2:{KeyRing.generate_key()}"
    ctx.keyring = KeyRing.from_config(f"{new},{old}")
    done, total = rotate_secrets(ctx)
    assert (done, total) == (1, 1)
    ctx.keyring = KeyRing.from_config(new)
    clock.advance(30)
    assert mfa.verify(ctx, users["admin"], pyotp.TOTP(seed).at(clock.now)) == "totp"
