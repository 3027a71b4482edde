"""``crm-pay`` command line (also ``flask crm-pay``). Each command is a thin wrapper over
a service function.

This module holds the command group that ``crm_pay.extension`` registers on every app
(``flask crm-pay``); it never imports the standalone app factory, so the extension can
import it at module top. The ``crm-pay`` program itself, with the commands that need the
standalone app (``demo``, ``sandbox``), is ``crm_pay.cli_main``.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from crm_pay.cli_common import app_context, command_context, fail
from crm_pay.cli_launch import launch_url
from crm_pay.cli_serve import serve
from crm_pay.domain.errors import CrmPayError
from crm_pay.page_scripts import pay_page_scripts
from crm_pay.persistence.migrate import current_revision, upgrade
from crm_pay.services import access, mfa
from crm_pay.services.access import (
    create_api_key,
    create_user,
    list_api_keys,
    list_users,
    revoke_api_key,
)
from crm_pay.services.audit import entries, verify
from crm_pay.services.crm_settings import (
    enable_connector,
    list_connectors,
    sync_status,
    test_connector,
)
from crm_pay.services.janitor import run_janitor
from crm_pay.services.outbox import outbox_summary, replay
from crm_pay.services.reconciliation import day_range, parse_day
from crm_pay.services.reconciliation import reconcile as reconcile_day
from crm_pay.services.secrets import rotate_secrets
from crm_pay.worker import BackgroundWorkers, make_dispatcher
from vault import KeyRing

__all__ = ["cli"]


@click.group("crm-pay", help="crm-pay: agent-assisted card payments for contact centers.")
def cli() -> None:
    pass


@cli.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply migrations up to the latest revision.")
def db_upgrade() -> None:
    with app_context():
        ctx = command_context()
        upgrade(ctx.db)
        click.echo(f"database at revision {current_revision(ctx.db)}")


@cli.group("users", help="People who sign in.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), required=True)
@click.option("--password", help="Default: a random one, printed once.")
def users_create(email: str, role: str, password: str | None) -> None:
    password = password or secrets.token_urlsafe(12)
    with app_context():
        try:
            create_user(command_context(), email=email, role=role, password=password)
        except CrmPayError as exc:
            fail(exc)
    click.echo(f"user {email} ({role}) created")
    click.echo(f"password: {password}")


@users_group.command("list")
def users_list() -> None:
    """Every user with role, status and last sign-in."""
    with app_context():
        rows = list_users(command_context())
    if not rows:
        click.echo("no users yet; `crm-pay users create` adds one")
    for u in rows:
        status = "active     " if u["active"] else "deactivated"
        last = str(u["last_login_at"] or "never signed in")[:16].replace("T", " ")
        click.echo(f"{u['id']:>4} {status} {u['role']:<10} {u['email']:<40} {last}")


def _change_user(change: Callable[..., dict[str, Any]], *args: str) -> dict[str, Any]:
    with app_context():
        try:
            return change(command_context(), *args, actor="cli")
        except CrmPayError as exc:
            fail(exc)
    raise AssertionError("unreachable: _fail exits")


@users_group.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Stop EMAIL signing in; their open consoles are signed out on the next request."""
    user = _change_user(access.deactivate_user, email)
    click.echo(f"user {user['email']} deactivated; their sessions are ended")


@users_group.command("activate")
@click.argument("email")
def users_activate(email: str) -> None:
    """Let a deactivated EMAIL sign in again with their password."""
    user = _change_user(access.reactivate_user, email)
    click.echo(f"user {user['email']} ({user['role']}) can sign in again")


@users_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["agent", "supervisor", "admin"]))
def users_set_role(email: str, role: str) -> None:
    """Give EMAIL another role (applies from their next request)."""
    user = _change_user(access.set_user_role, email, role)
    click.echo(f"user {user['email']} is now {user['role']}")


