"""Every webhook kind the Braintree SDK can sample reaches our endpoint signed by the
SDK itself: each is applied or ignored with a reason, never a 5xx, never left
``received``; a notice for a charge not applied yet waits and is applied later."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import braintree
import pytest
from braintree.util.crypto import Crypto
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import (
    AuditEntry,
    Case,
    Dispute,
    LedgerEntryRow,
    OutboxMessage,
    PaymentEventRow,
    WebhookEvent,
)
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from crm_pay.services.webhooks import retry_pending_webhooks
from paytest import SANDBOX, create_link, paid, pay

KINDS = sorted(
    value
    for name, value in vars(braintree.WebhookNotification.Kind).items()
    if not name.startswith("_")
)


@pytest.fixture
def sdk() -> braintree.BraintreeGateway:
    """The SDK's own gateway with our sandbox credentials: its webhook_testing signs."""
    return braintree.BraintreeGateway(
        braintree.Configuration(braintree.Environment.Development, **SANDBOX)
    )


@pytest.fixture
def supervisor(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(ctx, name='sup', role='supervisor')}"}


def post(client: FlaskClient, form: dict[str, Any]) -> Any:
    return client.post("/pay/webhooks/braintree", data=form)


def counts(ctx: Context) -> dict[str, int]:
    with ctx.db.transaction() as s:
        return {
            model.__name__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (LedgerEntryRow, Case, OutboxMessage, PaymentEventRow, Dispute, AuditEntry)
        }


def settle_and_refund(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    payment: dict[str, Any],
    amount: str,
) -> Any:
    sandbox.settle(payment["psp_reference"])
    return client.post(
        f"/pay/api/v1/payments/{payment['id']}/refund",
        json={"amount": amount},
        headers={**supervisor, "Idempotency-Key": uuid.uuid4().hex},
    )


def test_every_sampled_kind_is_applied_or_ignored_and_a_replay_changes_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    sdk: braintree.BraintreeGateway,
    ctx: Context,
) -> None:
    assert len(KINDS) >= 40 and "dispute_auto_accepted" in KINDS
    # The SDK's samples are for 100.00 USD (transactions and disputes alike).
    payment = paid(client, auth, "100.00")
    other = paid(client, auth, "20.00")
    # a settlement decline concerns a charge not settled yet: its own payment
    declined = paid(client, auth, "100.00")
    assert settle_and_refund(client, auth, supervisor, sandbox, other, "5.00").status_code == 201
    with ctx.db.transaction() as s:
        refund_id = s.scalar(
            select(PaymentEventRow.psp_reference).where(
                PaymentEventRow.payment_id == other["id"],
                PaymentEventRow.kind == "refund_succeeded",
            )
        )
    subject = {
        "refund_failed": refund_id,
        "transaction_settlement_declined": declined["psp_reference"],
    }
    forms = {
        kind: sdk.webhook_testing.sample_notification(
            kind, subject.get(kind, payment["psp_reference"])
        )
        for kind in KINDS
    }
    for kind in KINDS:
        resp = post(client, forms[kind])
        assert resp.status_code == 200, (kind, resp.get_json())
        assert resp.get_json()["status"] in ("processed", "ignored"), (kind, resp.get_json())
    with ctx.db.transaction() as s:
        rows = {r.kind: r for r in s.scalars(select(WebhookEvent))}
        assert set(rows) == set(KINDS)
        for kind, row in rows.items():
            assert row.status in ("processed", "ignored"), (kind, row.status, row.error)
            if row.status == "ignored":
                assert row.error, kind  # the reason is kept
        assert rows["check"].status == "ignored"
        assert rows["transaction_settled"].status == "processed"
        assert rows["refund_failed"].status == "processed"
        assert all(rows[k].status == "processed" for k in KINDS if k.startswith("dispute_"))
        cases = set(s.scalars(select(Case.kind)))
        assert {"disputed", "failed"} <= cases and "amount_mismatch" not in cases
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "settled"
    before = counts(ctx)
    for _ in range(2):
        for kind in KINDS:
            resp = post(client, forms[kind])
            assert resp.status_code == 200 and resp.get_json()["status"] == "duplicate", kind
    assert counts(ctx) == before


def test_a_settlement_notice_before_the_charge_is_applied_waits_then_applies(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="42.00")
    real = ctx.psp
    answers: list[Any] = []

    class NoticeDuringCharge:
        """The real SDK gateway; Braintree's notice lands between its answer and our apply."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def sale(self, request: Any) -> Any:
            outcome = real.sale(request)
            sandbox.settle(outcome.transaction.id)
            form = sandbox.webhook_form("transaction_settled", outcome.transaction.id)
            answers.append(post(client, form))
            return outcome

    ctx.psp = NoticeDuringCharge()  # type: ignore[assignment]
    try:
        assert pay(client, p["pay_url"]).status_code == 200
    finally:
        ctx.psp = real
    assert answers[0].status_code == 200 and answers[0].get_json()["status"] == "pending"
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebhookEvent.status)).all() == ["pending"]
    assert retry_pending_webhooks(ctx) == {"processed": 1}
    view = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()
    assert view["status"] == "settled"
    with ctx.db.transaction() as s:
        assert s.scalars(select(WebhookEvent.status)).all() == ["processed"]
    assert retry_pending_webhooks(ctx) == {}


def test_a_notice_for_a_payment_never_seen_waits_then_fails_with_its_reason(
    client: FlaskClient, sdk: braintree.BraintreeGateway, ctx: Context
) -> None:
    form = sdk.webhook_testing.sample_notification("transaction_settled", "not-ours")
    resp = post(client, form)
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    assert retry_pending_webhooks(ctx) == {"pending": 1}
    later = ctx.now()
    ctx.clock = lambda: later.replace(year=later.year + 1)
    assert retry_pending_webhooks(ctx) == {"failed": 1}
    with ctx.db.transaction() as s:
        row = s.scalars(select(WebhookEvent)).one()
        assert row.status == "failed" and "not-ours" in (row.error or "")


def test_a_partial_refund_then_the_settlement_notice_opens_no_case(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    payment = paid(client, auth, "80.00")
    assert settle_and_refund(client, auth, supervisor, sandbox, payment, "30.00").status_code == 201
    resp = post(client, sandbox.webhook_form("transaction_settled", payment["psp_reference"]))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "processed"
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["refunded"] == "30.00"
    with ctx.db.transaction() as s:
        assert "amount_mismatch" not in s.scalars(select(Case.kind)).all()


def _signed(xml: str) -> dict[str, str]:
    payload = base64.encodebytes(xml.encode()).decode()
    mac = Crypto.sha1_hmac_hash(SANDBOX["private_key"], payload)
    return {"bt_signature": f"{SANDBOX['public_key']}|{mac}", "bt_payload": payload}


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<notification><kind>check</kind><subject><check>true</check></subject>"
         "</notification>", "no timestamp"),
        ("this is not XML", "could not be decoded"),
    ],
    ids=["no-timestamp", "not-xml"],
)  # fmt: skip
def test_a_verified_but_unreadable_notice_is_a_clear_4xx_and_kept(
    client: FlaskClient, ctx: Context, xml: str, words: str
) -> None:
    form = _signed(xml)
    resp = post(client, form)
    assert 400 <= resp.status_code < 500
    assert resp.get_json()["error"]["code"] in ("webhook_undecodable", "webhook_rejected")
    with ctx.db.transaction() as s:
        row = s.scalars(select(WebhookEvent)).one()
        assert row.status == "rejected" and words in (row.error or "")
        assert row.payload == form["bt_payload"]
