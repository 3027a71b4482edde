"""Refunds and voids: money back once, ledger and receipts exact, supervisors above the
agent limit, retries never refund twice."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Receipt
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import balance, paid, refund


def test_unsettled_payment_is_voided_in_full_and_the_balance_restored(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], ctx: Context
) -> None:
    before = balance(client, auth)
    p = paid(client, auth, "50.00", allocations={"INV-1001": "50.00"})
    partial = refund(client, supervisor, p["id"], amount="10.00")
    assert partial.status_code == 422
    assert partial.get_json()["error"]["code"] == "void_in_full"
    resp = refund(client, supervisor, p["id"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "voided"
    assert resp.get_json()["captured"] == "0.00"
    assert len(resp.get_json()["refund_receipts"]) == 1
    assert balance(client, auth) == before
    with ctx.db.transaction() as s:
        kinds = s.scalars(select(Receipt.kind).where(Receipt.payment_id == p["id"])).all()
    assert sorted(kinds) == ["payment", "refund"]


def test_settled_payment_partial_refunds_up_to_what_is_left(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    before = balance(client, auth)
    p = paid(client, auth, "80.00", allocations={"INV-1001": "80.00"})
    sandbox.settle(p["psp_reference"])  # cards settle with no webhook: the refund finds it
    assert refund(client, supervisor, p["id"], amount="30.00").status_code == 201
    too_much = refund(client, supervisor, p["id"], amount="60.00")
    assert too_much.status_code == 422 and "50.00" in too_much.get_json()["error"]["message"]
    assert refund(client, supervisor, p["id"], amount="50.00").status_code == 201
    nothing = refund(client, supervisor, p["id"], amount="1.00")
    assert nothing.status_code == 409
    assert balance(client, auth) == before  # 80 paid, 80 refunded
    view = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()
    assert (view["captured"], view["refunded"]) == ("80.00", "80.00")
    first = client.get(f"/pay/api/v1/receipts/{view['refund_receipts'][0]}", headers=auth)
    assert first.get_json()["kind"] == "refund"
    assert first.get_json()["amount_refunded"] == "30.00"
    assert "amount_paid" not in first.get_json()
    credits = [
        t for t in sandbox.transactions if t.get("refunded_transaction_id") == p["psp_reference"]
    ]
    assert sorted(t["amount"] for t in credits) == ["30.00", "50.00"]
    with ctx.db.transaction() as s:
        refunds = s.scalar(
            select(func.count())
            .select_from(Receipt)
            .where(Receipt.payment_id == p["id"], Receipt.kind == "refund")
        )
    assert refunds == 2
    make_dispatcher(ctx).drain()
    crm_balance, _ = ctx.crm.balance_of("CUST-0001")
    assert crm_balance.to_decimal_str() == before


def test_retried_refund_with_the_same_key_refunds_once(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
) -> None:
    p = paid(client, auth, "40.00", allocations={"INV-1001": "40.00"})
    sandbox.settle(p["psp_reference"])
    key = uuid.uuid4().hex
    first = refund(client, supervisor, p["id"], key=key, amount="15.00")
    again = refund(client, supervisor, p["id"], key=key, amount="15.00")
    assert (first.status_code, again.status_code) == (201, 200)
    other = refund(client, supervisor, p["id"], key=key, amount="16.00")
    assert other.status_code == 422
    assert (
        sum(
            1
            for t in sandbox.transactions
            if t.get("type") == "credit" and t.get("refunded_transaction_id") == p["psp_reference"]
        )
        == 1
    )


def test_agents_need_a_supervisor_above_their_limit(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    p = paid(client, auth, "20.00", allocations={"INV-1001": "20.00"})
    # Above the agent's limit the refund becomes a request for a supervisor, which needs
    # a reason for them to read (POST /refunds answers the same).
    unexplained = refund(client, auth, p["id"])
    assert unexplained.status_code == 422
    assert unexplained.get_json()["error"]["code"] == "reason_required"
    asked = refund(client, auth, p["id"], reason="customer cancelled")
    assert asked.status_code == 202, asked.get_json()
    assert asked.get_json()["outcome"] == "pending_approval"
    assert asked.get_json()["approval"]["state"] == "pending"
    assert refund(client, supervisor, p["id"]).status_code == 201