@users_group.command("reset-mfa")
@click.argument("email")
def users_reset_mfa(email: str) -> None:
    """Remove EMAIL's authenticator app and recovery codes (lost phone) and end their
    sessions; they set MFA up again at the next sign-in (docs/runbooks/lost-mfa-device.md)."""
    user = _change_user(mfa.reset, email)
    had = "authenticator removed" if user["had_totp"] else "no authenticator was set up"
    click.echo(f"MFA of {user['email']} reset ({had}); {user['sessions_ended']} session(s) ended")


@cli.group("api-keys", help="Keys for machine clients.")
def api_keys_group() -> None:
    pass


@api_keys_group.command("create")
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(list(access.API_KEY_ROLES)),
    default="agent",
    show_default=True,
    help="telephony: the telephony platform's key, which may only report calls (POST /calls).",
)
def api_keys_create(name: str, role: str) -> None:
    """Create an API key; the key is the last line printed (shown only this once)."""
    with app_context():
        try:
            key = create_api_key(command_context(), name=name, role=role)
        except CrmPayError as exc:
            fail(exc)
    click.echo(f"API key {name!r} ({role}) created; store it now, it is not shown again:")
    click.echo(key)


@api_keys_group.command("list")
def api_keys_list() -> None:
    """Every key with role, status and last use (never the key itself)."""
    with app_context():
        rows = list_api_keys(command_context())
    if not rows:
        click.echo("no API keys yet; `crm-pay api-keys create` makes one")
    for k in rows:
        status = "revoked" if k["revoked_at"] else "active "
        used = str(k["last_used_at"] or "never used")[:16].replace("T", " ")
        click.echo(
            f"{k['id']:>4} {status} {k['role']:<10} {k['prefix']}… {k['name']:<30} last used {used}"
        )


@api_keys_group.command("revoke")
@click.argument("key_id", type=int)
def api_keys_revoke(key_id: int) -> None:
    """Revoke key KEY_ID (from `api-keys list`): every API call with it gets 401."""
    with app_context():
        try:
            key = revoke_api_key(command_context(), key_id, actor="cli")
        except CrmPayError as exc:
            fail(exc)
    click.echo(f"API key {key['id']} ({key['name']}) revoked; calls with it now get 401")


@cli.command("worker", help="Deliver the outbox and run the janitor until interrupted.")
@click.option("--once", is_flag=True, help="One pass, then exit (cron, tests).")
@click.option(
    "--lease-seconds",
    type=click.IntRange(min=2),
    default=120,
    show_default=True,
    help="How long a claimed outbox message stays this worker's; then another worker "
    "takes it over (the holder died). Must outlast twice the longest CRM call.",
)
def worker(once: bool, lease_seconds: int) -> None:
    with app_context():
        ctx = command_context()
        if once:
            report = make_dispatcher(ctx, lease_seconds=lease_seconds).drain()
            jan = run_janitor(ctx)
            click.echo(
                f"outbox: sent {report.sent}, retrying {report.retried}, dead {report.dead}; "
                f"janitor: checked {jan.checked}, resolved {jan.resolved}, "
                f"expired {jan.expired}"
                + (
                    f"; settlement: checked {jan.settlement.checked}, settled "
                    f"{jan.settlement.settled}, declined {jan.settlement.declined}"
                    if jan.settlement is not None
                    else ""
                )
            )
            return
        click.echo("worker running; Ctrl+C stops it")
        BackgroundWorkers(ctx, lease_seconds=lease_seconds).run_forever()


@cli.group("outbox", help="Side effects waiting for delivery.")
def outbox_group() -> None:
    pass


@outbox_group.command("status")
def outbox_status() -> None:
    with app_context():
        summary = outbox_summary(command_context())
    for status in ("pending", "sent", "dead"):
        click.echo(f"{status}: {summary.get(status, 0)}")


@outbox_group.command("replay", help="Re-queue dead letters (or the given message ids).")
@click.argument("ids", nargs=-1, type=int)
def outbox_replay(ids: tuple[int, ...]) -> None:
    with app_context():
        try:
            n = replay(command_context(), list(ids) if ids else None)
        except CrmPayError as exc:
            fail(exc)
    click.echo(f"{n} message(s) queued again")


