"""The PSP is the truth about money it moved (DESIGN.md rules 8 and 9), through the real
SDK against the sandbox: card settlement learnt without webhooks, settlement declines
reversed, refunds decided by the PSP's state, ``unknown`` always ending."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.app import create_app
from crm_pay.domain.errors import ConfigurationError
from crm_pay.persistence.models import (
    AuditEntry,
    Case,
    LedgerEntryRow,
    Message,
    OutboxMessage,
    Payment,
    PaymentEventRow,
    Receipt,
)
from crm_pay.services import refunds as refunds_service
from crm_pay.services.context import Context
from crm_pay.services.janitor import run_janitor
from crm_pay.services.refunds import refund_request_key
from crm_pay.worker import make_dispatcher
from paytest import app_config, balance, create_link, paid, pay, refund


def status_of(ctx: Context, payment_id: str) -> str:
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        return payment.status


def count(ctx: Context, model: Any, *where: Any) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def in_doubt(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, amount: str, fault: str
) -> dict[str, Any]:
    """A link payment left ``unknown`` by a PSP fault: ``"500"`` answers before the sale
    (the PSP never sees it), ``"timeout"`` after it (the sale is made, its answer lost)."""
    _, payment = create_link(client, auth, amount=amount)
    sandbox.fail_next(fault)
    assert pay(client, payment["pay_url"]).get_json()["status"] == "unknown"
    return payment


def later(ctx: Context, **delta: float) -> None:
    real = ctx.clock
    ctx.clock = lambda: real() + timedelta(**delta)


# ------------------------------------------------------------------ settlement, no webhook
def test_a_card_settled_in_the_batch_is_settled_after_the_janitor_and_refunds_partly(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    p = paid(client, auth, "80.00")
    sandbox.settle(p["psp_reference"])  # the nightly batch: Braintree sends no webhook
    assert status_of(ctx, p["id"]) == "submitted_for_settlement"
    later(ctx, seconds=ctx.settings.settlement_poll_seconds + 1)  # the next scheduled check
    report = run_janitor(ctx)
    assert report.settlement is not None and report.settlement.settled == 1
    assert status_of(ctx, p["id"]) == "settled"
    resp = refund(client, supervisor, p["id"], amount="30.00")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["refunded"] == "30.00"
    # Applied once: a second pass and a read change nothing.
    run_janitor(ctx)
    assert count(ctx, PaymentEventRow, PaymentEventRow.kind == "settlement_succeeded") == 1


def test_a_refund_of_a_payment_that_settled_since_our_last_look_succeeds_first_time(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    p = paid(client, auth, "90.00")
    before = balance(client, auth)
    sandbox.settle(p["psp_reference"])
    # Partial: only possible once settled; we have not looked since the batch.
    resp = refund(client, supervisor, p["id"], amount="15.00")
    assert resp.status_code == 201, resp.get_json()
    view = resp.get_json()
    assert view["status"] == "settled"
    assert view["refunded"] == "15.00"
    # Full (all that is left): a refund at the PSP, not a void it would refuse.
    resp = refund(client, supervisor, p["id"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["refunded"] == "90.00"
    credits = [
        t for t in sandbox.transactions if t.get("refunded_transaction_id") == p["psp_reference"]
    ]
    assert sorted(t["amount"] for t in credits) == ["15.00", "75.00"]
    assert balance(client, auth) != before


def test_a_void_refused_because_the_batch_settled_meanwhile_becomes_a_refund(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = paid(client, auth, "70.00")
    # Our look at the PSP happened just before the batch ran: we believe it voidable.
    monkeypatch.setattr(refunds_service, "refresh_from_psp", lambda *a, **k: None)
    sandbox.settle(p["psp_reference"])
    resp = refund(client, supervisor, p["id"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["refunded"] == "70.00"
    sale = next(t for t in sandbox.transactions if t["id"] == p["psp_reference"])
    assert sale["status"] == "settled"  # not voided: refunded
    assert [
        t["amount"]
        for t in sandbox.transactions
        if t.get("refunded_transaction_id") == p["psp_reference"]
    ] == ["70.00"]
    assert count(ctx, Receipt, Receipt.payment_id == p["id"], Receipt.kind == "refund") == 1


def test_unsettled_payment_is_still_voided_when_the_psp_says_it_can_be(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    p = paid(client, auth, "33.00")
    resp = refund(client, supervisor, p["id"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "voided"
    sale = next(t for t in sandbox.transactions if t["id"] == p["psp_reference"])
    assert sale["status"] == "voided"


def test_long_idempotency_keys_never_exceed_braintrees_request_key_limit() -> None:
    short = refund_request_key("pay_x", "refund:api_key:1", "k1")
    assert short == "pay_x:refund:refund:api_key:1:k1"
    long_key = "k" * 200
    hashed = refund_request_key("pay_" + "a" * 28, "refund:api_key:123456", long_key)
    assert len(hashed) <= 255
    assert hashed == refund_request_key("pay_" + "a" * 28, "refund:api_key:123456", long_key)
    assert hashed != refund_request_key("pay_" + "a" * 28, "refund:api_key:123456", "j" * 200)


def test_a_refund_with_a_200_character_key_is_made_once(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    p = paid(client, auth, "40.00")
    sandbox.settle(p["psp_reference"])
    key = "x" * 200
    first = refund(client, supervisor, p["id"], key=key, amount="5.00")
    again = refund(client, supervisor, p["id"], key=key, amount="5.00")
    assert (first.status_code, again.status_code) == (201, 200), first.get_json()
    assert [
        t["amount"]
        for t in sandbox.transactions
        if t.get("refunded_transaction_id") == p["psp_reference"]
    ] == ["5.00"]


# ------------------------------------------------------------------ settlement declined
def test_a_settlement_decline_reverses_the_payment_with_receipt_case_notice_and_crm(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    before = balance(client, auth)
    p = paid(client, auth, "120.00")
    assert balance(client, auth) != before
    sandbox.settlement_decline(p["psp_reference"])
    later(ctx, seconds=ctx.settings.settlement_poll_seconds + 1)
    report = run_janitor(ctx)
    assert report.settlement is not None and report.settlement.declined == 1
    assert status_of(ctx, p["id"]) == "settlement_declined"
    view = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()
    # The PSP's settlement response code (sandbox: 4001, Braintree's settlement decline).
    assert view["decline"]["code"] == "settlement.4001"
    # The balance is as if the payment never happened.
    assert balance(client, auth) == before
    with ctx.db.transaction() as s:
        reversal = s.scalars(
            select(Receipt).where(Receipt.payment_id == p["id"], Receipt.kind == "reversal")
        ).one()
        assert reversal.content["amount_paid_minor"] == 12000
        assert reversal.number.startswith("R-")
        cases = set(s.scalars(select(Case.kind).where(Case.payment_id == p["id"])))
        assert "settlement_declined" in cases
        emails = list(s.scalars(select(Message).where(Message.payment_id == p["id"])))
        assert reversal.number in {m.receipt_number for m in emails}
        topics = [
            (m.topic, m.payload.get("status"))
            for m in s.scalars(
                select(OutboxMessage).where(OutboxMessage.ordering_key.like("crm:%"))
            )
        ]
        assert ("crm.upsert_payment", "settlement_declined") in topics
        assert any(t == "crm.update_balance" for t, _ in topics)
        assert any(t == "crm.timeline_note" for t, _ in topics)
        entries = list(
            s.scalars(select(LedgerEntryRow.kind).where(LedgerEntryRow.payment_id == p["id"]))
        )
        assert "settlement_reversal" in entries
    # Applied exactly once: another pass, a read and a refund attempt change nothing.
    run_janitor(ctx)
    view = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()
    assert view["status"] == "settlement_declined"
    resp = refund(client, supervisor, p["id"])
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "nothing_to_refund"
    assert count(ctx, Receipt, Receipt.payment_id == p["id"], Receipt.kind == "reversal") == 1
    assert balance(client, auth) == before
    # Delivered, the CRM holds the balance as before the payment and the payment reversed.
    make_dispatcher(ctx).drain()
    crm_balance, _ = ctx.crm.balance_of("CUST-0001")  # type: ignore[attr-defined]
    assert crm_balance.to_decimal_str() == before
    pushed = {r["payment_id"]: r for r in ctx.crm.payments_for("CUST-0001")}  # type: ignore[attr-defined]
    assert pushed[p["id"]]["status"] == "settlement_declined"
    with ctx.db.transaction() as s:
        number = s.scalars(
            select(Receipt.number).where(Receipt.payment_id == p["id"], Receipt.kind == "reversal")
        ).one()
    assert number in ctx.crm.receipts_for("CUST-0001")  # type: ignore[attr-defined]


def test_the_reversal_email_tells_the_customer_what_happened(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    p = paid(client, auth, "55.00")
    sandbox.settlement_decline(p["psp_reference"])
    later(ctx, seconds=ctx.settings.settlement_poll_seconds + 1)
    run_janitor(ctx)
    make_dispatcher(ctx).drain()
    with ctx.db.transaction() as s:
        number = s.scalars(
            select(Receipt.number).where(Receipt.payment_id == p["id"], Receipt.kind == "reversal")
        ).one()
    mail = ctx.email.read(f"receipt.{number}@example.com")  # type: ignore[union-attr]
    assert mail is not None
    assert "did not reach us" in mail.entry.subject
    for body in (mail.text, mail.html):
        words = " ".join(body.split())
        assert "owed again" in words and "Nothing more was taken from your card" in words
    assert [a.filename for a in mail.attachments] == [f"{number}.pdf"]
    assert mail.attachments[0].content.startswith(b"%PDF")


# ------------------------------------------------------------------ unknown always ends
def test_an_unknown_payment_the_psp_never_saw_fails_after_the_window_and_can_be_paid(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    ctx.settings = dataclasses.replace(ctx.settings, unknown_window_seconds=300)
    payment = in_doubt(client, auth, sandbox, "62.00", "500")
    real = ctx.clock
    for seconds in (60, 150, 290):  # inside the window: never silently failed
        ctx.clock = lambda seconds=seconds: real() + timedelta(seconds=seconds)
        run_janitor(ctx)
        assert status_of(ctx, payment["id"]) == "unknown"
    ctx.clock = lambda: real() + timedelta(seconds=600)  # past the window, check due
    run_janitor(ctx)
    ctx.clock = real
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "failed"
    assert view["decline"]["code"] == "not_at_psp"
    # The customer is unblocked: the same link takes a new attempt with a new order id.
    again = pay(client, payment["pay_url"]).get_json()
    assert again["status"] == "submitted_for_settlement", again
    assert sandbox.sales_count(f"{payment['id']}-1") == 0
    assert sandbox.sales_count(f"{payment['id']}-2") == 1


def test_an_unknown_payment_the_psp_did_see_is_applied_once(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    ctx.settings = dataclasses.replace(ctx.settings, unknown_window_seconds=1)
    payment = in_doubt(client, auth, sandbox, "64.00", "timeout")
    later(ctx, seconds=3600)
    run_janitor(ctx)
    run_janitor(ctx)
    assert status_of(ctx, payment["id"]) == "submitted_for_settlement"
    assert count(ctx, Receipt, Receipt.payment_id == payment["id"]) == 1
    assert sandbox.sales_count(f"{payment['id']}-1") == 1


def test_an_amount_mismatch_found_by_the_janitor_keeps_its_case(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    payment = in_doubt(client, auth, sandbox, "66.00", "timeout")
    with ctx.db.transaction() as s:  # what we asked no longer matches the PSP's sale
        row = s.get(Payment, payment["id"])
        assert row is not None
        row.amount_minor = 6700
    later(ctx, seconds=120)
    run_janitor(ctx)
    with ctx.db.transaction() as s:
        kinds = set(s.scalars(select(Case.kind).where(Case.payment_id == payment["id"])))
    assert "amount_mismatch" in kinds
    assert status_of(ctx, payment["id"]) == "unknown"  # never booked on a wrong amount
    assert count(ctx, Receipt, Receipt.payment_id == payment["id"]) == 0


def test_a_supervisor_resolves_an_unknown_payment_by_hand(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    payment = in_doubt(client, auth, sandbox, "68.00", "500")
    url = f"/pay/api/v1/payments/{payment['id']}/resolve"
    assert client.post(url, json={"note": "checked"}, headers=auth).status_code == 403
    missing = client.post(url, json={}, headers=supervisor)
    assert missing.status_code == 422
    assert "note" in missing.get_json()["error"]["message"]
    assert status_of(ctx, payment["id"]) == "unknown"
    done = client.post(url, json={"note": "PSP control panel shows nothing"}, headers=supervisor)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "failed"
    with ctx.db.transaction() as s:
        actions = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.subject == payment["id"]))
        )
    assert "payment.not_at_psp" in actions
    again = client.post(url, json={"note": "twice"}, headers=supervisor)
    assert again.status_code == 409


def test_resolving_by_hand_applies_a_sale_the_psp_has(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    payment = in_doubt(client, auth, sandbox, "69.00", "timeout")
    done = client.post(
        f"/pay/api/v1/payments/{payment['id']}/resolve",
        json={"note": "customer says it went through"},
        headers=supervisor,
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "submitted_for_settlement"  # nobody can fail paid money


@pytest.mark.parametrize("bad", [0, -5, "soon", 1.5])
def test_a_bad_unknown_window_is_refused_at_start_with_the_key_named(
    bad: object, db_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="CRM_PAY_UNKNOWN_WINDOW"):
        create_app(
            app_config(db_url, sandbox, tmp_path, CRM_PAY_UNKNOWN_WINDOW=bad),
            instance_path=str(tmp_path / "instance"),
        )


def test_a_card_number_in_a_resolution_note_is_never_stored(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    payment = in_doubt(client, auth, sandbox, "71.00", "500")
    note = "customer read out 4111 1111 1111 1111, nothing at Braintree"
    done = client.post(
        f"/pay/api/v1/payments/{payment['id']}/resolve", json={"note": note}, headers=supervisor
    )
    assert done.status_code == 200, done.get_json()
    with ctx.db.transaction() as s:
        stored = [
            str(e.data)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.subject == payment["id"]))
        ] + [
            str(e.detail)
            for e in s.scalars(
                select(PaymentEventRow).where(PaymentEventRow.payment_id == payment["id"])
            )
        ]
    assert any("nothing at Braintree" in text for text in stored)
    assert not any("4111" in text.replace(" ", "") for text in stored)


def test_a_refund_the_bank_declines_books_nothing_and_says_so_in_plain_words(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
) -> None:
    _, p = create_link(client, auth, amount="3500.00")
    assert pay(client, p["pay_url"]).get_json()["status"] == "submitted_for_settlement"
    view = client.get(f"/pay/api/v1/payments/{p['id']}", headers=auth).get_json()
    sandbox.settle(view["psp_reference"])
    before = balance(client, auth)
    # Braintree declines refunds of 2000.00-2999.99 with a hard decline code (2004 Expired
    # Card) as a processor_declined credit.
    resp = refund(client, supervisor, p["id"], amount="2004.00")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "refund_refused"
    assert "nothing was refunded" in error["message"]
    assert "Braintree" not in error["message"] and "Expired Card" not in error["message"]
    assert balance(client, auth) == before
    assert count(ctx, Receipt, Receipt.payment_id == p["id"], Receipt.kind == "refund") == 0
    with ctx.db.transaction() as s:
        kinds = list(
            s.scalars(select(PaymentEventRow.kind).where(PaymentEventRow.payment_id == p["id"]))
        )
    assert "refund_failed" in kinds and "refund_succeeded" not in kinds
    # The rest can still be refunded.
    assert refund(client, supervisor, p["id"], amount="100.00").status_code == 201


def test_a_payment_still_being_charged_cannot_be_resolved_by_hand(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="72.00")
    with ctx.db.transaction() as s:  # the customer's request is at the PSP right now
        row = s.get(Payment, payment["id"])
        assert row is not None
        row.status = "processing"
        row.attempt = 1
        row.updated_at = ctx.now()
    resp = client.post(
        f"/pay/api/v1/payments/{payment['id']}/resolve",
        json={"note": "customer hung up"},
        headers=supervisor,
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "payment_in_flight"
    assert status_of(ctx, payment["id"]) == "processing"


def test_an_unknown_sale_the_psp_declined_at_settlement_ends_without_booking(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    before = balance(client, auth)
    payment = in_doubt(client, auth, sandbox, "73.00", "timeout")
    [sale] = [t for t in sandbox.transactions if t.get("order_id") == f"{payment['id']}-1"]
    sandbox.settlement_decline(sale["id"])
    later(ctx, seconds=120)
    run_janitor(ctx)
    view = client.get(f"/pay/api/v1/payments/{payment['id']}", headers=auth).get_json()
    assert view["status"] == "settlement_declined"
    assert view["decline"]["code"].startswith("settlement.")
    assert view["receipt_number"] is None and view["reversal_receipt"] is None
    assert balance(client, auth) == before  # never booked, nothing to reverse
    with ctx.db.transaction() as s:
        kinds = set(s.scalars(select(Case.kind).where(Case.payment_id == payment["id"])))
    assert "settlement_declined" in kinds


def test_a_decline_without_a_transaction_shows_no_card_of_an_earlier_attempt(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, payment = create_link(client, auth, amount="74.00")
    first = pay(client, payment["pay_url"], nonce="fake-processor-declined-visa-nonce")
    assert first.get_json()["status"] == "declined" and first.get_json()["card"] is not None
    # A well-formed nonce Braintree does not know: refused with no transaction (91565).
    second = pay(client, payment["pay_url"], nonce="tokencc_unknown_nonce_0000").get_json()
    assert second["status"] == "declined"
    assert second["card"] is None
