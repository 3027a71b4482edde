"""Daily reconciliation through the real ``braintree`` SDK against the sandbox: the PSP's
day matched to our payments, every difference a case, a second run opens none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree import BraintreeGateway
from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Case, Dispute, Payment, ReconciliationRun
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from crm_pay.services.reconciliation import RUN_DELAY, reconcile, run_due_reconciliation
from paytest import SANDBOX, create_link, pay
from paytest import csrf_of as _csrf

RECONCILIATION_KINDS = (
    "missing_in_ledger",
    "missing_at_psp",
    "amount_mismatch",
    "status_mismatch",
    "currency_mismatch",
)


@pytest.fixture
def sandbox(own_sandbox: SandboxServer) -> SandboxServer:
    """This test's own sandbox: the session's one holds other tests' sales of today,
    which would (rightly) be reported as unknown to this test's ledger."""
    return own_sandbox


def paid(client: FlaskClient, auth: dict[str, str], amount: str) -> Payment:
    status, p = create_link(client, auth, amount=amount)
    assert status == 201, p
    assert pay(client, p["pay_url"]).status_code == 200
    return payment_row(client, p["id"])


def payment_row(client: FlaskClient, payment_id: str) -> Payment:
    from crm_pay.current import get_context

    with get_context(client.application).db.transaction() as s:
        row = s.get(Payment, payment_id)
        assert row is not None and row.psp_transaction_id
        return row


def reconciliation_cases(ctx: Context) -> list[tuple[str, str]]:
    with ctx.db.transaction() as s:
        rows = s.execute(
            select(Case.kind, Case.subject).where(Case.kind.in_(RECONCILIATION_KINDS))
        ).all()
    return sorted((k, subj) for k, subj in rows)


def kinds(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["psp_id"]) for d in report["differences"])


