"""Only the agent who created a payment, and supervisors, may follow it live; sockets
without a signed-in console user are refused."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import Users, new_payment, statuses, watch

from crm_pay.services.access import Principal, create_user
from crm_pay.services.context import Context
from crm_pay.services.live_access import can_watch
from paytest import live_socket, pay

NOT_ALLOWED = {"ok": False, "error": "not allowed"}


def test_another_agent_cannot_join_and_receives_nothing(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    intruder = connect("agent2")
    assert intruder.is_connected("/live")
    assert watch(intruder, payment["id"]) == NOT_ALLOWED

    pay(client, payment["pay_url"])

    assert statuses(intruder) == []


def test_a_supervisor_can_follow_any_agents_payment(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    supervisor = connect("super")
    ack = watch(supervisor, payment["id"])
    assert ack["ok"] is True and ack["snapshot"]["status"] == "awaiting_customer"

    pay(client, payment["pay_url"])

    assert statuses(supervisor)[-1]["status"] == "submitted_for_settlement"


def test_anonymous_and_unknown_users_are_refused(
    users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    assert not connect(None).is_connected("/live")
    assert not connect("nobody").is_connected("/live")


@pytest.mark.parametrize(
    "payload",
    [None, "pay_x", 42, [], {}, {"payment_id": None}, {"payment_id": 7}, {"payment_id": "x" * 500}],
)
def test_malformed_watch_requests_are_refused(
    users: Users, connect: Callable[..., SocketIOTestClient], payload: object
) -> None:
    sc = connect("super")
    ack = sc.emit("watch", payload, namespace="/live", callback=True)
    assert ack == NOT_ALLOWED


def test_an_unknown_payment_is_refused_like_someone_elses(
    users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    assert watch(connect("super"), "pay_" + "0" * 32) == NOT_ALLOWED


def test_unwatch_stops_the_events(
    ctx: Context, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    assert watch(sc, payment["id"])["ok"]
    ctx.publish(payment["id"], {"status": "awaiting_customer", "link": "sent"})
    assert len(statuses(sc)) == 1
    ack = sc.emit("unwatch", {"payment_id": payment["id"]}, namespace="/live", callback=True)
    assert ack == {"ok": True}
    ctx.publish(payment["id"], {"status": "awaiting_customer", "link": "opened"})
    assert statuses(sc) == []


def test_can_watch_rules(ctx: Context, users: Users) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    agent1, agent2, supervisor = (users.by_key[k] for k in ("agent1", "agent2", "super"))
    admin = users.add("admin", "admin")
    assert can_watch(ctx, agent1, payment["id"])
    assert not can_watch(ctx, agent2, payment["id"])
    assert can_watch(ctx, supervisor, payment["id"])
    assert can_watch(ctx, admin, payment["id"])
    assert not can_watch(ctx, None, payment["id"])
    # the same user after an email change: identity is kind and id, as for the
    # payment page (policy.owns), so they still follow their own payment
    assert can_watch(ctx, Principal("user", agent1.id, "other@example.com", "agent"), payment["id"])
    # an API key that happens to share the user's id is another actor
    assert not can_watch(ctx, Principal("api_key", agent1.id, agent1.name, "agent"), payment["id"])


def test_the_console_sign_in_session_authenticates_the_socket(app: Flask, ctx: Context) -> None:
    """No stand-in here: crm-pay's console cookie from the real sign-in form."""
    user_id = create_user(
        ctx, email="agent@example.com", role="agent", password="a-long-test-password"
    )
    mine = new_payment(ctx, Principal("user", user_id, "agent@example.com", "agent"))
    theirs = new_payment(ctx, Principal("user", user_id + 1, "x@example.com", "agent"))
    http = app.test_client()
    assert not live_socket(http).is_connected("/live")

    form = http.get("/pay/agent/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    signed_in = http.post(
        "/pay/agent/login",
        data={
            "email": "agent@example.com",
            "password": "a-long-test-password",
            "csrf_token": csrf.group(1),
        },
    )
    assert signed_in.status_code == 302

    sc = live_socket(http)
    assert sc.is_connected("/live")
    assert watch(sc, mine["id"])["ok"] is True
    assert watch(sc, theirs["id"]) == NOT_ALLOWED
    sc.disconnect(namespace="/live")
