"""The cases API: the queue with its filters, one case, and a supervisor's note, assign,
snooze and resolve, each refusing bad input with a clear error and changing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import AuditEntry, Case, CaseEvent, OutboxMessage
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from paytest import PASSWORD, paid

API = "/pay/api/v1"


def disputed_case(client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer) -> int:
    """A real dispute: a paid payment, the sandbox opens a dispute, its webhook arrives."""
    payment = paid(client, auth, amount="45.00")
    dispute = sandbox.open_dispute(payment["psp_reference"])
    form = sandbox.webhook_form("dispute_opened", dispute)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    found = client.get(f"{API}/cases?kind=disputed", headers=_sup).get_json()["cases"]
    assert [c["payment_id"] for c in found] == [payment["id"]]
    return int(found[0]["id"])


_sup: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _supervisor_headers(supervisor: dict[str, str]) -> None:
    _sup.clear()
    _sup.update(supervisor)


@pytest.fixture
def boss(ctx: Context) -> int:
    return create_user(ctx, email="boss@example.com", role="supervisor", password=PASSWORD)


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(f"{API}{path}", json=body, headers=headers)


def history(ctx: Context, case_id: int) -> list[str]:
    with ctx.db.transaction() as s:
        return list(
            s.scalars(
                select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def test_a_dispute_case_is_worked_to_its_resolution_and_the_customer_is_told(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: int,
) -> None:
    case_id = disputed_case(client, auth, sandbox)
    page = client.get(f"{API}/cases/{case_id}", headers=supervisor).get_json()
    assert page["status"] == "open" and page["customer"]["crm_ref"] == "CUST-0001"
    assert page["payment"]["amount"].startswith("45.00") or "45.00" in page["payment"]["amount"]
    assert {t["source"] for t in page["timeline"]} >= {"payment", "crm_sync"}
    assert "dispute_accepted" in [r["code"] for r in page["resolutions"]]
    opened_at = page["opened_at"]
    due = page["due_at"]
    assert due > opened_at  # disputed: 24 h SLA

    resp = post(client, f"/cases/{case_id}/notes", {"note": "called the bank"}, supervisor)
    assert resp.status_code == 201
    resp = post(client, f"/cases/{case_id}/assign", {"assignee": boss}, supervisor)
    assert resp.status_code == 200 and resp.get_json()["status"] == "assigned"
    mine = client.get(f"{API}/cases?assignee={boss}", headers=supervisor).get_json()["cases"]
    assert [c["id"] for c in mine] == [case_id] and mine[0]["assignee"] == "boss@example.com"
    resp = post(
        client,
        f"/cases/{case_id}/resolve",
        {"code": "dispute_accepted", "note": "customer right; accepted"},
        supervisor,
    )
    assert resp.status_code == 200, resp.get_json()
    done = resp.get_json()
    assert done["status"] == "resolved" and done["resolution_seconds"] is not None
    assert client.get(f"{API}/cases", headers=supervisor).get_json()["cases"] == []
    resolved = client.get(f"{API}/cases?state=resolved", headers=supervisor).get_json()
    assert [c["id"] for c in resolved["cases"]] == [case_id]
    assert history(ctx, case_id) == ["note", "assigned", "resolved"]
    with ctx.db.transaction() as s:
        audited = set(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("case.%"))))
        assert audited == {"case.opened", "case.note", "case.assigned", "case.resolved"}
        told = s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "customer.case_update")
        ).one()
        payment_id = s.scalars(select(Case.payment_id).where(Case.id == case_id)).one()
        customer = told.payload["customer_id"]
        assert told.payload == {
            "case_id": case_id,
            "payment_id": payment_id,
            "customer_id": customer,
            "resolution_code": "dispute_accepted",
        }


def test_bad_input_is_refused_clearly_and_changes_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    users: dict[str, int],
) -> None:
    case_id = disputed_case(client, auth, sandbox)
    path = f"/cases/{case_id}"
    refused = [
        (
            post(client, f"{path}/resolve", {"code": "refunded", "note": "x"}, supervisor),
            422,
            "unknown_resolution",
        ),
        (
            post(client, f"{path}/resolve", {"code": "dispute_accepted", "note": "  "}, supervisor),
            422,
            "invalid_request",
        ),
        (
            post(client, f"{path}/assign", {"assignee": users["agent"]}, supervisor),
            422,
            "assignee_not_supervisor",
        ),
        (post(client, f"{path}/assign", {"assignee": 999999}, supervisor), 422, "unknown_assignee"),
        (post(client, f"{path}/assign", {"assignee": "me"}, supervisor), 422, "not_a_user"),
        (
            post(client, f"{path}/snooze", {"until": "2001-01-01T00:00:00Z"}, supervisor),
            422,
            "snooze_in_past",
        ),
        (post(client, f"{path}/snooze", {"until": "tomorrow"}, supervisor), 422, "invalid_time"),
        (
            post(client, f"{path}/snooze", {"until": "2030-01-01T00:00:00"}, supervisor),
            422,
            "invalid_time",
        ),
        (
            post(client, f"{path}/notes", {"note": "x", "extra": 1}, supervisor),
            422,
            "invalid_request",
        ),
        (post(client, "/cases/99999/notes", {"note": "x"}, supervisor), 404, "not_found"),
        (client.get(f"{API}/cases?state=sleeping", headers=supervisor), 422, "unknown_state"),
        (client.get(f"{API}/cases?kind=lost_in_post", headers=supervisor), 422, "unknown_kind"),
        (client.get(f"{API}/cases", headers=auth), 403, "forbidden"),  # an agent's key
    ]
    for resp, status, code in refused:
        body = resp.get_json()
        assert (resp.status_code, body["error"]["code"]) == (status, code), body
        assert len(body["error"]["message"]) > 20  # says what was wrong, in words
    assert history(ctx, case_id) == []
    page = client.get(f"{API}{path}", headers=supervisor).get_json()
    assert page["status"] == "open" and page["snoozed_until"] is None

    good = {"code": "evidence_submitted", "note": "contested with the signed order"}
    assert post(client, f"{path}/resolve", good, supervisor).status_code == 200
    again = post(client, f"{path}/resolve", {**good, "note": "twice"}, supervisor)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "case_resolved"
    soon = (ctx.now() + timedelta(hours=1)).isoformat()
    late = post(client, f"{path}/snooze", {"until": soon}, supervisor)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "case_resolved"
    assert history(ctx, case_id) == ["resolved"]  # the second resolve left no trace
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.note == "contested with the signed order"
        # evidence_submitted does not tell the customer: no message queued
        assert not s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "customer.case_update")
        ).all()


def test_snooze_hides_a_case_until_then_and_keeps_its_sla(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    case_id = disputed_case(client, auth, sandbox)
    until = (ctx.now() + timedelta(hours=3)).isoformat()
    resp = post(client, f"/cases/{case_id}/snooze", {"until": until, "note": "bank"}, supervisor)
    assert resp.status_code == 200
    assert client.get(f"{API}/cases", headers=supervisor).get_json()["cases"] == []
    shown = client.get(f"{API}/cases?snoozed=1", headers=supervisor).get_json()["cases"]
    assert [c["id"] for c in shown] == [case_id] and shown[0]["snoozed_until"]
    assert history(ctx, case_id) == ["snoozed"]


def test_a_card_number_in_a_note_is_never_stored(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    case_id = disputed_case(client, auth, sandbox)
    pan = "4111 1111 1111 1111"  # Braintree's published test Visa
    resp = post(client, f"/cases/{case_id}/notes", {"note": f"customer read {pan}"}, supervisor)
    assert resp.status_code == 201
    page = client.get(f"{API}/cases/{case_id}", headers=supervisor)
    assert "4111" not in page.text.replace("1111 1111 1111", "")
    with ctx.db.transaction() as s:
        notes = s.scalars(select(CaseEvent.note)).all()
        audit = [str(d) for d in s.scalars(select(AuditEntry.data))]
    assert notes and all("4111111111111111" not in n.replace(" ", "") for n in notes)
    assert all("4111111111111111" not in a.replace(" ", "") for a in audit)