@cli.group("connectors", help="CRM connectors configured by an admin.")
def connectors_group() -> None:
    pass


@connectors_group.command("list")
def connectors_list() -> None:
    with app_context():
        ctx = command_context()
        rows = list_connectors(ctx)
        status = sync_status(ctx)
    if not rows:
        click.echo("no connectors configured; the default CRM (CRM_PAY_CRM) is used")
    for row in rows:
        mark = "enabled " if row["enabled"] else "disabled"
        test = row["last_test"]
        tested = "untested" if test is None else ("test ok" if test["ok"] else "test FAILED")
        click.echo(f"{mark} {row['name']:<20} {row['kind']:<11} v{row['version']:<4} {tested}")
    click.echo(
        f"sync: delivered {status['delivered']}, pending {status['pending']} "
        f"(retrying {status['retrying']}), dead {status['dead']}"
    )


@connectors_group.command("test")
@click.argument("name")
def connectors_test(name: str) -> None:
    """Check credentials, objects and fields, and print the CRM's plain answer."""
    with app_context():
        try:
            report = test_connector(command_context(), name, actor="cli")
        except CrmPayError as exc:
            fail(exc)
    for check, ok, detail in report.checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {check}: {detail}")
    if not report.ok:
        sys.exit(1)


@connectors_group.command("enable")
@click.argument("name")
@click.option(
    "--override-reason",
    default=None,
    help="Enable without a passing test connection; the reason is kept in the audit log.",
)
def connectors_enable(name: str, override_reason: str | None) -> None:
    """Enable NAME (any other connector is disabled), through the same gate as the admin
    console: after a passing `crm-pay connectors test NAME`, or with --override-reason."""
    with app_context():
        try:
            enable_connector(command_context(), name, actor="cli", override_reason=override_reason)
        except CrmPayError as exc:
            fail(exc)
    click.echo(
        f"connector {name} enabled"
        + (" without a passing test (reason audited)" if override_reason else "")
    )


@cli.group("vault", help="Keys and secrets.")
def vault_group() -> None:
    pass


@vault_group.command("new-key", help="Print a new key-ring entry kid:key.")
@click.option("--kid", default=None)
def vault_new_key(kid: str | None) -> None:
    click.echo(f"{kid or 'k' + secrets.token_hex(3)}:{KeyRing.generate_key()}")


@vault_group.command("rotate", help="Re-wrap every stored secret under the active key.")
def vault_rotate() -> None:
    with app_context():
        ctx = command_context()
        done, total = rotate_secrets(ctx)
        click.echo(f"active key {ctx.keyring.active_kid}: re-wrapped {done} of {total} secret(s)")


@cli.group("audit", help="The tamper-evident audit trail.")
def audit_group() -> None:
    pass


@audit_group.command("verify")
def audit_verify() -> None:
    with app_context():
        report = verify(command_context())
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} entries verified")
        return
    click.secho(
        f"audit chain BROKEN at entry {report.first_bad_seq}: {report.reason} "
        f"({report.checked} entries verified before it)",
        fg="red",
        err=True,
    )
    sys.exit(1)


