"""A customer trying again after a decline, the agent told in words when a field looks
wrong, and the agent's "ask again" for one field reaching the customer's pay page."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from livetest import Users, new_payment, statuses, watch

from crm_pay.live_publisher import clean_event
from crm_pay.services import live_access
from crm_pay.services.context import Context
from paytest import pay, token_of

DECLINED = "fake-processor-declined-visa-nonce"


def test_reopening_the_page_after_a_decline_starts_the_next_attempt(
    ctx: Context, client: FlaskClient, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    assert watch(sc, payment["id"])["snapshot"]["attempt"] == 0
    token = token_of(payment["pay_url"])
    client.post(f"/pay/p/{token}/events", json={"field": "number", "valid": True})
    pay(client, payment["pay_url"], nonce=DECLINED)
    before = statuses(sc)
    assert before[0]["attempt"] == 1  # typing before the first submit: attempt 1
    assert before[-1]["status"] == "declined"

    assert client.get(f"/pay/p/{token}").status_code == 200  # "Try again"
    client.post(f"/pay/p/{token}/events", json={"field": "cvv", "valid": False})
    events = statuses(sc)
    assert events[0] == {**events[0], "status": "declined", "attempt": 2}
    assert events[1]["fields"] == {"cvv": False} and events[1]["attempt"] == 2
    # a reload of the agent's page starts from the last attempt made
    assert watch(connect("agent1"), payment["id"])["snapshot"]["attempt"] == 1


def test_a_field_that_looks_wrong_is_flagged_for_the_agent(
    ctx: Context, client: FlaskClient, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    watch(sc, payment["id"])
    url = f"/pay/p/{token_of(payment['pay_url'])}/events"
    body = {"field": "expirationDate", "valid": False, "looks_wrong": True}
    assert client.post(url, json=body).status_code == 204
    # a valid field is never "wrong", whatever the page says
    assert client.post(url, json={**body, "valid": True}).status_code == 204
    bad = client.post(url, json={**body, "looks_wrong": "yes"})
    assert bad.status_code == 422
    problems = [e["field_problems"] for e in statuses(sc)]
    assert problems == [{"expirationDate": True}, {"expirationDate": False}]


def test_ask_again_reaches_the_pay_page_with_field_names_and_fixed_words_only(
    ctx: Context, client: FlaskClient, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    watch(sc, payment["id"])
    url = f"/pay/p/{token_of(payment['pay_url'])}/events"
    first = client.get(url)
    assert first.status_code == 200 and first.get_json()["requests"] == []
    after = first.get_json()["after"]

    live_access.ask_again(ctx, payment["id"], "expirationDate", actor="user:1:agent1")
    found = client.get(f"{url}?after={after}").get_json()
    assert found["requests"] == [
        {"field": "expirationDate", "message": live_access.ASK_AGAIN_WORDS["expirationDate"]}
    ]
    assert client.get(f"{url}?after={found['after']}").get_json()["requests"] == []
    # another payment's requests never show on this page
    other = new_payment(ctx, users.by_key["agent1"])
    live_access.ask_again(ctx, other["id"], "cvv", actor="user:1:agent1")
    assert client.get(f"{url}?after={found['after']}").get_json()["requests"] == []


def test_the_agent_is_told_live_and_a_closed_link_takes_no_request(
    ctx: Context, client: FlaskClient, users: Users, connect: Callable[..., SocketIOTestClient]
) -> None:
    payment = new_payment(ctx, users.by_key["agent1"])
    sc = connect("agent1")
    watch(sc, payment["id"])
    live_access.ask_again(ctx, payment["id"], "cvv", actor="user:1:agent1")
    told = statuses(sc)[-1]
    assert told["asked_again"] == "cvv" and told["fields"] == {"cvv": False}
    pay(client, payment["pay_url"])  # paid: nothing more to ask for
    try:
        live_access.ask_again(ctx, payment["id"], "cvv", actor="user:1:agent1")
    except Exception as exc:  # noqa: BLE001 - the service's refusal, checked below
        assert getattr(exc, "code", "") == "link_not_open"
    else:
        raise AssertionError("a paid payment took an 'ask again'")
    url = f"/pay/p/{token_of(payment['pay_url'])}/events"
    assert client.get(url).status_code == 410


def test_the_whitelist_keeps_only_known_field_names_for_the_new_keys() -> None:
    event = clean_event(
        "pay_1",
        {
            "asked_again": "4111111111111111",
            "field_problems": {"cvv": True, "pan": True, "number": "4111111111111111"},
            "attempt": True,
        },
    )
    assert event is not None
    assert event["field_problems"] == {"cvv": True}
    assert "asked_again" not in event and "attempt" not in event
    kept = clean_event("pay_1", {"asked_again": "expirationDate", "attempt": 3})
    assert kept is not None
    assert (kept["asked_again"], kept["attempt"]) == ("expirationDate", 3)
