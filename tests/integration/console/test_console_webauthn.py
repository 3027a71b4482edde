"""Security keys (WebAuthn) in the console: add a key on the Security page, sign in with
it instead of a code, refusals (wrong challenge or origin, a cloned key's counter, a
replayed answer) that start no session and change nothing, and removing a key. The key
is :class:`soft_authenticator.SoftKey`: real ES256 signatures and CBOR."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from soft_authenticator import SoftKey
from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry, WebauthnCredential
from crm_pay.services import mfa
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import csrf_of, login

ORIGIN = "http://localhost"  # Flask's test client host
EMAIL = "supervisor@example.com"


def _pending(html: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/pay/agent/").status_code == 200


@pytest.fixture
def seed(ctx: Context, users: dict[str, int]) -> str:
    """The supervisor has an authenticator app (keys are an extra option)."""
    secret = mfa.start_enrolment(ctx, users["supervisor"])
    mfa.confirm_enrolment(ctx, users["supervisor"], pyotp.TOTP(secret).at(ctx.now()))
    return secret


def _with_code(app: Flask, seed: str, clock: Clock) -> FlaskClient:
    client = app.test_client()
    clock.advance(30)
    page = login(client, EMAIL)
    resp = client.post(
        "/pay/agent/mfa/code",
        data={"pending": _pending(page.text), "code": pyotp.TOTP(seed).at(clock.now)},
    )
    assert resp.status_code == 302, resp.text
    return client


def _csrf(client: FlaskClient) -> str:
    return csrf_of(client.get("/pay/agent/security/").text)


def _add_key(client: FlaskClient, key: SoftKey, name: str = "Blue key") -> None:
    headers = {"X-CSRF-Token": _csrf(client)}
    got = client.post("/pay/agent/security/keys/options", headers=headers, json={})
    assert got.status_code == 200, got.text
    answer = key.create(got.json["options"], ORIGIN)
    done = client.post(
        "/pay/agent/security/keys/register",
        headers=headers,
        json={"credential": answer, "name": name},
    )
    assert done.status_code == 200, done.text


def _key_options(client: FlaskClient) -> tuple[str, dict, str]:
    """Password, then the code page's "Use a security key": (pending, options, signed)."""
    page = login(client, EMAIL)
    assert "Use a security key" in page.text
    pending = _pending(page.text)
    got = client.post("/pay/agent/mfa/key/options", data={"pending": pending})
    assert got.status_code == 200, got.text
    return pending, got.json["options"], got.json["challenge"]


def _answer(client: FlaskClient, pending: str, signed: str, credential: dict):  # type: ignore[no-untyped-def]
    return client.post(
        "/pay/agent/mfa/key/verify",
        data={"pending": pending, "challenge": signed, "credential": json.dumps(credential)},
    )


def test_add_a_key_and_sign_in_with_it(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    client = _with_code(app, seed, clock)
    page = client.get("/pay/agent/security/")
    assert "No security key added." in page.text and "Add a security key" in page.text
    key = SoftKey()
    _add_key(client, key, "Blue key")
    page = client.get("/pay/agent/security/")
    assert "Blue key" in page.text and "Remove" in page.text
    client.post("/pay/agent/logout", data={"csrf_token": csrf_of(page.text)})
    assert not _signed_in(client)

    pending, options, signed = _key_options(client)
    assert options["rpId"] == "localhost"
    resp = _answer(client, pending, signed, key.get(options, ORIGIN))
    assert resp.status_code == 302, resp.text
    assert _signed_in(client)
    with ctx.db.transaction() as s:
        row = s.scalars(select(WebauthnCredential)).one()
        assert row.sign_count == key.sign_count and row.last_used_at is not None
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert "mfa.webauthn_added" in actions

    # The same answer again (a replayed form) starts no second session.
    other = app.test_client()
    again = _answer(other, pending, signed, key.get(options, ORIGIN))
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    assert not _signed_in(other)


def test_a_key_answer_for_another_challenge_or_origin_is_refused(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    key = SoftKey()
    _add_key(_with_code(app, seed, clock), key)
    client = app.test_client()
    pending, options, signed = _key_options(client)

    forged = key.get({**options, "challenge": "A" * 43}, ORIGIN)
    resp = _answer(client, pending, signed, forged)
    assert resp.status_code == 401
    assert "could not be checked" in resp.text and "Nothing was changed" in resp.text
    assert not _signed_in(client)

    phished = key.get(options, "http://evil.example")
    resp = _answer(client, pending, signed, phished)
    assert resp.status_code == 401 and "could not be checked" in resp.text
    assert not _signed_in(client)

    # A tampered signed challenge is refused before the key's answer is looked at.
    resp = _answer(client, pending, signed + "x", key.get(options, ORIGIN))
    assert resp.status_code == 401 and "timed out" in resp.text
    assert not _signed_in(client)

    # The pending sign-in is still usable with the right answer.
    assert _answer(client, pending, signed, key.get(options, ORIGIN)).status_code == 302
    assert _signed_in(client)


def test_a_counter_that_did_not_grow_is_refused_as_a_cloned_key(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    key = SoftKey()
    _add_key(_with_code(app, seed, clock), key)
    stored = key.sign_count
    client = app.test_client()
    pending, options, signed = _key_options(client)
    resp = _answer(client, pending, signed, key.get(options, ORIGIN, count=stored))
    assert resp.status_code == 401 and "counter went backwards" in resp.text
    assert not _signed_in(client)
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebauthnCredential)).one().sign_count == stored


def test_registration_is_refused_for_a_wrong_origin_and_needs_the_csrf_header(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    client = _with_code(app, seed, clock)
    no_csrf = client.post("/pay/agent/security/keys/options", json={})
    assert no_csrf.status_code == 400 and no_csrf.json["error"]["code"] == "csrf_failed"
    headers = {"X-CSRF-Token": _csrf(client)}
    got = client.post("/pay/agent/security/keys/options", headers=headers, json={})
    answer = SoftKey().create(got.json["options"], "http://evil.example")
    resp = client.post(
        "/pay/agent/security/keys/register", headers=headers, json={"credential": answer}
    )
    assert resp.status_code == 400 and "could not be checked" in resp.json["error"]["message"]
    # The challenge was single-use: a correct answer to it now times out.
    answer = SoftKey().create(got.json["options"], ORIGIN)
    resp = client.post(
        "/pay/agent/security/keys/register", headers=headers, json={"credential": answer}
    )
    assert resp.status_code == 400 and "timed out" in resp.json["error"]["message"]
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebauthnCredential)).first() is None