@audit_group.command("list")
@click.option("--actor", help="Only this actor, e.g. api_key:7 or user:3 (as `list` shows).")
@click.option("--since", help="Only entries at or after this ISO date/time, e.g. 2026-12-01.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def audit_list(actor: str | None, since: str | None, limit: int) -> None:
    """The newest entries, oldest first: who did what to which payment, key or user."""
    if since:
        try:
            datetime.fromisoformat(since)
        except ValueError:
            fail(CrmPayError(f"--since {since!r} is not an ISO date or time, e.g. 2026-12-01"))
    with app_context():
        rows = entries(command_context(), actor=actor, since=since, limit=limit)
    if not rows:
        click.echo("no audit entries match")
    for r in rows:
        line = f"{r['seq']:>6} {r['at'][:19]} {r['actor']:<40} {r['action']:<28} {r['subject']}"
        click.echo(line)


@cli.group("scripts", help="The pay page's scripts: inventory and integrity check.")
def scripts_group() -> None:
    pass


@scripts_group.command("list")
def scripts_list() -> None:
    """Every script the pay page loads: origin, version, SRI hash, owner, purpose."""
    with app_context():
        inventory = pay_page_scripts(command_context())
    for s in inventory.scripts if inventory else []:
        click.echo(f"{s.name:<16} {s.version:<14} {s.owner:<30} {s.url}")
        click.echo(f"{'':<16} {s.integrity}  {s.purpose}")


@scripts_group.command("check")
def scripts_check() -> None:
    """Fetch each script now and compare it with its pinned hash; a changed one opens a
    case and an admin alert. Exit status 1 unless every script is unchanged."""
    with app_context():
        ctx = command_context()
        inventory = pay_page_scripts(ctx)
        if inventory is None:
            fail(CrmPayError("the pay page is not mounted in this app: nothing to check"))
            return
        results = inventory.check(ctx, actor="cli:scripts-check")
    for r in results:
        line = f"{r.status:<12} {r.name:<16} {r.url}"
        if r.status == "changed":
            line += f" (now {r.observed}; a case was opened)"
        elif r.error:
            line += f" ({r.error})"
        click.secho(line, fg="green" if r.status == "ok" else "red")
    if any(r.status != "ok" for r in results):
        sys.exit(1)


@cli.command("reconcile", help="Match the PSP's transactions of a day against our ledger.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="One UTC day (default: yesterday).")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day of a range.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day of a range (inclusive).")
def reconcile(day: str | None, first: str | None, last: str | None) -> None:
    """Each difference is printed and opened as a case; running a day again opens none
    twice. Exit code 1 when a day has differences or could not be reconciled."""

    if day and (first or last):
        fail(CrmPayError("give either --date or --from/--to, not both"))
    if bool(first) != bool(last):
        fail(CrmPayError("a range needs both --from and --to"))
    with app_context():
        ctx = command_context()
        try:
            if first and last:
                days = day_range(parse_day(first), parse_day(last))
            else:
                days = [parse_day(day) if day else ctx.now().date() - timedelta(days=1)]
        except CrmPayError as exc:
            fail(exc)
        dirty = False
        for one in days:
            with click.progressbar(
                length=1, label=f"{one.isoformat()}: PSP transactions", file=sys.stderr
            ) as bar:

                def progress(done: int, total: int, bar: Any = bar) -> None:
                    bar.length = max(total, 1)
                    bar.update(done - bar.pos)

                try:
                    report = reconcile_day(ctx, one, actor="cli", progress=progress)
                except CrmPayError as exc:
                    fail(exc)
            dirty |= bool(report["differences"])
            _echo_report(report)
        if dirty:
            sys.exit(1)


def _echo_report(report: dict[str, Any]) -> None:
    click.echo(
        f"{report['date']}: {report['psp_rows']} PSP row(s), {report['ledger_rows']} ours, "
        f"{report['matched']} matched, {report['no_money']} declined/no money, "
        f"{len(report['differences'])} difference(s), {report['cases_opened']} case(s) opened"
    )
    for t in report["totals"]:
        click.echo(
            f"  {t['currency']} {t['merchant_account'] or '-'}: {t['sales_count']} sale(s) "
            f"{t['sales']}, {t['refunds_count']} refund(s) {t['refunds']}, net {t['net']}"
        )
    for line in report.get("settlement_summary") or []:
        click.echo(
            f"  settled by the PSP: {line['merchant_account']} {line['card_type']} "
            f"{line['kind']}: {line['count']} for {line['currency']} {line['amount']}"
        )
    for d in report["differences"]:
        click.secho(
            f"  {d['kind']}: psp {d['psp_id']} payment {d['payment_id'] or '-'} "
            f"ours {d['ours'] or '-'} / PSP {d['theirs'] or '-'} (case {d['case_id']})",
            fg="yellow",
        )


cli.add_command(launch_url)
cli.add_command(serve)
