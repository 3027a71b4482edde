"""Four-eyes refunds against the Braintree development sandbox: the older refund route
(``POST /payments/{id}/refund``) turns an agent's refund above the limit into an approval
request as ``POST /refunds`` does; an approved refund the card's bank declines (the
sandbox declines a refund of 2004.00 as ``processor_declined``/hard declined, after
braintree_python's ``test_refund_returns_an_error_if_hard_declined``) stays approved and
not booked until a supervisor closes it, with a note, through the API or the approvals
page; closing moves nothing and keeps the bank's words."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry
from crm_pay.services.approval_records import STATES
from crm_pay.services.context import Context
from paytest import balance, csrf_of, paid

API = "/pay/api/v1"
DECLINED_REFUND = "2004.00"  # the sandbox's hard-declined refund amount


def _post(client: FlaskClient, path: str, headers: dict[str, str], body: Any, key: str = "") -> Any:
    return client.post(
        f"{API}{path}", json=body, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )


def _credits(sandbox: Any, sale_id: str) -> list[tuple[str, str]]:
    return [
        (t["amount"], t["status"])
        for t in sandbox.transactions
        if t["type"] == "credit" and t.get("refunded_transaction_id") == sale_id
    ]


def _declined_request(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], payment: dict[str, Any]
) -> dict[str, Any]:
    """An agent's request for the declined amount, approved by a supervisor: refused."""
    asked = _post(
        client,
        f"/payments/{payment['id']}/refund",
        auth,
        {"amount": DECLINED_REFUND, "reason": "customer cancelled"},
    )
    assert asked.status_code == 202, asked.get_json()
    approval_id = asked.get_json()["approval"]["id"]
    approved = _post(client, f"/approvals/{approval_id}/approve", supervisor, {"note": "ok"})
    assert approved.status_code == 409, approved.get_json()
    assert approved.get_json()["error"]["code"] == "approval_not_executed"
    return client.get(f"{API}/approvals/{approval_id}", headers=supervisor).get_json()


def test_the_older_refund_route_asks_a_supervisor_like_refunds_does(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], sandbox: Any
) -> None:
    payment = paid(client, auth, "60.00")
    sandbox.settle(payment["psp_reference"])
    before = balance(client, auth)
    key = uuid.uuid4().hex
    body = {"amount": "40.00", "reason": "Cancelled order"}

    first = _post(client, f"/payments/{payment['id']}/refund", auth, body, key)
    again = _post(client, f"/payments/{payment['id']}/refund", auth, body, key)
    other = _post(client, f"/payments/{payment['id']}/refund", auth, {"amount": "41.00"}, key)
    unexplained = _post(client, f"/payments/{payment['id']}/refund", auth, {"amount": "40.00"})

    assert first.status_code == 202, first.get_json()
    answer = first.get_json()
    assert answer["outcome"] == "pending_approval"
    request = answer["approval"]
    assert (request["state"], request["amount"], request["kind"]) == ("pending", "40.00", "refund")
    assert (again.status_code, again.get_json()) == (200, answer)
    assert other.status_code == 422
    assert unexplained.status_code == 422
    assert unexplained.get_json()["error"]["code"] == "reason_required"
    assert _credits(sandbox, payment["psp_reference"]) == []
    assert balance(client, auth) == before
    [waiting] = client.get(f"{API}/refunds", headers=auth).get_json()["requests"]
    assert waiting["id"] == request["id"]

    approved = _post(client, f"/approvals/{request['id']}/approve", supervisor, {})
    assert approved.status_code == 200, approved.get_json()
    assert _credits(sandbox, payment["psp_reference"]) == [("40.00", "submitted_for_settlement")]
    # A refund within what a supervisor key may do answers the payment, as it always did.
    done = _post(client, f"/payments/{payment['id']}/refund", supervisor, {"amount": "5.00"})
    assert done.status_code == 201 and done.get_json()["refunded"] == "45.00"


