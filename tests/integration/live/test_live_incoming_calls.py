"""A call handed to an agent pops on that agent's console only: each signed-in socket is
in its own user's room, the ``incoming_call`` event carries the whitelisted fields only,
and no other agent (nor an anonymous socket) receives it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import Users

from crm_pay.ports import CallEvent
from crm_pay.services import calls
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context

SID = "CA" + "ab" * 16


def _calls(sc: SocketIOTestClient) -> list[dict[str, Any]]:
    return [m["args"][0] for m in sc.get_received("/live") if m["name"] == "incoming_call"]


def test_only_the_addressed_agent_receives_the_call(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    ana, ben = connect("agent1"), connect("agent2")
    ana_second_tab = connect("agent1")
    boss = connect("super")
    assert connect(None).is_connected("/live") is False  # anonymous: refused
    key = create_api_key(ctx, name="telephony", role="supervisor")

    resp = client.post(
        "/pay/api/v1/calls",
        json={"caller": "+12125550101", "agent": "agent1@example.com", "call_sid": SID},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 202, resp.text

    (event,) = _calls(ana)
    assert set(event) == {"caller", "call_sid", "matches", "at"}
    assert event["caller"] == "+12125550101" and event["call_sid"] == SID
    assert event["matches"] == [
        {
            "crm_ref": "CUST-0001",
            "name": "Eleanor Whitfield",
            "url": f"/pay/agent/customers/CUST-0001?call_sid={SID}",
        }
    ]
    assert _calls(ana_second_tab) == [event]  # every tab of the agent's
    assert _calls(ben) == [] and _calls(boss) == []


def test_a_call_for_another_agent_never_reaches_this_one(
    ctx: Context, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    ana, ben = connect("agent1"), connect("agent2")

    calls.receive_call(
        ctx,
        CallEvent(caller="+14155550142", agent="agent2@example.com", call_sid=SID),
        actor="tests",
    )

    assert _calls(ana) == []
    (event,) = _calls(ben)
    assert sorted(m["crm_ref"] for m in event["matches"]) == ["CUST-0003", "CUST-0004"]