def test_planted_unknown_missing_and_mismatched_charges_are_exactly_three_cases_once(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
) -> None:
    clean_1 = paid(client, auth, "10.00")
    edited = paid(client, auth, "20.00")
    clean_2 = paid(client, auth, "30.00")
    # 1. A charge at the PSP that we do not know, made straight through the SDK.
    result = sandbox.braintree_gateway().transaction.sale(
        {
            "amount": "42.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert result.is_success
    stranger = result.transaction.id
    # 2. A payment of ours claiming a PSP transaction the PSP never had.
    # 3. One of ours whose amount no longer agrees with the PSP's.
    with ctx.db.transaction() as s:
        template = s.get(Payment, clean_1.id)
        assert template is not None
        s.add(
            Payment(
                id="pay_planted_missing",
                customer_id=template.customer_id,
                channel="link",
                status="submitted_for_settlement",
                amount_minor=1500,
                currency="USD",
                requested_allocations={},
                created_by="tests",
                description="",
                attempt=1,
                psp_transaction_id="nosuchtxn",
                janitor_checks=0,
                created_at=ctx.now(),
                updated_at=ctx.now(),
            )
        )
        row = s.get(Payment, edited.id)
        assert row is not None
        row.amount_minor = 2500
    today = ctx.now().date().isoformat()

    resp = client.post(f"/pay/api/v1/reconciliations/{today}", headers=supervisor)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert kinds(report) == sorted(
        [
            ("missing_in_ledger", stranger),
            ("missing_at_psp", "nosuchtxn"),
            ("amount_mismatch", edited.psp_transaction_id),
        ]
    )
    lines = {d["kind"]: d for d in report["differences"]}
    assert lines["amount_mismatch"]["ours"] == "25.00 USD"
    assert lines["amount_mismatch"]["theirs"] == "20.00 USD"
    assert lines["amount_mismatch"]["payment_id"] == edited.id
    assert lines["missing_at_psp"]["payment_id"] == "pay_planted_missing"
    assert lines["missing_in_ledger"]["theirs"] == "42.00 USD submitted_for_settlement"
    assert lines["missing_in_ledger"]["payment_id"] is None
    assert (report["matched"], report["psp_rows"], report["ledger_rows"]) == (2, 4, 4)
    assert report["cases_opened"] == 3
    (total,) = report["totals"]
    assert (total["currency"], total["sales_count"], total["sales"]) == ("USD", 2, "40.00")
    assert total["merchant_account"]  # the sandbox names the account it charged
    cases = reconciliation_cases(ctx)
    assert cases == sorted(
        [
            ("missing_in_ledger", f"psp:{stranger}"),
            ("missing_at_psp", "psp:nosuchtxn"),
            ("amount_mismatch", f"psp:{edited.psp_transaction_id}"),
        ]
    )
    with ctx.db.transaction() as s:
        case_ids = set(s.scalars(select(Case.id).where(Case.kind.in_(RECONCILIATION_KINDS))))
    assert {d["case_id"] for d in report["differences"]} == case_ids
    assert clean_2.psp_transaction_id not in {d["psp_id"] for d in report["differences"]}

    again = reconcile(ctx, ctx.now().date(), actor="tests")
    assert again["cases_opened"] == 0
    assert kinds(again) == kinds(report)
    assert again["runs"] == 2
    assert reconciliation_cases(ctx) == cases

    got = client.get(f"/pay/api/v1/reconciliations/{today}", headers=supervisor)
    assert got.status_code == 200
    assert kinds(got.get_json()) == kinds(report)
    assert got.get_json()["status"] == "completed"


def test_settled_payment_and_its_refund_match_and_a_voided_sale_is_a_status_mismatch(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
) -> None:
    refunded = paid(client, auth, "50.00")
    sandbox.settle(refunded.psp_transaction_id or "")
    resp = client.post(
        f"/pay/api/v1/payments/{refunded.id}/refund",
        json={"amount": "5.00"},
        headers={**supervisor, "Idempotency-Key": "refund-1"},
    )
    assert resp.status_code == 201, resp.get_json()
    voided_at_psp = paid(client, auth, "7.00")
    # Someone voids a sale in the PSP's control panel; we still hold it as taken.
    assert sandbox.braintree_gateway().transaction.void(voided_at_psp.psp_transaction_id).is_success

    report = reconcile(ctx, ctx.now().date(), actor="tests")
    assert kinds(report) == [("status_mismatch", voided_at_psp.psp_transaction_id)]
    (line,) = report["differences"]
    assert line["ours"] == "sale submitted_for_settlement"
    assert line["theirs"] == "sale voided"
    (total,) = report["totals"]
    assert (total["sales"], total["refunds_count"], total["refunds"], total["net"]) == (
        "50.00",
        1,
        "5.00",
        "45.00",
    )
    assert report["matched"] == 2


def test_bad_days_and_roles_get_clear_errors_and_store_nothing(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], ctx: Context
) -> None:
    for bad in ("2026-02-30", "yesterday", "20260131"):
        resp = client.get(f"/pay/api/v1/reconciliations/{bad}", headers=supervisor)
        assert resp.status_code == 422
        assert resp.get_json()["error"]["code"] == "invalid_date"
        assert "YYYY-MM-DD" in resp.get_json()["error"]["message"]
    future = (ctx.now().date() + timedelta(days=2)).isoformat()
    resp = client.post(f"/pay/api/v1/reconciliations/{future}", headers=supervisor)
    assert resp.status_code == 422
    assert "has not begun" in resp.get_json()["error"]["message"]
    resp = client.get("/pay/api/v1/reconciliations/2026-01-31", headers=supervisor)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_reconciled"
    resp = client.post("/pay/api/v1/reconciliations/2026-01-31", headers=auth)
    assert resp.status_code == 403
    assert client.get("/pay/api/v1/reconciliations/2026-01-31").status_code == 401
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ReconciliationRun)) == 0


def test_a_psp_outage_fails_the_run_and_reports_nothing_missing(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
) -> None:
    paid(client, auth, "10.00")
    today = ctx.now().date().isoformat()
    sandbox.fail_next("500")
    resp = client.post(f"/pay/api/v1/reconciliations/{today}", headers=supervisor)
    assert resp.status_code == 502
    assert resp.get_json()["error"]["code"] == "psp_unavailable"
    got = client.get(f"/pay/api/v1/reconciliations/{today}", headers=supervisor).get_json()
    assert got["status"] == "failed"
    assert got["error"]
    assert reconciliation_cases(ctx) == []
    # The PSP is back: the same day runs cleanly.
    resp = client.post(f"/pay/api/v1/reconciliations/{today}", headers=supervisor)
    assert resp.status_code == 200
    assert resp.get_json()["differences"] == []
    assert resp.get_json()["matched"] == 1


def _signed_in(client: FlaskClient, ctx: Context, role: str) -> str:
    """Sign in through the form as a new ``role`` user; returns a CSRF token."""
    create_user(ctx, email=f"{role}@example.com", role=role, password="correct horse battery")
    page = client.get("/pay/agent/login")
    resp = client.post(
        "/pay/agent/login",
        data={
            "email": f"{role}@example.com",
            "password": "correct horse battery",
            "csrf_token": _csrf(page.text),
        },
    )
    assert resp.status_code == 302, resp.text
    return _csrf(client.get("/pay/supervisor/reconciliation").text)