def test_an_approved_refund_the_bank_declined_is_closed_with_a_note_and_moves_nothing(
    client: FlaskClient,
    ctx: Context,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: Any,
) -> None:
    payment = paid(client, auth, "4000.00")
    sandbox.settle(payment["psp_reference"])
    before = balance(client, auth)

    stuck = _declined_request(client, auth, supervisor, payment)

    assert (stuck["state"], stuck["executed"], stuck["closable"]) == ("approved", False, True)
    assert "refused the refund" in stuck["error"]
    assert _credits(sandbox, payment["psp_reference"]) == [(DECLINED_REFUND, "processor_declined")]
    path = f"/approvals/{stuck['id']}/close"
    assert _post(client, path, auth, {"note": "paid back by cheque"}).status_code == 403
    blank = _post(client, path, supervisor, {"note": "  "})
    assert blank.status_code == 422

    closed = _post(client, path, supervisor, {"note": "paid back by cheque CHQ-12"})

    assert closed.status_code == 200, closed.get_json()
    view = closed.get_json()
    assert (view["state"], view["close_note"], view["closable"]) == (
        "closed",
        "paid back by cheque CHQ-12",
        False,
    )
    assert view["closed_by"] and view["error"] == stuck["error"]  # the bank's words kept
    again = _post(client, path, supervisor, {"note": "again"}).get_json()
    assert {**again, "age_seconds": 0} == {**view, "age_seconds": 0}  # the same answer
    retried = _post(client, f"/approvals/{stuck['id']}/approve", supervisor, {})
    assert retried.status_code == 409 and retried.get_json()["error"]["code"] == "approval_closed"
    assert _credits(sandbox, payment["psp_reference"]) == [(DECLINED_REFUND, "processor_declined")]
    assert balance(client, auth) == before
    assert client.get(f"{API}/payments/{payment['id']}", headers=auth).get_json()["refunded"] == (
        "0.00"
    )
    listed = client.get(f"{API}/approvals?state=closed", headers=supervisor).get_json()
    assert [a["id"] for a in listed["approvals"]] == [stuck["id"]]
    with ctx.db.transaction() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "approval.closed"))
        assert entry.subject == stuck["id"]
        assert entry.data["note"] == "paid back by cheque CHQ-12"
        assert entry.data["declined"] == stuck["error"]


def test_the_approvals_page_closes_a_declined_refund(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    signed_in: Callable[[str], FlaskClient],
    sandbox: Any,
) -> None:
    payment = paid(client, auth, "4000.00")
    sandbox.settle(payment["psp_reference"])
    stuck = _declined_request(client, auth, supervisor, payment)
    boss = signed_in("supervisor")

    page = boss.get("/pay/supervisor/approvals?state=approved").text
    row = page[page.index(f'id="approval-{stuck["id"]}"') :]
    assert "not booked yet" in row and "refused the refund" in row
    action = re.search(r'action="(/pay/supervisor/approvals/[^"/]+/close)"', row)
    assert action, row
    empty = boss.post(action.group(1), data={"csrf_token": csrf_of(page), "note": ""})
    assert "Not closed: say why" in boss.get(empty.location).text
    done = boss.post(
        action.group(1), data={"csrf_token": csrf_of(page), "note": "bank transfer sent"}
    )

    shown = boss.get(done.location).text
    assert "closed; nothing was refunded" in shown.replace("&#39;", "'")
    closed_row = shown[shown.index(f'id="approval-{stuck["id"]}"') :]
    assert "Closed by supervisor@example.com: bank transfer sent" in closed_row
    assert "The bank said:" in closed_row
    view = client.get(f"{API}/approvals/{stuck['id']}", headers=supervisor).get_json()
    assert view["state"] == "closed"


def test_the_openapi_document_lists_every_approval_state(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    schema = doc["components"]["schemas"]["ApprovalRequest"]
    assert schema["properties"]["state"]["enum"] == list(STATES)
    close = doc["paths"]["/approvals/{approval_id}/close"]["post"]
    assert {"200", "409", "422"} <= set(close["responses"])
    old = doc["paths"]["/payments/{payment_id}/refund"]["post"]["responses"]
    assert {"201", "202", "200"} <= set(old)
