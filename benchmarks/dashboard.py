"""Dashboard: every panel's SQL aggregate over 1,000,000 payments, SQLite and PostgreSQL.

The bench makes its own data by bulk insert (not timed): 1,000,000 payments spread
evenly over the 365 days before now (80 % USD, 15 % EUR, 5 % GBP; 60 agents; two
channels; statuses and decline reasons in realistic shares), a ``sale_succeeded``
event for each approved one and a refund or void for 4 % of those, a receipt message
for each approved one, chargebacks for 0.3 %, and 20,000 cases (two thirds resolved).
Payments are inserted in time order (newest first), as correlated with creation time as a
live database's are.
The migrated schema with revision 0013's indexes is used as it is; PostgreSQL gets a
``VACUUM ANALYZE`` and SQLite an ``ANALYZE`` after the load, as a live database has.

Then the worker's pass over the daily totals (:mod:`crm_pay.services.dashboard_rollup`)
runs as the worker runs it: the first pass (every day of the year), then, after 220
payments changed (200 of the last week, 20 anywhere in the year: settlements, late
outcomes), an incremental pass; both are timed. Each panel of
:mod:`crm_pay.services.dashboard` is then timed on its own (``compute_panel`` in one
read transaction, the code the dashboard runs: daily totals for the clean whole past
days, live rows for today), for the last 30 days in USD (about 66,000 payments) and for
the whole year in USD (about 800,000): p50 and p95 per panel.
Before timing, the bench checks the outcomes panel counts exactly the payments it made
in each range, and that every panel read through the totals equals the same panel read
from the live rows only, or it stops. ``--quick``: 100,000 payments, fewer iterations.

PostgreSQL: the server of ``CRM_PAY_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); the bench works in its own database
``crm_pay_bench_dashboard`` (created when missing, its ``public`` schema dropped and
recreated at start) and never touches the database in the URL. Skipped, with the reason,
when the server cannot be reached.

Goal (not asserted): every panel ≤ 200 ms at p95 on PostgreSQL, over 30 days and over
the year.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import case, create_engine, delete, insert, text, update
from sqlalchemy.pool import NullPool

from benchmarks.common import RunOptions, format_table, machine_info, percentile, write_results
from crm_pay.persistence.db import Database, normalize_url
from crm_pay.persistence.migrate import upgrade
from crm_pay.persistence.models import (
    Case,
    Customer,
    DashboardRollup,
    Dispute,
    Message,
    Payment,
    PaymentEventRow,
)
from crm_pay.services.context import Context
from crm_pay.services.dashboard import PANELS, Period, compute_panel
from crm_pay.services.dashboard_rollup import CHANGE_WINDOW, run_dashboard_rollup

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "dashboard"
DESCRIPTION = "dashboard panels over 1M payments: p50/p95 per panel, SQLite and PostgreSQL"

PAYMENTS, QUICK_PAYMENTS = 1_000_000, 100_000
CASES, QUICK_CASES = 20_000, 2_000
PG_URL_ENV = "CRM_PAY_BENCH_DATABASE_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "crm_pay_bench_dashboard"
GOAL_MS = 200.0
_CHUNK = 50_000

_CURRENCIES = ["USD"] * 16 + ["EUR"] * 3 + ["GBP"]
_STATUSES = (
    ["settled"] * 60
    + ["submitted_for_settlement"] * 8
    + ["authorized"] * 2
    + ["declined"] * 12
    + ["failed"] * 2
    + ["expired"] * 6
    + ["cancelled"] * 3
    + ["awaiting_customer"] * 3
    + ["voided", "settlement_declined", "unknown", "processing"]
)
_APPROVED = {"settled", "submitted_for_settlement", "authorized", "voided", "settlement_declined"}
_SUCCESSFUL = {"settled", "submitted_for_settlement", "authorized"}
_CATEGORIES = [
    "insufficient_funds",
    "issuer_declined",
    "expired_card",
    "security_code",
    "card_details",
    "limit_exceeded",
    None,
]
_CASE_KINDS = ["failed", "overpaid", "disputed", "amount_mismatch", "unknown_at_psp"]
_PAYMENT_COLUMNS = (
    "id",
    "customer_id",
    "channel",
    "status",
    "amount_minor",
    "currency",
    "requested_allocations",
    "created_by",
    "description",
    "attempt",
    "janitor_checks",
    "decline_category",
    "created_at",
    "updated_at",
)
_EVENT_COLUMNS = ("payment_id", "kind", "amount_minor", "currency", "detail", "created_at")
_MESSAGE_COLUMNS = (
    "message_id",
    "kind",
    "channel",
    "recipient",
    "payment_id",
    "status",
    "attempts",
    "created_by",
    "created_at",
)


class BenchError(RuntimeError):
    """The figures disagree with the data the bench made; timings would lie."""


def _rows(n: int, now: datetime, customer_id: int) -> Iterator[dict[str, Any]]:
    """``n`` payments with their events and receipt, as dicts (``kind`` says which)."""
    rng = random.Random(10)
    span = 365 * 86400
    for i in range(n):
        at = now - timedelta(seconds=span * (i + 0.5) / n)
        status = rng.choice(_STATUSES)
        currency = rng.choice(_CURRENCIES)
        amount = rng.randrange(500, 90_000)
        pid = f"pay_bench{i:09d}"
        yield {
            "table": "payments",
            "id": pid,
            "customer_id": customer_id,
            "channel": "link" if rng.random() < 0.85 else "vaulted",
            "status": status,
            "amount_minor": amount,
            "currency": currency,
            "requested_allocations": "{}",
            "created_by": _agent(rng.randrange(1, 61)),
            "description": "",
            "attempt": 1,
            "janitor_checks": 0,
            "decline_category": rng.choice(_CATEGORIES)
            if status in ("declined", "failed")
            else None,
            "created_at": at,
            "updated_at": at,
        }
        if status not in _APPROVED:
            continue
        sold = at + timedelta(seconds=5)
        yield _event(pid, "sale_succeeded", amount, currency, sold)
        if status == "voided":
            yield _event(pid, "void_succeeded", amount, currency, sold + timedelta(hours=2))
        elif rng.random() < 0.04:
            yield _event(pid, "refund_succeeded", amount // 2, currency, sold + timedelta(days=2))
        yield {
            "table": "messages",
            "message_id": f"receipt.{pid}@bench.example",
            "kind": "receipt",
            "channel": "email" if rng.random() < 0.9 else "sms",
            "recipient": "customer@example.com",
            "payment_id": pid,
            "status": "sent" if rng.random() < 0.97 else "failed",
            "attempts": 1,
            "created_by": "system",
            "created_at": sold,
        }


def _agent(n: int) -> str:
    """One of the 60 agents, as ``Principal.actor`` writes them."""
    return f"user:{n}:agent{n}@example.com"


def _event(pid: str, kind: str, amount: int, currency: str, at: datetime) -> dict[str, Any]:
    return {
        "table": "payment_events",
        "payment_id": pid,
        "kind": kind,
        "amount_minor": amount,
        "currency": currency,
        "detail": "{}",
        "created_at": at,
    }


def _columns(table: str) -> tuple[str, ...]:
    return {
        "payments": _PAYMENT_COLUMNS,
        "payment_events": _EVENT_COLUMNS,
        "messages": _MESSAGE_COLUMNS,
    }[table]


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _load(db: Database, n: int, n_cases: int, now: datetime) -> dict[str, int]:
    """Bulk-insert the data set; returns rows per table."""
    counts: dict[str, int] = {"payments": 0, "payment_events": 0, "messages": 0}
    with db.engine.begin() as conn:
        customer_id = conn.execute(
            insert(Customer).values(crm_ref="BENCH-1", name="Bench", currency="USD", synced_at=now)
        ).inserted_primary_key[0]
    postgres = db.engine.dialect.name == "postgresql"
    buffers: dict[str, list[dict[str, Any]]] = {t: [] for t in counts}

    def flush(table: str) -> None:
        rows = buffers[table]
        if not rows:
            return
        if table != "payments":  # events and messages point at payments: those go first
            flush("payments")
        if postgres:
            _copy(db, table, rows)
        else:
            model = {"payments": Payment, "payment_events": PaymentEventRow, "messages": Message}
            with db.engine.begin() as conn:
                conn.execute(insert(model[table]), [_sqlite_row(table, r) for r in rows])
        counts[table] += len(rows)
        rows.clear()

    for row in _rows(n, now, customer_id):
        table = row.pop("table")
        buffers[table].append(row)
        if len(buffers[table]) >= _CHUNK:
            flush(table)
    for table in ("payments", "payment_events", "messages"):
        flush(table)
    counts["disputes"] = _load_disputes(db, n, now)
    counts["cases"] = _load_cases(db, n_cases, now)
    return counts


def _sqlite_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    if table == "payments":
        return {**row, "requested_allocations": {}}
    if table == "payment_events":
        return {**row, "detail": {}}
    return row


def _copy(db: Database, table: str, rows: list[dict[str, Any]]) -> None:
    columns = _columns(table)
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_value(row[c]) for c in columns))
        buffer.write("\n")
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()


def _load_disputes(db: Database, n: int, now: datetime) -> int:
    rng = random.Random(11)
    rows = []
    with db.engine.connect() as conn:
        approved = conn.execute(
            text(
                "SELECT id, amount_minor, created_at FROM payments "
                "WHERE status = 'settled' ORDER BY id"
            )
        ).all()
    for k, (pid, amount, created) in enumerate(approved):
        if k % 250:
            continue
        created_at = created if isinstance(created, datetime) else datetime.fromisoformat(created)
        opened = (created_at.replace(tzinfo=created_at.tzinfo or UTC)) + timedelta(days=20)
        rows.append(
            {
                "psp_dispute_id": f"dp_{k}",
                "payment_id": pid,
                "kind": "chargeback",
                "reason": "fraud",
                "amount_minor": amount,
                "currency": None,
                "status": rng.choice(["open", "won", "lost", "accepted"]),
                "status_at": opened,
                "status_history": [],
                "opened_at": opened,
                "updated_at": opened,
                "booked_minor": 0,
            }
        )
    with db.engine.begin() as conn:
        for start in range(0, len(rows), _CHUNK):
            conn.execute(insert(Dispute), rows[start : start + _CHUNK])
    return len(rows)


def _load_cases(db: Database, n_cases: int, now: datetime) -> int:
    rng = random.Random(12)
    rows = []
    for k in range(n_cases):
        opened = now - timedelta(seconds=rng.randrange(60, 365 * 86400))
        resolved = rng.random() < 0.66
        rows.append(
            {
                "kind": rng.choice(_CASE_KINDS),
                "subject": f"bench-{k}",
                "status": "resolved" if resolved else rng.choice(["open", "assigned"]),
                "detail": {},
                "opened_at": opened,
                "due_at": opened + timedelta(days=1),
                "resolved_at": opened + timedelta(seconds=rng.randrange(60, 10 * 86400))
                if resolved
                else None,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(insert(Case), [_known_case_columns(r) for r in rows])
    return len(rows)


def _known_case_columns(row: dict[str, Any]) -> dict[str, Any]:
    """The case row with only the columns this schema has (the cases table grows)."""
    return {k: v for k, v in row.items() if k in Case.__table__.c}


def _expected(n: int, now: datetime, period: Period) -> int:
    """How many of the bench's payments fall in ``period``'s currency and range, counted
    in Python over the generated rows (independently of SQL)."""
    return sum(
        1
        for row in _rows(n, now, 0)
        if row["table"] == "payments"
        and row["currency"] == period.currency
        and period.start <= row["created_at"] < period.end
    )


class _WorkerClock:
    """What the worker's pass reads of its context: the database and the time."""

    def __init__(self, db: Database, now: datetime) -> None:
        self.db, self._now = db, now

    def now(self) -> datetime:
        return self._now


