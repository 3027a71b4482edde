"""Disputes as records: every dispute notice kind updates one record; the chargeback is
booked once when the money is gone and reversed when won after that; supervisors
accept, send evidence and finalize through the SDK against the sandbox."""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from braintree.util.crypto import Crypto
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.domain.errors import Conflict, Forbidden, ValidationError
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentEvent, totals_from_events
from crm_pay.persistence.models import (
    AuditEntry,
    Case,
    Dispute,
    DisputeEvidence,
    LedgerEntryRow,
    OutboxMessage,
    PaymentEventRow,
    WebhookEvent,
)
from crm_pay.services import disputes
from crm_pay.services.access import Principal, authenticate_api_key, create_api_key
from crm_pay.services.context import Context
from paytest import SANDBOX, balance, paid


@pytest.fixture
def boss(ctx: Context) -> Principal:
    return authenticate_api_key(ctx, create_api_key(ctx, name="sup", role="supervisor"))


def notice(client: FlaskClient, sandbox: SandboxServer, kind: str, dispute_id: str) -> str:
    resp = client.post("/pay/webhooks/braintree", data=sandbox.webhook_form(kind, dispute_id))
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["status"])


def chargebacks(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(LedgerEntryRow)
                .where(LedgerEntryRow.kind == "chargeback")
            )
            or 0
        )


@pytest.mark.parametrize("outcome", ["lost", "accepted", "auto_accepted", "expired"])
def test_money_gone_books_one_chargeback_and_a_later_win_reverses_it(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context, outcome: str
) -> None:
    before = balance(client, auth)
    payment = paid(client, auth)
    after_payment = balance(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    assert notice(client, sandbox, "dispute_opened", dispute_id) == "processed"
    assert balance(client, auth) == after_payment  # opened: nothing booked yet
    sandbox.resolve_dispute(dispute_id, outcome)
    form = sandbox.webhook_form(f"dispute_{outcome}", dispute_id)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "duplicate"
    assert balance(client, auth) == before  # the customer owes the 60.00 again
    assert chargebacks(ctx) == 1
    with ctx.db.transaction() as s:
        row = s.scalars(select(Dispute)).one()
        assert row.status == outcome and row.booked_minor == 6000
        assert [h["status"] for h in row.status_history] == ["open", outcome]
        case = s.scalars(select(Case).where(Case.kind == "disputed")).one()
        assert case.status == "open" and case.detail["outcome"] == outcome
        notes = s.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.topic == "crm.timeline_note")
        ).all()
        assert sorted(notes) == sorted(
            [f"crm.note:dispute:{dispute_id}:open", f"crm.note:dispute:{dispute_id}:{outcome}"]
        )
    with ctx.db.transaction() as s:  # a supervisor resolves the case with a note
        case = s.scalars(select(Case).where(Case.kind == "disputed")).one()
        case.status, case.note = "resolved", "chargeback booked"
    sandbox.resolve_dispute(dispute_id, "won")
    assert notice(client, sandbox, "dispute_won", dispute_id) == "processed"
    assert balance(client, auth) == after_payment  # reversed: paid again
    with ctx.db.transaction() as s:
        assert s.scalars(select(Dispute.booked_minor)).one() == 0
        case = s.scalars(select(Case).where(Case.kind == "disputed")).one()
        assert case.status == "open" and case.detail["outcome"] == "won"  # money moved
    with ctx.db.transaction() as s:
        kinds = s.scalars(
            select(PaymentEventRow.kind).where(PaymentEventRow.payment_id == payment["id"])
        ).all()
    assert kinds.count("chargeback_reversed") == 1 and kinds.count("dispute_opened") == 1
    # The same win notified again later (Braintree stamps to the second): nothing moves,
    # and the payment is no longer counted as disputed, not negatively so.
    time.sleep(1.1)
    assert notice(client, sandbox, "dispute_won", dispute_id) == "processed"
    with ctx.db.transaction() as s:
        events = [
            PaymentEvent(EventKind(e.kind), Money(e.amount_minor, e.currency))
            for e in s.scalars(
                select(PaymentEventRow).where(PaymentEventRow.payment_id == payment["id"])
            )
        ]
    totals = totals_from_events("USD", events)
    assert totals.disputed.is_zero() and totals.charged_back.is_zero()
    assert balance(client, auth) == after_payment


