"""A telephony platform reports that a call reached an agent (``POST /api/v1/calls``):
the caller's number is matched to CRM customers, the call is remembered for that agent's
keypad payment, audited once, and a bad request is refused in words with nothing stored
and nobody told. The telephony platform's key has the ``telephony`` role, which may
report calls (``calls.notify``) and nothing else; a supervisor's key may too."""

from __future__ import annotations

from typing import Any, Protocol

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.domain.errors import ValidationError
from crm_pay.persistence.models import AuditEntry, CallRecord, Payment
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


class ReportCall(Protocol):
    def __call__(self, headers: dict[str, str] | None = None, **body: Any) -> Any: ...


@pytest.fixture
def pushed(ctx: Context) -> Pushed:
    ctx.live_agent = pushed = Pushed()
    return pushed


@pytest.fixture
def telephony(ctx: Context) -> dict[str, str]:
    """API headers of the telephony platform's key (role ``telephony``)."""
    key = access.create_api_key(ctx, name="telephony", role="telephony")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def report_call(
    client: FlaskClient, telephony: dict[str, str], users: dict[str, int], pushed: Pushed
) -> ReportCall:
    """``POST /calls`` as the platform sends it: the caller +1 212 555 0101 (CUST-0001)
    reached ``agent@example.com`` on call :data:`SID`; ``body`` changes or (None) drops a
    field; ``headers`` another key than the platform's. The console users exist and what
    is pushed to them is in ``pushed``."""

    def report(headers: dict[str, str] | None = None, **body: Any) -> Any:
        payload = {"caller": "+12125550101", "agent": "agent@example.com", "call_sid": SID}
        payload.update(body)
        return client.post(
            URL,
            json={k: v for k, v in payload.items() if v is not None},
            headers=telephony if headers is None else headers,
        )

    return report


def _stored(ctx: Context) -> tuple[int, int]:
    """(calls stored, call.received audit entries)."""
    with ctx.db.transaction() as s:
        rows = s.scalar(select(func.count()).select_from(CallRecord))
        audited = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "call.received")
        )
        return int(rows or 0), int(audited or 0)


def test_a_known_number_pops_that_customer_for_that_agent(
    report_call: ReportCall, users: dict[str, int], ctx: Context, pushed: Pushed
) -> None:
    resp = report_call()

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
    report_call: ReportCall, pushed: Pushed
) -> None:
    shared = report_call(caller="+14155550142")
    assert shared.status_code == 202
    assert sorted(m["name"] for m in shared.json["matches"]) == ["Arjun Raman", "Priya Raman"]

    unknown = report_call(caller="+19995550000", call_sid=OTHER_SID)
    assert unknown.status_code == 202
    assert unknown.json["matches"] == []
    assert pushed.events[-1][1]["matches"] == []


def test_the_crm_id_the_platform_sends_comes_first(report_call: ReportCall) -> None:
    resp = report_call(caller="+14155550142", crm_id="CUST-0004")
    assert [m["crm_ref"] for m in resp.json["matches"]] == ["CUST-0004"]

    # a CRM id the CRM does not know: the number decides
    again = report_call(call_sid=OTHER_SID, crm_id="CUST-9999")
    assert [m["crm_ref"] for m in again.json["matches"]] == ["CUST-0001"]


def test_a_replay_answers_the_first_result_and_stores_nothing_twice(
    report_call: ReportCall, users: dict[str, int], ctx: Context, pushed: Pushed
) -> None:
    first = report_call()
    again = report_call(caller="+14155550142")  # a retry, whatever it says

    assert again.status_code == 200
    assert again.json["replayed"] is True
    assert again.json["matches"] == first.json["matches"]
    assert again.json["received_at"] == first.json["received_at"]
    assert _stored(ctx) == (1, 1)
    assert len(pushed.events) == 2  # shown again (the console replaces the same banner)

    # the same call handed on to another agent is that agent's call
    transferred = report_call(agent="agent2@example.com")
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
    report_call: ReportCall,
    ctx: Context,
    pushed: Pushed,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    resp = report_call(**body)

    assert resp.status_code == status, resp.text
    error = resp.json["error"]
    assert error["code"] == code and error["message"]
    assert "4111" not in resp.text  # a card number is never echoed back
    assert _stored(ctx) == (0, 0)
    assert pushed.events == []


