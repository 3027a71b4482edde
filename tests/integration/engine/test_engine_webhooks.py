"""Braintree webhooks: fail closed, stored first, processed once."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Case, PaymentEventRow, WebhookEvent
from crm_pay.services.context import Context
from paytest import create_link, pay


def paid_payment(client: FlaskClient, auth: dict[str, str], amount: str = "80.00") -> dict:
    _, payment = create_link(client, auth, amount=amount)
    assert pay(client, payment["pay_url"]).status_code == 200
    return client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()


def events(ctx: Context, payment_id: str, kind: str) -> int:
    with ctx.db.transaction() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(PaymentEventRow)
                .where(PaymentEventRow.payment_id == payment_id, PaymentEventRow.kind == kind)
            )
            or 0
        )


def test_settlement_webhook_settles_once_even_when_replayed(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    payment = paid_payment(client, auth)
    sandbox.settle(payment["psp_reference"])
    form = sandbox.webhook_form("transaction_settled", payment["psp_reference"])
    first = client.post("/pay/webhooks/braintree", data=form)
    assert first.status_code == 200 and first.get_json()["status"] == "processed"
    replay = client.post("/pay/webhooks/braintree", data=form)
    assert replay.status_code == 200 and replay.get_json()["status"] == "duplicate"
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "settled"
    assert events(ctx, payment["id"], "settlement_succeeded") == 1
    with ctx.db.transaction() as s:
        rows = s.scalars(select(WebhookEvent.status).order_by(WebhookEvent.id)).all()
    assert rows == ["processed", "duplicate"]


def test_forged_webhook_is_rejected_stored_and_not_processed(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    payment = paid_payment(client, auth)
    sandbox.settle(payment["psp_reference"])
    form = sandbox.webhook_form("transaction_settled", payment["psp_reference"])
    public_key, _, mac = form["bt_signature"].partition("|")
    forged = {"bt_signature": f"{public_key}|{'0' * len(mac)}", "bt_payload": form["bt_payload"]}
    resp = client.post("/pay/webhooks/braintree", data=forged)
    assert 400 <= resp.status_code < 500
    assert resp.get_json()["error"]["code"] == "webhook_rejected"
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "submitted_for_settlement"  # not settled by a forged message
    with ctx.db.transaction() as s:
        stored = s.scalars(select(WebhookEvent)).one()
        assert stored.status == "rejected" and stored.payload == form["bt_payload"]
        assert s.scalars(select(Case.kind)).all() == ["webhook_rejected"]
    # The genuine notification still goes through afterwards.
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"


def test_missing_signature_is_a_clear_400(client: FlaskClient) -> None:
    resp = client.post("/pay/webhooks/braintree", data={"bt_payload": "abc"})
    assert resp.status_code == 400
    assert "bt_signature" in resp.get_json()["error"]["message"]


def test_lost_dispute_becomes_a_chargeback_and_the_customer_owes_it_again(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    before = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()["balance"]
    payment = paid_payment(client, auth, amount="30.00")
    dispute = sandbox.open_dispute(payment["psp_reference"])
    opened = client.post(
        "/pay/webhooks/braintree", data=sandbox.webhook_form("dispute_opened", dispute)
    )
    assert opened.get_json()["status"] == "processed"
    sandbox.resolve_dispute(dispute, "lost")
    lost = client.post(
        "/pay/webhooks/braintree", data=sandbox.webhook_form("dispute_lost", dispute)
    )
    assert lost.get_json()["status"] == "processed"
    after = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()["balance"]
    assert after == before  # paid 30, charged back 30
    with ctx.db.transaction() as s:
        assert "disputed" in s.scalars(select(Case.kind)).all()
    assert events(ctx, payment["id"], "dispute_lost") == 1


def test_settlement_by_webhook_is_pushed_to_the_watching_agent(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    payment = paid_payment(client, auth)
    seen: list[tuple[str, dict]] = []
    ctx.live = lambda pid, event: seen.append((pid, event))
    sandbox.settle(payment["psp_reference"])
    client.post(
        "/pay/webhooks/braintree",
        data=sandbox.webhook_form("transaction_settled", payment["psp_reference"]),
    )
    assert (payment["id"], "settled") in [(pid, e.get("status")) for pid, e in seen]