def test_a_user_without_an_authenticator_app_cannot_add_a_key(
    app: Flask, users: dict[str, int], signed_in
) -> None:  # type: ignore[no-untyped-def]
    client = signed_in("agent")
    headers = {"X-CSRF-Token": _csrf(client)}
    resp = client.post("/pay/agent/security/keys/options", headers=headers, json={})
    assert resp.status_code == 400
    assert "Set up an authenticator app first" in resp.json["error"]["message"]


def test_remove_a_key(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    client = _with_code(app, seed, clock)
    _add_key(client, SoftKey(), "Old key")
    with ctx.db.transaction() as s:
        key_id = s.scalars(select(WebauthnCredential.id)).one()
    # Someone else's (or a missing) key: refused, nothing removed.
    resp = client.post(
        f"/pay/agent/security/keys/{key_id + 1}/remove", data={"csrf_token": _csrf(client)}
    )
    assert resp.status_code == 302
    assert "does not exist on your account" in client.get("/pay/agent/security/").text
    resp = client.post(
        f"/pay/agent/security/keys/{key_id}/remove", data={"csrf_token": _csrf(client)}
    )
    assert resp.status_code == 302
    page = client.get("/pay/agent/security/")
    assert "Old key” removed" in page.text and "No security key added." in page.text
    # The code page no longer offers a key.
    assert "Use a security key" not in login(app.test_client(), EMAIL).text


def test_an_old_registration_challenge_times_out(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    client = _with_code(app, seed, clock)
    headers = {"X-CSRF-Token": _csrf(client)}
    got = client.post("/pay/agent/security/keys/options", headers=headers, json={})
    clock.advance(181)
    answer = SoftKey().create(got.json["options"], ORIGIN)
    resp = client.post(
        "/pay/agent/security/keys/register", headers=headers, json={"credential": answer}
    )
    assert resp.status_code == 400 and "timed out" in resp.json["error"]["message"]
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebauthnCredential)).first() is None


def test_a_key_cannot_revive_a_sign_in_killed_by_wrong_codes(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    key = SoftKey()
    _add_key(_with_code(app, seed, clock), key)
    client = app.test_client()
    pending, options, signed = _key_options(client)
    for _ in range(mfa.MAX_WRONG_CODES):
        client.post("/pay/agent/mfa/code", data={"pending": pending, "code": "abcdef"})
    resp = _answer(client, pending, signed, key.get(options, ORIGIN))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _signed_in(client)


def test_an_admin_reset_of_mfa_also_removes_the_keys(
    app: Flask, ctx: Context, users: dict[str, int], clock: Clock, seed: str
) -> None:
    _add_key(_with_code(app, seed, clock), SoftKey())
    mfa.reset(ctx, EMAIL, actor="user:admin")
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebauthnCredential)).first() is None