def test_a_won_dispute_books_nothing_and_an_older_notice_does_not_undo_it(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    payment = paid(client, auth)
    after_payment = balance(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    opened = sandbox.webhook_form("dispute_opened", dispute_id)
    sandbox.resolve_dispute(dispute_id, "won")
    assert notice(client, sandbox, "dispute_won", dispute_id) == "processed"
    # the opening notice arrives late (Braintree does not promise order)
    assert client.post("/pay/webhooks/braintree", data=opened).get_json()["status"] == "processed"
    assert balance(client, auth) == after_payment and chargebacks(ctx) == 0
    with ctx.db.transaction() as s:
        assert s.scalars(select(Dispute.status)).one() == "won"


def _signed_dispute(kind: str, transaction_id: str, amount: str, currency: str) -> dict[str, str]:
    """A dispute notice shaped like the SDK's webhook_testing_gateway.py samples, in a
    currency the sandbox never uses, signed the way Braintree signs."""
    xml = (
        '<notification><timestamp type="datetime">2026-12-01T10:00:00Z</timestamp>'
        f"<kind>{kind}</kind><subject><dispute><id>dp_{currency}</id>"
        f"<amount>{amount}</amount><amount-disputed>{amount}</amount-disputed>"
        f"<currency-iso-code>{currency}</currency-iso-code><kind>chargeback</kind>"
        "<reason>fraud</reason><status>lost</status>"
        '<reply-by-date type="date">2026-12-08</reply-by-date>'
        f"<transaction><id>{transaction_id}</id><amount>{amount}</amount></transaction>"
        "</dispute></subject></notification>"
    )
    payload = base64.encodebytes(xml.encode()).decode()
    mac = Crypto.sha1_hmac_hash(SANDBOX["private_key"], payload)
    return {"bt_signature": f"{SANDBOX['public_key']}|{mac}", "bt_payload": payload}


@pytest.mark.parametrize(
    ("amount", "currency"), [("60.00", "EUR"), ("600.00", "USD")], ids=["currency", "amount"]
)
def test_a_dispute_that_does_not_fit_the_payment_opens_a_case_and_books_nothing(
    client: FlaskClient, auth: dict[str, str], ctx: Context, amount: str, currency: str
) -> None:
    payment = paid(client, auth)
    after_payment = balance(client, auth)
    form = _signed_dispute("dispute_lost", payment["psp_reference"], amount, currency)
    resp = client.post("/pay/webhooks/braintree", data=form)
    assert resp.status_code == 200 and resp.get_json()["status"] == "processed"
    assert balance(client, auth) == after_payment and chargebacks(ctx) == 0
    with ctx.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.kind == "disputed")).one()
        assert "problem" in case.detail
        assert s.scalars(select(Dispute.booked_minor)).one() == 0


