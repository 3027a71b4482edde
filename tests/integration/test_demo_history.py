"""The demo's sample history against a real app, the Braintree sandbox and its webhooks
(SQLite, and PostgreSQL with CRM_PAY_TEST_DATABASE_URL): every case opened by its cause,
the story's dates within what reconciliation reads, so reconciling yesterday and today
finds no difference; an audit chain that verifies and never goes back in time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.demo import prepare_accounts, start_sandbox
from crm_pay.demo_history import SampleHistory, history_context, seed_history
from crm_pay.persistence.models import AuditEntry, Payment, PaymentEventRow
from crm_pay.services import audit
from crm_pay.services.case_views import CaseFilter, case_queue
from crm_pay.services.context import Context
from crm_pay.services.reconciliation import reconcile
from crm_pay.testing.sandbox_app import close_app, start_app
from paytest import app_config, free_port


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[Flask, SandboxServer]]:
    """An app served over HTTP and a sandbox of its own that posts its webhooks to it
    (as ``crm-pay demo`` runs them), with surveys on."""
    port = free_port()
    sandbox = start_sandbox(
        port=0, assets_port=0, webhook_url=f"http://127.0.0.1:{port}/pay/webhooks/braintree"
    )
    app = start_app(
        app_config(db_url, sandbox, tmp_path, CRM_PAY_CSAT=True, CRM_PAY_BRAINTREE_TIMEOUT=5.0),
        tmp_path / "instance",
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, sandbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        close_app(app)
        sandbox.stop()


@pytest.fixture
def history(served: tuple[Flask, SandboxServer]) -> tuple[Context, SampleHistory]:
    app, sandbox = served
    ctx: Context = app.extensions["crm_pay"]
    story_ctx, clock, at = history_context(ctx)
    prepare_accounts(story_ctx)
    return ctx, seed_history(story_ctx, clock, at, sandbox)


def _cases(ctx: Context) -> dict[str, dict[str, Any]]:
    return {c["kind"]: c for c in case_queue(ctx, CaseFilter(state="all"))}


def test_every_case_comes_from_its_cause(history: tuple[Context, SampleHistory]) -> None:
    ctx, made = history
    cases = _cases(ctx)
    assert set(cases) == {
        "disputed",
        "overpaid",
        "receipt_undeliverable",
        "settlement_declined",
        "unknown_at_psp",
    }
    assert cases["overpaid"]["status"] == "resolved"
    assert cases["settlement_declined"]["assignee"] == "supervisor@example.com"
    assert (made.payments, made.declined_first, made.refunds) == (9, 2, 1)
    assert (made.disputes, made.approvals, made.surveys) == (1, 2, 1)
    assert made.reminders == 3  # the three invoices still owed, a week past due
    with ctx.db.transaction() as s:
        statuses = sorted(s.scalars(select(Payment.status)))
    assert statuses.count("failed") == 1  # the attempt the PSP never saw (not_at_psp)
    assert statuses.count("settlement_declined") == 1


def test_its_dates_reconcile_and_the_audit_chain_moves_forward(
    history: tuple[Context, SampleHistory],
) -> None:
    ctx, _ = history
    now = ctx.now()
    yesterday = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=1)
    with ctx.db.transaction() as s:
        created = [p.replace(tzinfo=UTC) for p in s.scalars(select(Payment.created_at))]
        refunds = [
            e.replace(tzinfo=UTC)
            for e in s.scalars(
                select(PaymentEventRow.created_at).where(PaymentEventRow.kind == "refund_succeeded")
            )
        ]
        stamps = list(s.scalars(select(AuditEntry.at).order_by(AuditEntry.seq)))
    assert min(created) >= yesterday + timedelta(hours=8) and max(created) <= now
    assert {c.date() for c in created} == {yesterday.date(), now.date()}
    assert [r.date() for r in refunds] == [now.date()]
    assert stamps == sorted(stamps) and audit.verify(ctx).ok
    for day in (yesterday.date(), now.date()):
        report = reconcile(ctx, day, actor="test")
        assert report["differences"] == [], report
