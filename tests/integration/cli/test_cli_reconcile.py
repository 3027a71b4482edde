"""`crm-pay reconcile [--date D | --from D1 --to D2]`: a day's differences printed and
opened as cases once; bad dates refused with a message that says how to write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Case, ReconciliationRun
from crm_pay.services.context import Context
from paytest import create_link, pay


@pytest.fixture
def sandbox(own_sandbox: SandboxServer) -> SandboxServer:
    """This test's own sandbox: the session's one holds other tests' sales of today,
    which would (rightly) be reported as unknown to this test's ledger."""
    return own_sandbox


def run(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=["crm-pay", "reconcile", *args])


def runs_stored(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(ReconciliationRun)) or 0)


def test_a_day_with_an_unknown_charge_prints_it_opens_one_case_and_exits_1(
    app: Flask, client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: SandboxServer
) -> None:
    _, p = create_link(client, auth, amount="12.50")
    assert pay(client, p["pay_url"]).status_code == 200
    stranger = sandbox.braintree_gateway().transaction.sale(
        {"amount": "3.00", "payment_method_nonce": "fake-valid-nonce"}
    )
    today = ctx.now().date().isoformat()

    first = run(app, "--date", today)
    assert first.exit_code == 1, first.output
    assert f"{today}: 2 PSP row(s), 1 ours, 1 matched" in first.output
    assert "1 difference(s), 1 case(s) opened" in first.output
    assert f"missing_in_ledger: psp {stranger.transaction.id}" in first.output
    assert "ours - / PSP 3.00 USD authorized" in first.output
    assert "USD" in first.output and "1 sale(s) 12.50" in first.output

    second = run(app, "--date", today)
    assert second.exit_code == 1
    assert "1 difference(s), 0 case(s) opened" in second.output
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1


def test_a_range_reconciles_each_day_and_clean_days_exit_0(app: Flask, ctx: Context) -> None:
    today = ctx.now().date()
    first = (today - timedelta(days=2)).isoformat()
    result = run(app, "--from", first, "--to", today.isoformat())
    assert result.exit_code == 0, result.output
    for back in (2, 1, 0):
        day = (today - timedelta(days=back)).isoformat()
        assert f"{day}: 0 PSP row(s), 0 ours, 0 matched" in result.output
    assert runs_stored(ctx) == 3


def test_without_a_date_it_reconciles_yesterday(app: Flask, ctx: Context) -> None:
    result = run(app)
    assert result.exit_code == 0, result.output
    yesterday = (ctx.now().date() - timedelta(days=1)).isoformat()
    assert result.output.startswith(f"{yesterday}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "write it as YYYY-MM-DD (UTC)"),
        (["--date", "01/02/2026"], "write it as YYYY-MM-DD (UTC)"),
        (["--date", "2026-01-31", "--from", "2026-01-01"], "either --date or --from/--to"),
        (["--from", "2026-01-01"], "needs both --from and --to"),
        (["--from", "2026-01-31", "--to", "2026-01-01"], "ends (2026-01-01) before it starts"),
        (["--from", "2026-01-01", "--to", "2026-03-31"], "at most 31 days"),
    ],
)
def test_bad_dates_are_refused_with_a_clear_message_and_nothing_stored(
    app: Flask, ctx: Context, args: list[str], message: str
) -> None:
    result = run(app, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert runs_stored(ctx) == 0


def test_a_day_that_has_not_begun_is_refused(app: Flask, ctx: Context) -> None:
    result = run(app, "--date", (ctx.now().date() + timedelta(days=1)).isoformat())
    assert result.exit_code == 1
    assert "has not begun yet" in result.output
    assert runs_stored(ctx) == 0