def test_a_dispute_before_its_payment_is_known_waits(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    form = _signed_dispute("dispute_opened", "unknown-txn", "10.00", "USD")
    resp = client.post("/pay/webhooks/braintree", data=form)
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    with ctx.db.transaction() as s:
        row = s.scalars(select(WebhookEvent)).one()
        assert row.status == "pending" and "unknown-txn" in (row.error or "")
        assert s.scalars(select(Dispute)).all() == []


def test_supervisor_accepts_a_dispute_booked_once_even_when_the_notice_follows(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: Principal,
) -> None:
    before = balance(client, auth)
    payment = paid(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    assert notice(client, sandbox, "dispute_opened", dispute_id) == "processed"
    view = disputes.accept_dispute(ctx, dispute_id, boss)
    assert view["status"] == "accepted" and view["charged_back"] is True
    assert balance(client, auth) == before
    # Braintree's own dispute_accepted notice follows: nothing more is booked
    assert notice(client, sandbox, "dispute_accepted", dispute_id) == "processed"
    assert chargebacks(ctx) == 1
    with pytest.raises(Conflict) as refused:
        disputes.submit_text_evidence(ctx, dispute_id, "tracking 1Z999", boss)
    assert refused.value.code == "dispute_not_open"
    with ctx.db.transaction() as s:
        actions = s.scalars(select(AuditEntry.action)).all()
    assert "dispute.accept_requested" in actions and "dispute.accept" in actions


def test_supervisor_sends_evidence_and_finalizes_nothing_of_the_file_is_kept(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: Principal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    payment = paid(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    notice(client, sandbox, "dispute_opened", dispute_id)
    disputes.submit_text_evidence(ctx, dispute_id, "Delivered, signed by J. Doe", boss)
    pdf = b"%PDF-1.4\n% delivery note\n"
    view = disputes.submit_file_evidence(ctx, dispute_id, "delivery.pdf", pdf, boss)
    assert [e["kind"] for e in view["evidence"]] == ["text", "file"]
    assert view["evidence"][1]["size"] == len(pdf) and view["evidence"][1]["psp_id"]
    assert all("content" not in e for e in view["evidence"])
    view = disputes.finalize_dispute(ctx, dispute_id, boss)
    assert view["status"] == "disputed" and view["finalized_at"]
    assert disputes.dispute_view(ctx, view["id"], boss)["status"] == "disputed"
    assert [d["psp_dispute_id"] for d in disputes.list_disputes(ctx, boss)] == [dispute_id]
    with ctx.db.transaction() as s:
        assert all("delivery note" not in repr(a.data) for a in s.scalars(select(AuditEntry)))
    assert "delivery note" not in caplog.text


def test_disputes_are_refused_to_agents_bad_evidence_and_late_answers(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: Principal,
) -> None:
    agent = authenticate_api_key(ctx, create_api_key(ctx, name="agent", role="agent"))
    payment = paid(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    notice(client, sandbox, "dispute_opened", dispute_id)
    with pytest.raises(Forbidden):
        disputes.accept_dispute(ctx, dispute_id, agent)
    with pytest.raises(Forbidden):
        disputes.list_disputes(ctx, agent)
    with pytest.raises(ValidationError, match="PDF, PNG or JPG"):
        disputes.submit_file_evidence(ctx, dispute_id, "run.exe", b"MZ", boss)
    with pytest.raises(ValidationError, match="empty"):
        disputes.submit_text_evidence(ctx, dispute_id, "   ", boss)
    now = ctx.now()
    ctx.clock = lambda: now + timedelta(days=30)  # the sandbox gives 7 days to answer
    with pytest.raises(Conflict) as late:
        disputes.accept_dispute(ctx, dispute_id, boss)
    assert late.value.code == "dispute_past_reply_by"
    with ctx.db.transaction() as s:
        row = s.scalars(select(Dispute)).one()
        assert row.status == "open" and row.pending_action is None
        assert not s.scalars(select(DisputeEvidence)).all()


def test_a_refusal_by_braintree_is_clear_audited_and_changes_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: Principal,
) -> None:
    payment = paid(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    notice(client, sandbox, "dispute_opened", dispute_id)
    sandbox.resolve_dispute(dispute_id, "lost")  # its notice has not reached us yet
    with pytest.raises(Conflict) as refused:
        disputes.accept_dispute(ctx, dispute_id, boss)
    assert refused.value.code == "dispute_refused"
    assert "only an open dispute can be accepted" in refused.value.message
    assert chargebacks(ctx) == 0
    with ctx.db.transaction() as s:
        row = s.scalars(select(Dispute)).one()
        assert row.status == "open" and row.pending_action is None
        assert "dispute.accept_failed" in s.scalars(select(AuditEntry.action)).all()
    # the notice then books the loss, once
    assert notice(client, sandbox, "dispute_lost", dispute_id) == "processed"
    assert chargebacks(ctx) == 1


def test_a_provider_without_dispute_answers_is_refused_plainly(
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    boss: Principal,
) -> None:
    payment = paid(client, auth)
    dispute_id = sandbox.open_dispute(payment["psp_reference"])
    notice(client, sandbox, "dispute_opened", dispute_id)
    real = ctx.psp

    class PaymentsOnly:
        name = "payments-only"

        def parse_webhook(self, signature: str, payload: str) -> Any:
            return real.parse_webhook(signature, payload)

    ctx.psp = PaymentsOnly()  # type: ignore[assignment]
    try:
        with pytest.raises(Conflict) as refused:
            disputes.accept_dispute(ctx, dispute_id, boss)
    finally:
        ctx.psp = real
    assert refused.value.code == "disputes_unsupported"
    with ctx.db.transaction() as s:
        assert s.scalars(select(Dispute.pending_action)).one() is None