def _passes(db: Database, n: int, now: datetime) -> dict[str, float]:
    """The first pass, then 220 payments changed, then an incremental pass (timed)."""
    first = run_dashboard_rollup(cast(Context, _WorkerClock(db, now)))
    rng = random.Random(13)
    week = max(1, n * 7 // 365)
    ids = {f"pay_bench{rng.randrange(week):09d}" for _ in range(200)}
    ids |= {f"pay_bench{rng.randrange(n):09d}" for _ in range(20)}
    with db.engine.begin() as conn:
        conn.execute(
            update(Payment)
            .where(Payment.id.in_(sorted(ids)))
            .values(
                updated_at=now + timedelta(minutes=1),
                status=case(
                    (Payment.status == "submitted_for_settlement", "settled"),
                    else_=Payment.status,
                ),
            )
        )
    later = now + CHANGE_WINDOW + timedelta(minutes=5)
    again = run_dashboard_rollup(cast(Context, _WorkerClock(db, later)))
    return {
        "first_pass_s": round(first.seconds, 2),
        "first_pass_days": float(first.days),
        "changed_payments": float(len(ids)),
        "incremental_pass_s": round(again.seconds, 2),
        "incremental_pass_days": float(again.days),
    }


def _check_totals(db: Database, label: str, period: Period, now: datetime) -> None:
    """Every panel through the daily totals equals the same panel from the live rows
    (the totals' state removed in a transaction that is rolled back)."""
    with db.transaction() as s:
        through_totals = {name: compute_panel(s, name, period, now=now) for name in PANELS}
    s = db.sessions()
    try:
        s.execute(delete(DashboardRollup))
        live = {name: compute_panel(s, name, period, now=now) for name in PANELS}
    finally:
        s.rollback()
        s.close()
    wrong = [name for name in PANELS if through_totals[name] != live[name]]
    if wrong:
        raise BenchError(f"{label}: the daily totals disagree with the live rows: {wrong}")


def _time_panels(
    db: Database, period: Period, now: datetime, iterations: int, warmup: int
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in PANELS:
        samples: list[float] = []
        for k in range(warmup + iterations):
            started = time.perf_counter()
            with db.transaction() as s:
                compute_panel(s, name, period, now=now)
            if k >= warmup:
                samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        out[name] = {"p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95)}
    return out


def _prepare_postgres(server_url: str) -> tuple[str, str | None]:
    """The bench database's URL (created when missing, emptied), or a reason to skip."""
    parts = urlsplit(server_url)
    bench_url = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
    try:
        admin = create_engine(
            normalize_url(server_url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": BENCH_DATABASE}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
        admin.dispose()
        bench = create_engine(normalize_url(bench_url), poolclass=NullPool)
        with bench.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        bench.dispose()
    except Exception as exc:  # noqa: BLE001 - no server: skip PostgreSQL, say why
        return bench_url, f"PostgreSQL not reachable ({type(exc).__name__}: {exc})"
    return bench_url, None


def _bench_backend(
    url: str, n: int, n_cases: int, now: datetime, periods: dict[str, Period], iterations: int
) -> dict[str, Any]:
    db = Database(url)
    try:
        upgrade(db)
        started = time.perf_counter()
        counts = _load(db, n, n_cases, now)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text("VACUUM ANALYZE" if db.engine.dialect.name != "sqlite" else "ANALYZE")
            )
        load_s = time.perf_counter() - started
        print(f"  loaded {counts} in {load_s:.1f} s", flush=True)
        passes = _passes(db, n, now)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # the new totals, as autovacuum would
        print(
            f"  daily totals: first pass {passes['first_pass_s']:.1f} s "
            f"({passes['first_pass_days']:.0f} days); after "
            f"{passes['changed_payments']:.0f} payments changed, incremental pass "
            f"{passes['incremental_pass_s']:.2f} s ({passes['incremental_pass_days']:.0f} days)",
            flush=True,
        )
        timings: dict[str, Any] = {}
        for label, period in periods.items():
            with db.transaction() as s:
                got = compute_panel(s, "outcomes", period, now=now)["summary"]["payments"]
            want = _expected(n, now, period)
            if got != want:
                raise BenchError(f"{label}: the outcomes panel counts {got}, the bench made {want}")
            _check_totals(db, label, period, now)
            timings[label] = _time_panels(db, period, now, iterations, warmup=1)
            timings[label]["payments_in_range"] = {"count": float(want)}
        return {
            "rows": counts,
            "load_seconds": round(load_s, 1),
            "daily_totals": passes,
            "timings": timings,
        }
    finally:
        db.dispose()


def run(options: RunOptions) -> dict[str, Any]:
    n = QUICK_PAYMENTS if options.quick else PAYMENTS
    n_cases = QUICK_CASES if options.quick else CASES
    iterations = options.iterations or (5 if options.quick else 15)
    now = datetime.now(UTC).replace(microsecond=0)
    end = now.date()
    periods = {
        "30 days": Period(
            datetime.combine(end - timedelta(days=29), datetime.min.time(), UTC),
            datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC),
            "USD",
        ),
        "365 days": Period(
            datetime.combine(end - timedelta(days=364), datetime.min.time(), UTC),
            datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC),
            "USD",
        ),
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="crm-pay-bench-dashboard-") as tmp:
        print(f"sqlite ({n:,} payments) ...", flush=True)
        results["sqlite"] = _bench_backend(
            f"sqlite:///{Path(tmp) / 'dashboard.sqlite3'}", n, n_cases, now, periods, iterations
        )
    bench_url, reason = _prepare_postgres(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    if reason is None:
        print(f"postgresql ({n:,} payments) ...", flush=True)
        results["postgresql"] = _bench_backend(bench_url, n, n_cases, now, periods, iterations)
    else:
        print(f"postgresql skipped: {reason}")
        results["postgresql"] = {"skipped": reason}
    _print(results, n)
    payload = {
        "bench": NAME,
        "payments": n,
        "goal_ms": GOAL_MS,
        "results": results,
        "machine": machine_info(),
    }
    if options.results_dir is not None:
        write_results(options.results_dir, NAME, payload)
    return payload


def _print(results: dict[str, Any], n: int) -> None:
    backends = [b for b in ("sqlite", "postgresql") if "timings" in results.get(b, {})]
    for label in ("30 days", "365 days"):
        headers = ["panel"]
        for b in backends:
            headers += [f"{b} p50 ms", f"{b} p95 ms"]
        rows = []
        for name in PANELS:
            row = [name]
            for b in backends:
                t = results[b]["timings"][label][name]
                row += [f"{t['p50_ms']:.1f}", f"{t['p95_ms']:.1f}"]
            rows.append(row)
        in_range = int(results[backends[0]]["timings"][label]["payments_in_range"]["count"])
        print(f"\n{label}, USD ({in_range:,} of {n:,} payments in range):")
        print(format_table(headers, rows))
    if "postgresql" in backends:
        for label in ("30 days", "365 days"):
            slow = [
                name
                for name in PANELS
                if results["postgresql"]["timings"][label][name]["p95_ms"] > GOAL_MS
            ]
            print(
                f"goal: every panel <= {GOAL_MS:.0f} ms at p95 on PostgreSQL ({label}): "
                + ("met" if not slow else f"NOT met by {', '.join(slow)}")
            )