def test_the_supervisor_page_runs_a_day_and_lists_its_differences(
    app: Flask, auth: dict[str, str], ctx: Context, sandbox: SandboxServer
) -> None:
    client = app.test_client()
    paid(client, auth, "10.00")
    stranger = sandbox.braintree_gateway().transaction.sale(
        {"amount": "9.99", "payment_method_nonce": "fake-valid-nonce"}
    )
    assert stranger.is_success
    token = _signed_in(client, ctx, "supervisor")
    today = ctx.now().date().isoformat()
    page = client.get(f"/pay/supervisor/reconciliation?date={today}")
    assert page.status_code == 200
    assert "has not been reconciled yet" in page.text
    resp = client.post(
        "/pay/supervisor/reconciliation",
        data={"date": today, "csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "1 matched, 1 difference, 1 new case" in resp.text
    assert 'data-kind="missing_in_ledger"' in resp.text
    assert stranger.transaction.id in resp.text
    assert "9.99 USD authorized" in resp.text
    bad = client.get("/pay/supervisor/reconciliation?date=31/01/2026")
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.text


def test_agents_may_not_open_the_supervisor_page(app: Flask, ctx: Context) -> None:
    client = app.test_client()
    create_user(ctx, email="agent@example.com", role="agent", password="correct horse battery")
    page = client.get("/pay/agent/login")
    client.post(
        "/pay/agent/login",
        data={
            "email": "agent@example.com",
            "password": "correct horse battery",
            "csrf_token": _csrf(page.text),
        },
    )
    assert client.get("/pay/supervisor/reconciliation").status_code == 403
    assert app.test_client().get("/pay/supervisor/reconciliation").status_code in (302, 401)


def test_the_worker_reconciles_yesterday_once_a_day(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: SandboxServer
) -> None:
    yesterday = ctx.now().date() - timedelta(days=1)
    later = ctx.now() + RUN_DELAY  # the worker waits until the day is well over
    ctx.clock = lambda: later
    first = run_due_reconciliation(ctx)
    assert first is not None
    assert (first["date"], first["status"], first["triggered_by"]) == (
        yesterday.isoformat(),
        "completed",
        "worker",
    )
    assert run_due_reconciliation(ctx) is None  # done for the day: nothing runs again
    with ctx.db.transaction() as s:
        run = s.scalars(select(ReconciliationRun)).one()
        assert (run.day, run.runs) == (yesterday, 1)


def test_the_adapter_pages_the_search_and_splits_a_window_braintree_would_truncate(
    sandbox: SandboxServer,
) -> None:
    gateway = sandbox.braintree_gateway()
    made = {
        gateway.transaction.sale(
            {"amount": "1.00", "payment_method_nonce": "fake-valid-nonce"}
        ).transaction.id
        for _ in range(55)
    }
    adapter = BraintreeGateway.for_local_sandbox(sandbox.gateway_url, **SANDBOX)
    adapter.SEARCH_RESULT_LIMIT = 20  # type: ignore[misc]  # Braintree's is 20,000
    now = datetime.now(UTC).replace(microsecond=0)
    pages = list(adapter.iter_search(now - timedelta(hours=1), now + timedelta(hours=1)))
    adapter.close()
    found = [txn.id for _, page in pages for txn in page]
    assert sorted(found) == sorted(made)  # every one, none twice
    assert {total for total, _ in pages} == {55}
    assert max(len(page) for _, page in pages) <= 50


def test_the_report_carries_the_psps_settlement_batch_summary(
    sandbox: SandboxServer, client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    day = ctx.now().date()
    usd = paid(client, auth, "40.00")
    sandbox.settle(usd.psp_transaction_id)  # type: ignore[arg-type]
    report = reconcile(ctx, day)
    assert report["settlement_summary"] == [
        {
            "merchant_account": "crm_pay_usd",
            "card_type": "Visa",
            "kind": "sale",
            "count": 1,
            "amount": "40.00",
            "currency": "USD",
        }
    ]


# ---- chargebacks: our dispute records against the PSP's disputes of the day
def dispute_notice(client: FlaskClient, sandbox: SandboxServer, kind: str, dispute_id: str) -> None:
    # The test sandbox has no webhook URL: a notice reaches us only when posted here.
    resp = client.post("/pay/webhooks/braintree", data=sandbox.webhook_form(kind, dispute_id))
    assert resp.status_code == 200, resp.get_json()


def test_an_unknown_dispute_and_a_lost_one_never_booked_are_two_cases_once(
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
) -> None:
    known, unknown, lost = (paid(client, auth, amount) for amount in ("10.00", "20.00", "30.00"))
    # 1. Recorded on both sides, both open: matches.
    agreed = sandbox.open_dispute(known.psp_transaction_id or "")
    dispute_notice(client, sandbox, "dispute_opened", agreed)
    # 2. Opened at the PSP; its webhook never reached us.
    stranger = sandbox.open_dispute(unknown.psp_transaction_id or "")
    # 3. We heard it open; the PSP has since decided it lost, and that notice was lost.
    gone = sandbox.open_dispute(lost.psp_transaction_id or "")
    dispute_notice(client, sandbox, "dispute_opened", gone)
    sandbox.resolve_dispute(gone, "lost")
    with ctx.db.transaction() as s:
        assert sorted(s.scalars(select(Dispute.psp_dispute_id))) == sorted([agreed, gone])
    today = ctx.now().date().isoformat()

    resp = client.post(f"/pay/api/v1/reconciliations/{today}", headers=supervisor)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert kinds(report) == sorted([("missing_in_ledger", stranger), ("status_mismatch", gone)])
    lines = {d["kind"]: d for d in report["differences"]}
    assert lines["missing_in_ledger"]["payment_id"] == unknown.id
    assert lines["missing_in_ledger"]["txn_kind"] == "dispute"
    assert lines["missing_in_ledger"]["theirs"] == "20.00 USD chargeback open"
    assert lines["status_mismatch"]["payment_id"] == lost.id
    assert lines["status_mismatch"]["ours"] == "chargeback open, no chargeback booked"
    assert lines["status_mismatch"]["theirs"] == "30.00 USD chargeback lost"
    assert report["matched"] == 3  # the three sales themselves agree
    assert report["cases_opened"] == 2
    cases = reconciliation_cases(ctx)
    assert cases == sorted(
        [
            ("missing_in_ledger", f"psp-dispute:{stranger}"),
            ("status_mismatch", f"psp-dispute:{gone}"),
        ]
    )

    again = reconcile(ctx, ctx.now().date(), actor="tests")
    assert again["cases_opened"] == 0
    assert kinds(again) == kinds(report)
    assert reconciliation_cases(ctx) == cases

    # The lost notice arrives: the chargeback is booked, and the day is clean again.
    dispute_notice(client, sandbox, "dispute_lost", gone)
    dispute_notice(client, sandbox, "dispute_opened", stranger)
    assert reconcile(ctx, ctx.now().date(), actor="tests")["differences"] == []


def test_a_dispute_is_reported_on_the_psps_day_only_and_ours_is_looked_up_before_missing(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: SandboxServer
) -> None:
    payment = paid(client, auth, "15.00")
    dispute_id = sandbox.open_dispute(payment.psp_transaction_id or "")
    dispute_notice(client, sandbox, "dispute_opened", dispute_id)
    today = ctx.now().date()
    late_yesterday = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(minutes=1)
    with ctx.db.transaction() as s:
        row = s.scalars(select(Dispute)).one()
        # We stamped it 23:59 yesterday; Braintree received it today.
        row.opened_at = row.status_at = late_yesterday
        # And one record of ours that Braintree has never heard of, opened yesterday.
        s.add(
            Dispute(
                psp_dispute_id="nosuchdispute",
                payment_id=payment.id,
                kind="chargeback",
                reason="fraud",
                amount_minor=500,
                currency="USD",
                status="open",
                status_at=late_yesterday,
                status_history=[],
                booked_minor=0,
                opened_at=late_yesterday,
                updated_at=late_yesterday,
            )
        )
    yesterday_report = reconcile(ctx, today - timedelta(days=1), actor="tests")
    assert kinds(yesterday_report) == [("missing_at_psp", "nosuchdispute")]
    (line,) = yesterday_report["differences"]
    assert (line["ours"], line["theirs"], line["txn_kind"]) == (
        "5.00 USD chargeback open",
        None,
        "dispute",
    )
    assert reconcile(ctx, today, actor="tests")["differences"] == []


def test_the_adapter_lists_a_days_disputes_once_each_through_the_sdk(
    sandbox: SandboxServer,
) -> None:
    gateway = sandbox.braintree_gateway()
    sale = gateway.transaction.sale(
        {"amount": "8.00", "payment_method_nonce": "fake-valid-nonce"}
    ).transaction
    opened = [sandbox.open_dispute(sale.id, "1.00") for _ in range(12)]
    sandbox.resolve_dispute(opened[0], "won")
    adapter = BraintreeGateway.for_local_sandbox(sandbox.gateway_url, **SANDBOX)
    today = datetime.now(UTC).date()
    # Received today and changed today: each is found by both searches, listed once.
    found = list(adapter.iter_disputes(today, today))
    later = list(adapter.iter_disputes(today + timedelta(days=1), today + timedelta(days=2)))
    adapter.close()
    assert [d.id for d in found] == opened
    assert found[0].status == "won" and found[1].status == "open"
    assert found[1].amount is not None and found[1].amount.to_decimal_str() == "1.00"
    assert (found[1].transaction_id, found[1].received_on) == (sale.id, today)
    assert later == []
