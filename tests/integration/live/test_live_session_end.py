"""A live-status socket lives only as long as the console session it was opened with:
sign-out, "sign out everywhere" and revocation (as on deactivation) close it within a
second, and a revoked socket's next message is refused. No stand-in: the real sign-in."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import new_payment, watch

from agent_ui.live_socket import SWEEP_SECONDS, socketio
from crm_pay.live_publisher import room_for
from crm_pay.services import console_sessions
from crm_pay.services.access import Principal, create_user
from crm_pay.services.context import Context
from paytest import csrf_of as _csrf
from paytest import live_socket

PASSWORD = "a-long-test-password"
EMAIL = "agent@example.com"


def _sign_in(app: Flask) -> FlaskClient:
    http = app.test_client()
    form = http.get("/pay/agent/login").text
    resp = http.post(
        "/pay/agent/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": _csrf(form)}
    )
    assert resp.status_code == 302
    return http


def _closed_within(sc: SocketIOTestClient, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not sc.is_connected("/live"):
            return True
        time.sleep(0.02)
    return not sc.is_connected("/live")


@pytest.fixture
def agent_id(app: Flask, ctx: Context) -> int:
    return create_user(ctx, email=EMAIL, role="agent", password=PASSWORD)


@pytest.fixture
def sockets(app: Flask) -> Iterator[list[SocketIOTestClient]]:
    opened: list[SocketIOTestClient] = []
    yield opened
    for sc in opened:
        if sc.is_connected("/live"):
            sc.disconnect(namespace="/live")
    time.sleep(SWEEP_SECONDS * 2)  # let this app's sweep thread notice and stop


def _socket(app: Flask, http: FlaskClient, opened: list[SocketIOTestClient]) -> SocketIOTestClient:
    sc = live_socket(http)
    opened.append(sc)
    assert sc.is_connected("/live")
    return sc


def test_sign_out_closes_the_socket_within_a_second(
    app: Flask, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    http = _sign_in(app)
    sc = _socket(app, http, sockets)
    http.post("/pay/agent/logout", data={"csrf_token": _csrf(http.get("/pay/agent/").text)})
    assert _closed_within(sc, 1.0)


def test_a_socket_opened_with_a_copied_cookie_closes_on_sign_out_everywhere(
    app: Flask, ctx: Context, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    http = _sign_in(app)
    cookie = http.get_cookie("crm_pay_session", path="/pay")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("crm_pay_session", cookie.value, path="/pay")
    mine, stolen = _socket(app, http, sockets), _socket(app, thief, sockets)
    payment = new_payment(ctx, Principal("user", agent_id, EMAIL, "agent"))
    assert watch(stolen, payment["id"])["ok"] is True

    csrf = _csrf(http.get("/pay/agent/").text)
    assert http.post("/pay/agent/logout/everywhere", data={"csrf_token": csrf}).status_code == 302

    assert _closed_within(stolen, 1.0) and _closed_within(mine, 1.0)
    # nobody is left in the payment's room to receive its events
    assert list(socketio.server.manager.get_participants("/live", room_for(payment["id"]))) == []


def test_revocation_from_another_process_closes_the_socket(
    app: Flask, ctx: Context, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    """Another web process or the CLI only writes the database; the sweep of the
    process holding the socket reads it."""
    sc = _socket(app, _sign_in(app), sockets)
    assert console_sessions.revoke_all_for_user(ctx, agent_id, reason="deactivated") == 1
    assert _closed_within(sc, 1.0)


def test_a_revoked_sockets_next_message_is_refused_and_closes_it(
    app: Flask, ctx: Context, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    sc = _socket(app, _sign_in(app), sockets)
    payment = new_payment(ctx, Principal("user", agent_id, EMAIL, "agent"))
    console_sessions.revoke_all_for_user(ctx, agent_id)
    assert watch(sc, payment["id"]) == {"ok": False, "error": "not allowed"}
    assert not sc.is_connected("/live")


def test_a_revoked_cookie_cannot_open_a_new_socket(
    app: Flask, ctx: Context, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    http = _sign_in(app)
    console_sessions.revoke_all_for_user(ctx, agent_id)
    sc = live_socket(http)
    sockets.append(sc)
    assert not sc.is_connected("/live")


def test_a_live_session_keeps_its_socket(
    app: Flask, ctx: Context, agent_id: int, sockets: list[SocketIOTestClient]
) -> None:
    sc = _socket(app, _sign_in(app), sockets)
    time.sleep(SWEEP_SECONDS * 3)
    assert sc.is_connected("/live")
