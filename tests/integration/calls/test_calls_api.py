"""A telephony platform reports that a call reached an agent (``POST /api/v1/calls``):
the caller's number is matched to CRM customers, the call is remembered for that agent's
keypad payment, audited once, and a bad request is refused in words with nothing stored
and nobody told. The telephony platform's key needs ``calls.notify`` (supervisor)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import AuditEntry, CallRecord
from crm_pay.services import access, calls
from crm_pay.services.context import Context

URL = "/pay/api/v1/calls"
SID = "CA" + "0123456789abcdef" * 2
OTHER_SID = "CA" + "fedcba9876543210" * 2


class Pushed:
    """``ctx.live_agent`` as the services see it: what each agent would be sent."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, user_id: str, event: dict[str, Any]) -> None:
        self.events.append((user_id, event))


@pytest.fixture
def pushed(ctx: Context) -> Pushed:
    ctx.live_agent = pushed = Pushed()
    return pushed


def _call(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    payload = {"caller": "+12125550101", "agent": "agent@example.com", "call_sid": SID}
    payload.update(body)
    return client.post(
        URL, json={k: v for k, v in payload.items() if v is not None}, headers=headers
    )


def _stored(ctx: Context) -> tuple[int, int]:
    """(calls stored, call.received audit entries)."""
    with ctx.db.transaction() as s:
        rows = s.scalar(select(func.count()).select_from(CallRecord))
        audited = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "call.received")
        )
        return int(rows or 0), int(audited or 0)


def test_a_known_number_pops_that_customer_for_that_agent(
    client: FlaskClient,
    supervisor: dict[str, str],
    users: dict[str, int],
    ctx: Context,
    pushed: Pushed,
) -> None:
    resp = _call(client, supervisor)

    assert resp.status_code == 202, resp.text
    body = resp.json
    assert body["caller"] == "+12125550101" and body["call_sid"] == SID
    assert body["agent"] == "agent@example.com" and body["replayed"] is False
    assert body["matches"] == [
        {
            "crm_ref": "CUST-0001",
            "name": "Eleanor Whitfield",
            "url": f"/pay/agent/customers/CUST-0001?call_sid={SID}",
        }
    ]
    # only the addressed agent is told, with the whitelisted fields
    assert pushed.events == [
        (
            str(users["agent"]),
            {"caller": "+12125550101", "call_sid": SID, "matches": body["matches"]},
        )
    ]
    assert _stored(ctx) == (1, 1)
    current = calls.current_call(ctx, users["agent"])
    assert current is not None and current.call_sid == SID
    assert calls.current_call(ctx, users["agent2"]) is None


def test_a_shared_number_lists_every_customer_and_an_unknown_one_none(
    client: FlaskClient, supervisor: dict[str, str], users: dict[str, int], pushed: Pushed
) -> None:
    shared = _call(client, supervisor, caller="+14155550142")
    assert shared.status_code == 202
    assert sorted(m["name"] for m in shared.json["matches"]) == ["Arjun Raman", "Priya Raman"]

    unknown = _call(client, supervisor, caller="+19995550000", call_sid=OTHER_SID)
    assert unknown.status_code == 202
    assert unknown.json["matches"] == []
    assert pushed.events[-1][1]["matches"] == []


def test_the_crm_id_the_platform_sends_comes_first(
    client: FlaskClient, supervisor: dict[str, str], users: dict[str, int], pushed: Pushed
) -> None:
    resp = _call(client, supervisor, caller="+14155550142", crm_id="CUST-0004")
    assert [m["crm_ref"] for m in resp.json["matches"]] == ["CUST-0004"]

    # a CRM id the CRM does not know: the number decides
    again = _call(client, supervisor, call_sid=OTHER_SID, crm_id="CUST-9999")
    assert [m["crm_ref"] for m in again.json["matches"]] == ["CUST-0001"]


def test_a_replay_answers_the_first_result_and_stores_nothing_twice(
    client: FlaskClient,
    supervisor: dict[str, str],
    users: dict[str, int],
    ctx: Context,
    pushed: Pushed,
) -> None:
    first = _call(client, supervisor)
    again = _call(client, supervisor, caller="+14155550142")  # a retry, whatever it says

    assert again.status_code == 200
    assert again.json["replayed"] is True
    assert again.json["matches"] == first.json["matches"]
    assert again.json["received_at"] == first.json["received_at"]
    assert _stored(ctx) == (1, 1)
    assert len(pushed.events) == 2  # shown again (the console replaces the same banner)

    # the same call handed on to another agent is that agent's call
    transferred = _call(client, supervisor, agent="agent2@example.com")
    assert transferred.status_code == 202
    assert _stored(ctx) == (2, 2)
    assert pushed.events[-1][0] == str(users["agent2"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"agent": "nobody@example.com"}, 404, "unknown_agent"),
        ({"caller": "212-555-0101"}, 422, "invalid_caller"),
        ({"caller": "+1"}, 422, "invalid_caller"),
        ({"call_sid": "CA123"}, 422, "invalid_call_sid"),
        ({"call_sid": "PK" + "0" * 32}, 422, "invalid_call_sid"),
        ({"crm_id": "4111 1111 1111 1111"}, 422, "card_number_in_customer_ref"),
        ({"crm_id": ""}, 422, "invalid_request"),
        ({"agent": ""}, 422, "invalid_request"),
        ({"caller": 12125550101}, 422, "invalid_request"),
        ({"extension": "12"}, 422, "invalid_request"),
    ],
)
def test_a_bad_call_event_is_refused_in_words_and_changes_nothing(
    client: FlaskClient,
    supervisor: dict[str, str],
    users: dict[str, int],
    ctx: Context,
    pushed: Pushed,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    resp = _call(client, supervisor, **body)

    assert resp.status_code == status, resp.text
    error = resp.json["error"]
    assert error["code"] == code and error["message"]
    assert "4111" not in resp.text  # a card number is never echoed back
    assert _stored(ctx) == (0, 0)
    assert pushed.events == []


def test_a_deactivated_agent_is_refused(
    client: FlaskClient,
    supervisor: dict[str, str],
    users: dict[str, int],
    ctx: Context,
    pushed: Pushed,
) -> None:
    access.deactivate_user(ctx, users["agent"], actor="tests")

    resp = _call(client, supervisor)

    assert resp.status_code == 404
    assert "deactivated" in resp.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed.events == []


def test_only_the_telephony_platforms_key_may_report_calls(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    users: dict[str, int],
    ctx: Context,
    pushed: Pushed,
) -> None:
    unsigned = client.post(URL, json={"caller": "+12125550101"})
    assert unsigned.status_code == 401
    wrong_key = _call(client, {"Authorization": "Bearer cpk_not-a-key"})
    assert wrong_key.status_code == 401
    agent_key = _call(client, auth)  # an agent's key may not pop calls on others' consoles
    assert agent_key.status_code == 403
    assert "supervisor" in agent_key.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed.events == []
    assert _call(client, supervisor).status_code == 202


def test_the_call_is_in_the_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/pay/api/v1/openapi.json").json
    post = doc["paths"]["/calls"]["post"]
    assert set(post["responses"]) >= {"202", "200", "401", "403", "404", "422"}
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["caller", "agent", "call_sid"]
