"""Twilio TaskRouter's Event Callback (``POST /pay/telephony/twilio/taskrouter``): a
signed ``reservation.accepted`` pops the call on the worker's crm-pay console; other
events are ignored; each accepted event is answered 204 No Content, as Twilio's
TaskRouter Events reference asks; an unsigned, forged or foreign request is refused
with 403 and changes nothing. Signed as Twilio does, with the real SDK's
``RequestValidator.compute_signature`` over the configured public URL and the form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from connectors.telephony.twilio import TwilioKeypadCapture
from crm_pay.persistence.models import AuditEntry, CallRecord
from crm_pay.services import calls
from crm_pay.services.context import Context

PATH = "/pay/telephony/twilio/taskrouter"
ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "taskrouter-test-auth-token"  # noqa: S105 - a test credential
SID = "CA" + "5e" * 16


@pytest.fixture
def pushed(ctx: Context, users: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    ctx.telephony = TwilioKeypadCapture(ACCOUNT, TOKEN, payment_connector="Default")
    events: list[tuple[str, dict[str, Any]]] = []
    ctx.live_agent = lambda user_id, event: events.append((user_id, event))
    return events


def _form(event_type: str = "reservation.accepted", **fields: str) -> dict[str, str]:
    """TaskRouter's Event Callback parameters (Twilio's "TaskRouter Events reference")."""
    form = {
        "EventType": event_type,
        "AccountSid": ACCOUNT,
        "WorkspaceSid": "WS" + "1" * 32,
        "ResourceType": "reservation",
        "ResourceSid": "WR" + "2" * 32,
        "Timestamp": "1796000000",
        "TaskSid": "WT" + "3" * 32,
        "TaskAttributes": json.dumps(
            {"call_sid": SID, "from": "+12125550101", "to": "+18005550100"}
        ),
        "WorkerSid": "WK" + "4" * 32,
        "WorkerName": "agent@example.com",
        "WorkerAttributes": json.dumps({"crm_pay_agent": "agent@example.com"}),
        "ReservationSid": "WR" + "2" * 32,
    }
    form.update(fields)
    return form


def _post(
    client: FlaskClient,
    ctx: Context,
    form: dict[str, str],
    *,
    token: str = TOKEN,
    sign: bool = True,
) -> Any:
    headers = {}
    if sign:
        url = calls.taskrouter_url(ctx.settings)
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, form)
    return client.post(PATH, data=form, headers=headers)


def _accepted(resp: Any) -> None:
    """Answered as the TaskRouter Events reference asks: 204, no body, JSON type."""
    assert resp.status_code == 204, resp.text
    assert resp.data == b"" and resp.content_type == "application/json"


def _stored(ctx: Context) -> tuple[int, int]:
    with ctx.db.transaction() as s:
        rows = s.scalar(select(func.count()).select_from(CallRecord)) or 0
        audited = (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "call.received")
            )
            or 0
        )
        return int(rows), int(audited)


def test_a_signed_reservation_accepted_pops_the_call_on_the_workers_console(
    client: FlaskClient, ctx: Context, users: dict[str, int], pushed: list[Any]
) -> None:
    _accepted(_post(client, ctx, _form()))

    ((user_id, event),) = pushed
    assert user_id == str(users["agent"]) and event["call_sid"] == SID
    assert [m["crm_ref"] for m in event["matches"]] == ["CUST-0001"]
    current = calls.current_call(ctx, users["agent"])
    assert current is not None and current.call_sid == SID and current.caller == "+12125550101"
    with ctx.db.transaction() as s:
        (row,) = s.scalars(select(CallRecord))
        assert row.source == "twilio_taskrouter"

    # Twilio retries a callback it got no answer to: the same event again stores nothing
    _accepted(_post(client, ctx, _form()))
    assert _stored(ctx) == (1, 1)
    assert len(pushed) == 2 and pushed[1] == pushed[0]  # the same banner, shown again


def test_the_crm_id_in_the_task_attributes_is_matched_first(
    client: FlaskClient, ctx: Context, pushed: list[Any]
) -> None:
    attributes = json.dumps({"call_sid": SID, "from": "+14155550142", "crm_id": "CUST-0003"})
    _accepted(_post(client, ctx, _form(TaskAttributes=attributes)))
    ((_, event),) = pushed
    assert [m["crm_ref"] for m in event["matches"]] == ["CUST-0003"]


@pytest.mark.parametrize(
    "event_type", ["reservation.created", "task.created", "worker.activity.update"]
)
def test_other_events_are_answered_and_ignored(
    client: FlaskClient, ctx: Context, pushed: list[Any], event_type: str
) -> None:
    _accepted(_post(client, ctx, _form(event_type)))
    assert _stored(ctx) == (0, 0) and pushed == []


def test_unsigned_forged_or_foreign_events_are_refused_and_change_nothing(
    client: FlaskClient, ctx: Context, pushed: list[Any]
) -> None:
    unsigned = _post(client, ctx, _form(), sign=False)
    forged = _post(client, ctx, _form(), token="someone-elses-token")
    signed = _form()
    tampered_headers = {
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
            calls.taskrouter_url(ctx.settings), signed
        )
    }
    signed["WorkerAttributes"] = json.dumps({"crm_pay_agent": "agent2@example.com"})
    tampered = client.post(PATH, data=signed, headers=tampered_headers)
    foreign = _post(client, ctx, _form(AccountSid="AC" + "9" * 32))

    for resp in (unsigned, forged, tampered, foreign):
        assert resp.status_code == 403, resp.text
        assert resp.json["error"]["code"] == "webhook_rejected"
    assert "not signed" in unsigned.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed == []


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"TaskAttributes": "not json"}, 403, "webhook_rejected"),
        ({"WorkerAttributes": "[1, 2]"}, 403, "webhook_rejected"),
        (
            {"WorkerAttributes": json.dumps({"crm_pay_agent": "nobody@example.com"})},
            404,
            "unknown_agent",
        ),
        (
            {"TaskAttributes": json.dumps({"call_sid": SID, "from": "anonymous"})},
            422,
            "invalid_caller",
        ),
        ({"TaskAttributes": json.dumps({"from": "+12125550101"})}, 422, "invalid_call_sid"),
    ],
)
def test_a_signed_but_unusable_event_is_refused_in_words(
    client: FlaskClient,
    ctx: Context,
    pushed: list[Any],
    fields: dict[str, str],
    status: int,
    code: str,
) -> None:
    resp = _post(client, ctx, _form(**fields))
    assert resp.status_code == status, resp.text
    assert resp.json["error"]["code"] == code and resp.json["error"]["message"]
    assert _stored(ctx) == (0, 0) and pushed == []


def test_without_twilio_set_up_nothing_can_be_verified(
    client: FlaskClient, ctx: Context, users: dict[str, int]
) -> None:
    ctx.telephony = None
    resp = _post(client, ctx, _form())
    assert resp.status_code == 403
    assert "not set up" in resp.json["error"]["message"]
    assert _stored(ctx) == (0, 0)


def test_an_oversized_event_is_not_read(
    client: FlaskClient, ctx: Context, pushed: list[Any]
) -> None:
    form = _form(TaskAttributes=json.dumps({"call_sid": SID, "from": "+1", "pad": "x" * 70_000}))
    resp = _post(client, ctx, form)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "request_too_large"
    assert _stored(ctx) == (0, 0) and pushed == []
