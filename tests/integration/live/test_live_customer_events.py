"""``POST {prefix}/p/<token>/events``: the customer page's field-validity flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import Users, new_payment, statuses, watch

from crm_pay.services.context import Context
from paytest import pay, token_of


@pytest.fixture
def link(ctx: Context, users: Users) -> tuple[str, str]:
    """(payment id, link token) of agent1's payment."""
    payment = new_payment(ctx, users.by_key["agent1"])
    return payment["id"], token_of(payment["pay_url"])


def _post(client: FlaskClient, token: str, body: Any, **kw: Any) -> Any:
    return client.post(f"/pay/p/{token}/events", json=body, **kw)


def test_a_flag_reaches_the_watching_agent(
    client: FlaskClient,
    link: tuple[str, str],
    connect: Callable[..., SocketIOTestClient],
) -> None:
    payment_id, token = link
    sc = connect("agent1")
    watch(sc, payment_id)
    resp = _post(client, token, {"field": "cvv", "valid": False})
    assert resp.status_code == 204 and resp.data == b""
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    [event] = statuses(sc)
    assert event["fields"] == {"cvv": False} and event["payment_id"] == payment_id


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"field": "cardholderName", "valid": True}, 422),
        ({"field": "number", "valid": "true"}, 422),
        ({"field": "number", "valid": 1}, 422),
        ({"field": "number"}, 422),
        ({"field": ["number"], "valid": True}, 422),
        ({"field": "number", "value": "4111111111111111"}, 422),
        (["number", True], 400),
        ("number", 400),
    ],
)
def test_anything_but_a_known_field_and_a_boolean_is_refused(
    client: FlaskClient,
    link: tuple[str, str],
    connect: Callable[..., SocketIOTestClient],
    body: Any,
    status: int,
) -> None:
    payment_id, token = link
    sc = connect("agent1")
    watch(sc, payment_id)
    resp = _post(client, token, body)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"]
    assert statuses(sc) == []


def test_not_json_and_oversized_reports_are_refused(
    client: FlaskClient, link: tuple[str, str]
) -> None:
    _, token = link
    form = client.post(f"/pay/p/{token}/events", data={"field": "cvv", "valid": "true"})
    assert form.status_code == 400
    big = _post(client, token, {"field": "cvv", "valid": True, "pad": "x" * 2000})
    assert big.status_code == 413


def test_unknown_token_is_404(client: FlaskClient, users: Users) -> None:
    assert _post(client, "not-a-token", {"field": "cvv", "valid": True}).status_code == 404


def test_a_closed_link_takes_no_more_reports(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    paid = new_payment(ctx, users.by_key["agent1"])
    pay(client, paid["pay_url"])
    used = _post(client, token_of(paid["pay_url"]), {"field": "cvv", "valid": True})
    assert used.status_code == 410 and used.get_json()["error"]["code"] == "link_used"

    cancelled = new_payment(ctx, users.by_key["agent1"])
    from crm_pay.services.payments import cancel_payment

    cancel_payment(ctx, cancelled["id"], actor="test")
    sc = connect("agent1")
    watch(sc, cancelled["id"])
    resp = _post(client, token_of(cancelled["pay_url"]), {"field": "cvv", "valid": True})
    assert resp.status_code == 410 and resp.get_json()["error"]["code"] == "link_cancelled"
    assert statuses(sc) == []


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_LIVE_FIELD_EVENTS_PER_MINUTE": 5}])
def test_reports_are_rate_limited_per_link(
    app: Flask, ctx: Context, client: FlaskClient, users: Users, link: tuple[str, str]
) -> None:
    _, token = link
    codes = [_post(client, token, {"field": "number", "valid": i % 2 == 0}) for i in range(7)]
    assert [r.status_code for r in codes] == [204] * 5 + [429] * 2
    assert codes[-1].headers["Retry-After"] == "60"
    assert codes[-1].get_json()["error"]["code"] == "rate_limited"
    # another link has its own budget
    other = new_payment(ctx, users.by_key["agent2"])
    other_token = token_of(other["pay_url"])
    assert _post(client, other_token, {"field": "cvv", "valid": True}).status_code == 204