def test_a_deactivated_agent_is_refused(
    report_call: ReportCall, users: dict[str, int], ctx: Context, pushed: Pushed
) -> None:
    access.deactivate_user(ctx, users["agent"], actor="tests")

    resp = report_call()

    assert resp.status_code == 404
    assert "deactivated" in resp.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed.events == []


def test_only_a_key_that_may_notify_calls_may_report_them(
    client: FlaskClient,
    report_call: ReportCall,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    pushed: Pushed,
) -> None:
    unsigned = client.post(URL, json={"caller": "+12125550101"})
    assert unsigned.status_code == 401
    assert report_call({"Authorization": "Bearer cpk_not-a-key"}).status_code == 401
    agent_key = report_call(auth)  # an agent's key may not pop calls on others' consoles
    assert agent_key.status_code == 403
    assert "supervisor" in agent_key.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed.events == []
    # a supervisor's key made for the platform before the telephony role still works
    assert report_call(supervisor).status_code == 202
    assert report_call(call_sid=OTHER_SID).status_code == 202  # the telephony key


def test_the_telephony_key_may_do_nothing_but_report_calls(
    client: FlaskClient, telephony: dict[str, str], ctx: Context
) -> None:
    refused = [
        client.get("/pay/api/v1/customers/CUST-0001", headers=telephony),
        client.get("/pay/api/v1/customers?q=Whitfield", headers=telephony),
        client.post(
            "/pay/api/v1/payments",
            json={"customer": "CUST-0001", "amount": "10.00", "currency": "USD"},
            headers={**telephony, "Idempotency-Key": "telephony-1"},
        ),
        client.get("/pay/api/v1/payments/pay_none", headers=telephony),
        client.get("/pay/api/v1/reconciliations/2026-01-01", headers=telephony),
    ]
    for resp in refused:
        assert resp.status_code == 403, (resp.request.path, resp.text)
        message = resp.json["error"]["message"]
        assert "telephony key may only do calls.notify" in message, message
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_no_user_can_have_the_telephony_role(ctx: Context) -> None:
    with pytest.raises(ValidationError, match="role must be one of agent, supervisor"):
        access.create_user(ctx, email="pbx@example.com", role="telephony", password="x" * 16)
    assert all(u["email"] != "pbx@example.com" for u in access.list_users(ctx))


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_URL_PREFIX": "/billing"}])
def test_the_banner_links_to_the_console_where_the_app_mounted_it(
    app: Flask,
    client: FlaskClient,
    telephony: dict[str, str],
    users: dict[str, int],
    pushed: Pushed,
) -> None:
    # crm-pay under /billing, in a WSGI app mounted at /crm (a host's SCRIPT_NAME)
    resp = client.post(
        "/billing/api/v1/calls",
        json={"caller": "+12125550101", "agent": "agent@example.com", "call_sid": SID},
        headers=telephony,
        base_url="http://localhost/crm",
    )

    assert resp.status_code == 202, resp.text
    (match,) = resp.json["matches"]
    assert match["url"] == f"/crm/billing/agent/customers/CUST-0001?call_sid={SID}"
    assert pushed.events[0][1]["matches"] == [match]  # the banner's link is the same
    # and it is the console's customer page of this app
    path = match["url"].removeprefix("/crm").split("?")[0]
    routed = app.url_map.bind("localhost").match(path)
    assert routed == ("crm_pay_console.customer", {"crm_ref": "CUST-0001"})


def test_the_call_is_in_the_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/pay/api/v1/openapi.json").json
    post = doc["paths"]["/calls"]["post"]
    assert set(post["responses"]) >= {"202", "200", "401", "403", "404", "422"}
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["caller", "agent", "call_sid"]
