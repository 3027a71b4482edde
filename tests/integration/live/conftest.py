"""Fixtures for live status: console users, and Socket.IO test clients signed in as them.

Sign-in is the console's business (agent_ui.auth); here ``agent_ui.live_socket.current_principal``
is replaced by a stand-in that reads the user from a test-only header of the socket's
connect request. One test (test_live_access) signs in through the real login form."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient
from livetest import HEADER, Users

from agent_ui import live_socket as live_ui
from crm_pay.services.context import Context


@pytest.fixture
def users(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Users:
    found = Users(ctx)
    found.add("agent1", "agent")
    found.add("agent2", "agent")
    found.add("super", "supervisor")
    monkeypatch.setattr(live_ui, "current_principal", found.principal_for_request)
    return found


@pytest.fixture
def connect(app: Flask) -> Iterator[Callable[..., SocketIOTestClient]]:
    """``connect("agent1")``: a Socket.IO test client on ``/live`` (None: anonymous)."""
    opened: list[SocketIOTestClient] = []

    def _connect(user: str | None) -> SocketIOTestClient:
        headers = {HEADER: user} if user else {}
        sc = live_ui.socketio.test_client(
            app, namespace="/live", flask_test_client=app.test_client(), headers=headers
        )
        opened.append(sc)
        return sc

    yield _connect
    for sc in opened:
        if sc.is_connected("/live"):
            sc.disconnect(namespace="/live")
