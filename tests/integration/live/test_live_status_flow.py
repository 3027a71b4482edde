"""An agent watching their own payment sees it live, through the real endpoints: link
opened -> each field valid -> processing -> approved with the receipt number (or declined
with plain words), and no message ever carries a card number."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import requests
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import Users, new_payment, statuses, watch

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.services.context import Context
from paytest import pay, token_of
from vault.pan import find_pans

FIELDS = ("number", "expirationDate", "cvv", "postalCode")
TEST_VISA = "4111111111111111"


def _report(client: FlaskClient, token: str, field: str, valid: bool) -> int:
    return client.post(f"/pay/p/{token}/events", json={"field": field, "valid": valid}).status_code


def test_agent_sees_opened_fields_processing_and_approval(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    assert sc.is_connected("/live")

    ack = watch(sc, payment["id"])
    assert ack["ok"] is True
    assert ack["snapshot"]["payment_id"] == payment["id"]
    assert ack["snapshot"]["status"] == "awaiting_customer"
    assert ack["snapshot"]["link"] == "sent"
    assert ack["snapshot"]["attempts_left"] == 5

    token = token_of(payment["pay_url"])
    assert client.get(f"/pay/p/{token}").status_code == 200
    for field in FIELDS:
        assert _report(client, token, field, True) == 204
    assert pay(client, payment["pay_url"]).status_code == 200

    events = statuses(sc)
    assert [e.get("link") for e in events[:1]] == ["opened"]
    assert [e["fields"] for e in events[1:5]] == [{f: True} for f in FIELDS]
    assert events[5]["status"] == "processing"
    final = events[-1]
    assert final["status"] == "submitted_for_settlement"
    assert final["receipt_number"].startswith("R-")
    for event in events:
        assert event["payment_id"] == payment["id"]
        assert isinstance(event["at"], str)
    # the whitelist: nothing else reaches the agent's screen
    allowed = {"payment_id", "status", "link", "fields", "receipt_number", "decline"}
    allowed |= {"attempts_left", "at", "attempt", "field_problems"}
    assert all(set(e) <= allowed for e in events)

    # a second look (e.g. after a page reload) starts from the final state
    again = watch(connect("agent1"), payment["id"])
    assert again["snapshot"]["status"] == "submitted_for_settlement"
    assert again["snapshot"]["receipt_number"] == final["receipt_number"]
    assert again["snapshot"]["link"] == "opened"


def test_a_decline_arrives_in_plain_words_with_what_to_do_next(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    assert watch(sc, payment["id"])["ok"]

    pay(client, payment["pay_url"], nonce="fake-processor-declined-visa-nonce")

    final = statuses(sc)[-1]
    assert final["status"] == "declined"
    assert set(final["decline"]) == {"message", "next_step"}  # no internal code
    assert final["decline"]["message"] and final["decline"]["next_step"]
    snap = watch(connect("agent1"), payment["id"])["snapshot"]
    assert snap["decline"] == final["decline"]
    assert snap["attempts_left"] == 4


# An event's timestamps (ISO 8601, microseconds) can hold "4111" by chance: they are
# taken out before looking for the test card's first digits.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


def _scan(event: Any) -> None:
    text = json.dumps(event)
    assert "4111" not in _TIMESTAMP.sub("[time]", text)
    assert not find_pans(text)


def test_no_live_message_ever_carries_a_card_number(
    ctx: Context,
    client: FlaskClient,
    users: Users,
    sandbox: SandboxServer,
    connect: Callable[..., SocketIOTestClient],
) -> None:
    """A hosted-fields payment with Braintree's test Visa, watched by its agent and by a
    supervisor: every message either receives is scanned."""
    payment = new_payment(ctx, users.by_key["agent1"], amount="75.00")
    agent, supervisor = connect("agent1"), connect("super")
    acks = [watch(agent, payment["id"]), watch(supervisor, payment["id"])]
    token = token_of(payment["pay_url"])
    client.get(f"/pay/p/{token}")
    for field in FIELDS:
        _report(client, token, field, False)
        _report(client, token, field, True)

    # What the sandbox's hosted-fields iframe does: tokenize on the PSP origin.
    client_token = json.loads(base64.b64decode(ctx.psp.client_token()))
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={
            "authorizationFingerprint": client_token["authorizationFingerprint"],
            "number": "4111 1111 1111 1111",
            "expirationDate": "12/30",
            "cvv": "123",
            "postalCode": "94107",
        },
        timeout=5,
    ) as tok:
        nonce = tok.json()["nonce"]
    assert client.post(f"/pay/p/{token}/pay", data={"payment_method_nonce": nonce}).status_code
    # a caller passing card data by mistake is stopped at the publisher
    ctx.publish(payment["id"], {"status": "processing", "note": "card 4111 1111 1111 1111"})
    ctx.publish(payment["id"], {"receipt_number": "4111 1111 1111 1111"})

    received = [*acks]
    for sc in (agent, supervisor):
        events = statuses(sc)
        assert events[-1]["status"] == "processing"  # the refused keys were dropped
        assert any(e.get("receipt_number") for e in events)
        received += events
    assert len(received) > 20
    for message in received:
        _scan(message)
