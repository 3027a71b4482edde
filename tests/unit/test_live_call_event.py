"""The ``incoming_call`` whitelist: the caller's number, the call SID and the matches'
id, name and console path; anything else is dropped, a card number never passes, and an
event without a valid caller or call SID is not sent at all."""

from __future__ import annotations

from typing import Any

from crm_pay.live_publisher import (
    CALL_EVENT,
    NAMESPACE,
    agent_room,
    clean_call_event,
    make_agent_publisher,
)

SID = "CA" + "0f" * 16
MATCH = {
    "crm_ref": "CUST-0001",
    "name": "Eleanor Whitfield",
    "url": f"/pay/agent/customers/CUST-0001?call_sid={SID}",
}


class Emitter:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, str, str]] = []

    def emit(self, event: str, data: Any = None, *, to: str, namespace: str) -> None:
        self.sent.append((event, data, to, namespace))


def test_only_whitelisted_fields_leave() -> None:
    message = clean_call_event(
        {
            "caller": "+12125550101",
            "call_sid": SID,
            "matches": [{**MATCH, "email": "e@example.com", "balance": "12.00"}],
            "agent_email": "agent@example.com",
        }
    )
    assert message is not None
    assert set(message) == {"caller", "call_sid", "matches", "at"}
    assert message["matches"] == [MATCH]


def test_an_event_without_a_caller_or_call_sid_is_not_sent() -> None:
    assert clean_call_event({"caller": "212 555 0101", "call_sid": SID}) is None
    assert clean_call_event({"caller": "+12125550101", "call_sid": "CA123"}) is None
    assert clean_call_event({"caller": "+12125550101"}) is None
    # Braintree's Visa test number is no phone number (and never leaves as one)
    assert clean_call_event({"caller": "4111111111111111", "call_sid": SID}) is None
    assert clean_call_event({"caller": "+4111111111111111", "call_sid": SID}) is None


def test_bad_or_card_bearing_matches_are_dropped() -> None:
    message = clean_call_event(
        {
            "caller": "+12125550101",
            "call_sid": SID,
            "matches": [
                {**MATCH, "name": "Card 4111 1111 1111 1111"},
                {**MATCH, "url": "https://evil.example/"},
                {**MATCH, "url": "//evil.example/x"},
                {"crm_ref": "CUST-0002"},
                "CUST-0003",
                MATCH,
            ]
            + [MATCH] * 30,
        }
    )
    assert message is not None
    assert message["matches"][0] == MATCH
    assert len(message["matches"]) == 20
    assert "4111" not in repr(message)


def test_the_publisher_sends_to_the_agents_room_only() -> None:
    emitter = Emitter()
    publish = make_agent_publisher(emitter)

    publish("7", {"caller": "+12125550101", "call_sid": SID, "matches": [MATCH]})
    publish("7", {"caller": "not a number", "call_sid": SID})

    ((event, data, room, namespace),) = emitter.sent
    assert (event, room, namespace) == (CALL_EVENT, agent_room("7"), NAMESPACE)
    assert room == "agent:7" and data["matches"] == [MATCH]
