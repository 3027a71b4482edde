"""Server-side cost of one secure-link payment, against a bare Braintree SDK sale.

One *link payment* is what an agent and a customer trigger together:

1. ``POST /pay/api/v1/payments`` (API key, ``Idempotency-Key``): the payment and its pay
   link are created;
2. ``POST /pay/p/<token>/pay`` with the nonce the hosted fields would have produced:
   the attempt is recorded, the card is charged through the real ``braintree`` SDK
   against the local development sandbox, then the ledger entries, the receipt and the
   outbox messages (CRM push, receipt email) are written.

Both requests go through Flask's test client, so no HTTP socket sits between the caller
and crm-pay; the one socket in the path is the SDK's call to the sandbox. The *bare SDK
sale* is that same SDK call on its own (``gateway.transaction.sale``) to the same sandbox,
timed in the same run and interleaved with our payments, so both see the same machine.
``ratio`` = our median / bare median, ``overhead`` = our median - bare median: what
crm-pay adds on top of the PSP round trip.

It also prints the CPU time one payment and one bare sale cost this thread (the test
client runs crm-pay's requests in the calling thread; the sandbox answers from threads
of its own, which are not counted): :func:`time.thread_time` around each operation of
the timed loop, averaged. On a shared machine it moves far less than the wall times.

Next to the times it prints what one payment asks of the database: transactions, SQL
statements (transaction control not counted) and new connections, counted with the
engine's events (:mod:`crm_pay.persistence.instrumentation`) over a separate, untimed
pass of ``COUNTED_PAYMENTS`` payments, so the event hooks cost the timed loop nothing.
The same budget is asserted by tests/integration/engine/test_hot_path_budget.py.

Runs on SQLite (a file in a temporary folder) and on PostgreSQL: the server named by
``CRM_PAY_BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
where the bench always works in its own database ``crm_pay_bench`` (created when missing,
its ``public`` schema dropped and recreated at start) and never touches the database in
the URL. PostgreSQL is skipped, with the reason printed, when it cannot be reached.
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.common import RunOptions, Summary, format_table, machine_info, write_results
from crm_pay.persistence.instrumentation import count_queries

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "link_payment"
DESCRIPTION = "one secure-link payment end to end (SQLite, PostgreSQL) vs a bare SDK sale"

ITERATIONS = 200
QUICK_ITERATIONS = 30
WARMUP = 20
QUICK_WARMUP = 5
#: Payments made (untimed) with the statement counter attached.
COUNTED_PAYMENTS = 10
AMOUNT = "1.00"
NONCE = "fake-valid-nonce"

#: The issue's goals, printed next to the figures (not asserted here).
GOALS = {"sqlite": 2.0, "postgresql": 2.5}
BUDGET = {"transactions": 5, "statements": 25}

PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL_ENV = "CRM_PAY_BENCH_DATABASE_URL"
BENCH_DATABASE = "crm_pay_bench"

#: Customers of the builtin CRM's demo data.
DEMO_CUSTOMERS = tuple(f"CUST-{i:04d}" for i in range(1, 7))
#: Tables whose growth per payment shows that the whole flow ran.
COUNTED_TABLES = ("payments", "payment_events", "ledger_entries", "receipts", "outbox", "cases")

_SANDBOX = {
    "merchant_id": "bench_merchant",
    "public_key": "bench_public",
    "private_key": "bench_private",
}


class BenchError(RuntimeError):
    """The flow did not do what a successful link payment does; the figures would lie."""


@dataclass
class BackendResult:
    """Figures for one database backend (or why it was skipped)."""

    backend: str
    database: str
    skipped: str | None = None
    warmup: int = 0
    customers: list[str] = field(default_factory=list)
    ours: Summary | None = None
    create: Summary | None = None
    pay: Summary | None = None
    bare: Summary | None = None
    rows_per_payment: dict[str, float | None] = field(default_factory=dict)
    #: Per payment, averaged over the counted pass: transactions, statements, ...
    db_per_payment: dict[str, float] = field(default_factory=dict)
    #: CPU time of this thread, averaged over the timed loop: {"ours": ms, "bare": ms}.
    cpu_ms: dict[str, float] = field(default_factory=dict)
    server_version: str | None = None

    @property
    def ratio(self) -> float | None:
        """Our median time per payment / the bare SDK sale's median."""
        if self.ours is None or self.bare is None or self.bare.median_ms <= 0:
            return None
        return self.ours.median_ms / self.bare.median_ms

    @property
    def overhead_ms(self) -> float | None:
        """Our median minus the bare SDK sale's median: what crm-pay adds."""
        if self.ours is None or self.bare is None:
            return None
        return self.ours.median_ms - self.bare.median_ms

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the JSON results file."""

        def summary(s: Summary | None) -> dict[str, Any] | None:
            return None if s is None else s.to_json()

        return {
            "backend": self.backend,
            "database": self.database,
            "server_version": self.server_version,
            "skipped": self.skipped,
            "n": self.ours.n if self.ours else 0,
            "warmup": self.warmup,
            "customers": self.customers,
            "ours": summary(self.ours),
            "create": summary(self.create),
            "pay": summary(self.pay),
            "bare_sdk_sale": summary(self.bare),
            "ratio_median": None if self.ratio is None else round(self.ratio, 3),
            "ratio_p99": (
                round(self.ours.p99_ms / self.bare.p99_ms, 3)
                if self.ours and self.bare and self.bare.p99_ms > 0
                else None
            ),
            "overhead_median_ms": None if self.overhead_ms is None else round(self.overhead_ms, 3),
            "rows_per_payment": self.rows_per_payment,
            "db_per_payment": self.db_per_payment,
            "cpu_ms": self.cpu_ms,
        }


# -- databases ------------------------------------------------------------------------


def _libpq_url(url: str) -> str:
    """The URL as libpq reads it (SQLAlchemy's ``+psycopg`` driver suffix removed)."""
    for prefix in ("postgresql+psycopg://", "postgres+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _redacted(url: str) -> str:
    """``url`` without its password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _prepare_postgres(server_url: str) -> tuple[str, str | None, str | None]:
    """Create (when missing) and empty the bench database on the server of ``server_url``.

    Returns ``(bench URL, server version, skip reason)``; the reason is ``None`` when the
    database is ready.
    """
    server_url = _libpq_url(server_url)
    bench_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{BENCH_DATABASE}"))
    try:
        import psycopg
        from psycopg import errors, sql
    except ImportError as exc:
        return bench_url, None, f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,)
            ).fetchone()
            if exists is None:
                # Another run may create it meanwhile: that is as good.
                with suppress(errors.DuplicateDatabase):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE))
                    )
        with psycopg.connect(bench_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return (
            bench_url,
            None,
            f"PostgreSQL at {_redacted(server_url)} is unreachable or unusable "
            f"({type(exc).__name__}: {message})",
        )
    return bench_url, (str(version[0]) if version else None), None


# -- the app and the sandbox ----------------------------------------------------------


def _app_config(db_url: str, sandbox: Any, tmp: Path) -> dict[str, Any]:
    """The app configuration the integration tests use (crm_pay.testing.sandbox_app),
    pointed at this run's pieces, with the bench's timeout and limits."""
    from crm_pay.testing.sandbox_app import sandbox_app_config

    return sandbox_app_config(
        db_url,
        sandbox,
        tmp,
        SECRET_KEY="bench-secret-key",
        # Generous: a loaded 2-core machine must not turn a slow answer into "unknown".
        CRM_PAY_BRAINTREE_TIMEOUT=10.0,
        # One address plays every customer and one key every agent: the per-IP and
        # per-key limits (sized for real people) would answer 429 to the bench itself.
        CRM_PAY_PAY_SUBMIT_IP_LIMIT="100000/minute",
        CRM_PAY_API_RATE_LIMIT="100000/minute",
    )


@dataclass
class _Rig:
    """A running sandbox, the app wired to it and a bare SDK gateway to the same sandbox."""

    client: Any  # flask.testing.FlaskClient
    auth: dict[str, str]
    gateway: Any  # braintree.BraintreeGateway
    count_rows: Callable[[], dict[str, int | None]]
    engine: Any  # sqlalchemy.Engine of the app


@contextmanager
def _rig(db_url: str | None) -> Iterator[_Rig]:
    """Start everything for one backend (``db_url`` ``None``: a SQLite file in a temporary
    folder); stop and release everything on the way out."""
    from sqlalchemy import func, select, table
    from sqlalchemy.exc import SQLAlchemyError

    from crm_pay.current import get_context
    from crm_pay.services.access import create_api_key
    from crm_pay.testing.sandbox_app import close_app, start_app, start_sandbox

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-pay-bench-")))
        # A fresh sandbox per backend: both backends start from an empty PSP.
        sandbox = start_sandbox(demo_cards=False, **_SANDBOX)
        stack.callback(sandbox.stop)

        url = db_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        app = start_app(_app_config(url, sandbox, tmp), tmp / "instance")
        stack.callback(close_app, app)
        ctx = get_context(app)
        api_key = create_api_key(ctx, name="bench", role="agent")

        gateway = sandbox.braintree_gateway(timeout=10)
        stack.callback(gateway.close)

        def count_rows() -> dict[str, int | None]:
            counts: dict[str, int | None] = {}
            with ctx.db.engine.connect() as conn:
                for name in COUNTED_TABLES:
                    try:
                        counts[name] = conn.execute(
                            select(func.count()).select_from(table(name))
                        ).scalar_one()
                    except SQLAlchemyError:
                        conn.rollback()
                        counts[name] = None
            return counts

        yield _Rig(
            client=app.test_client(),
            auth={"Authorization": f"Bearer {api_key}"},
            gateway=gateway,
            count_rows=count_rows,
            engine=ctx.db.engine,
        )


# -- one operation each -----------------------------------------------------------------


def _bare_sale(gateway: Any) -> int:
    """One SDK sale straight to the sandbox; its duration in nanoseconds."""
    params = {
        "amount": AMOUNT,
        "payment_method_nonce": NONCE,
        "options": {"submit_for_settlement": True},
    }
    started = time.perf_counter_ns()
    result = gateway.transaction.sale(params)
    elapsed = time.perf_counter_ns() - started
    if not result.is_success:
        raise BenchError(f"bare SDK sale failed: {getattr(result, 'message', result)!r}")
    return elapsed


def _link_payment(rig: _Rig, customer: str) -> tuple[int, int]:
    """Create a link payment and pay it; (create, pay) durations in nanoseconds."""
    body = {"customer": customer, "amount": AMOUNT, "currency": "USD"}
    headers = {**rig.auth, "Idempotency-Key": uuid.uuid4().hex}
    started = time.perf_counter_ns()
    created = rig.client.post("/pay/api/v1/payments", json=body, headers=headers)
    payment = created.get_json()
    created_at = time.perf_counter_ns()
    if created.status_code != 201 or not payment or "pay_url" not in payment:
        raise BenchError(f"create answered {created.status_code}: {_error_of(payment)}")
    token = payment["pay_url"].rsplit("/p/", 1)[1]
    paid = rig.client.post(
        f"/pay/p/{token}/pay",
        data={"payment_method_nonce": NONCE},
        headers={"Accept": "application/json"},
    )
    result = paid.get_json()
    finished = time.perf_counter_ns()
    if (
        paid.status_code != 200
        or not result
        or result.get("status") != "submitted_for_settlement"
        or not result.get("receipt_number")
    ):
        raise BenchError(f"pay answered {paid.status_code}: {_error_of(result)}")
    return created_at - started, finished - created_at


def _error_of(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('code')}: {error.get('message')}"
        return f"status {body.get('status')!r}"
    return "no JSON body"


def _pick_customers(rig: _Rig, payments: int) -> tuple[list[str], str | None]:
    """Demo customers with an open balance, so every payment settles invoices the same
    way; plus a note when their balances cannot absorb all payments (the rest become
    credit, which also opens an "overpaid" case: a slightly longer path)."""
    balances: dict[str, Decimal] = {}
    for customer in DEMO_CUSTOMERS:
        resp = rig.client.get(f"/pay/api/v1/customers/{customer}", headers=rig.auth)
        if resp.status_code != 200:
            continue
        try:
            balances[customer] = Decimal(str(resp.get_json()["balance"]))
        except (KeyError, TypeError, InvalidOperation):
            balances[customer] = Decimal(0)
    if not balances:
        raise BenchError("the builtin CRM has none of the demo customers CUST-0001..0006")
    owing = [c for c, b in balances.items() if b > 0] or list(balances)
    per_customer = Decimal(AMOUNT) * math.ceil(payments / len(owing))
    short = [c for c in owing if balances[c] < per_customer]
    note = (
        f"balances of {', '.join(short)} are below {per_customer}; some payments become credit"
        if short
        else None
    )
    return owing, note


# -- a backend --------------------------------------------------------------------------


def _bench_backend(result: BackendResult, db_url: str | None, iterations: int, warmup: int) -> None:
    """Fill ``result`` with the figures of ``iterations`` payments on ``db_url``
    (``None``: SQLite)."""
    with _rig(db_url) as rig:
        customers, note = _pick_customers(rig, iterations + warmup + COUNTED_PAYMENTS)
        result.customers = customers
        result.warmup = warmup
        if note:
            print(f"  note: {note}")

        def customer(i: int) -> str:
            return customers[i % len(customers)]

        # Warm-up: imports, template and query compilation, connection pools, sessions.
        for i in range(warmup):
            _bare_sale(rig.gateway)
            _link_payment(rig, customer(i))

        before = rig.count_rows()
        ours: list[int] = []
        creates: list[int] = []
        pays: list[int] = []
        bare: list[int] = []
        cpu_ours = cpu_bare = 0
        gc.collect()
        for i in range(iterations):
            # Interleave, alternating which goes first, so that both series see the same
            # machine (other processes, CPU frequency, a growing sandbox).
            if i % 2:
                started = time.thread_time_ns()
                bare.append(_bare_sale(rig.gateway))
                cpu_bare += time.thread_time_ns() - started
            started = time.thread_time_ns()
            create_ns, pay_ns = _link_payment(rig, customer(warmup + i))
            cpu_ours += time.thread_time_ns() - started
            if not i % 2:
                started = time.thread_time_ns()
                bare.append(_bare_sale(rig.gateway))
                cpu_bare += time.thread_time_ns() - started
            creates.append(create_ns)
            pays.append(pay_ns)
            ours.append(create_ns + pay_ns)
        after = rig.count_rows()
        result.cpu_ms = {
            "ours": round(cpu_ours / iterations / 1e6, 3),
            "bare": round(cpu_bare / iterations / 1e6, 3),
        }

        # Untimed: what each payment asks of the database. The test client runs the
        # requests in this thread, so only this thread is counted.
        counted = min(COUNTED_PAYMENTS, iterations)
        with count_queries(rig.engine, this_thread_only=True) as counter:
            for i in range(counted):
                _link_payment(rig, customer(warmup + iterations + i))
        result.db_per_payment = {
            name: round(value / counted, 2) for name, value in counter.summary().items()
        }

    result.ours = Summary.of_ns(ours)
    result.create = Summary.of_ns(creates)
    result.pay = Summary.of_ns(pays)
    result.bare = Summary.of_ns(bare)
    for name in COUNTED_TABLES:
        first, last = before[name], after[name]
        result.rows_per_payment[name] = (
            None if first is None or last is None else round((last - first) / iterations, 2)
        )


# -- output -----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _print_results(results: list[BackendResult]) -> None:
    headers = [
        "backend",
        "n",
        "median ms",
        "p99 ms",
        "create ms",
        "pay ms",
        "bare SDK median",
        "bare SDK p99",
        "ratio",
        "overhead ms",
        "tx/payment",
        "stmts/payment",
    ]
    rows = []
    for r in results:
        if r.skipped or r.ours is None or r.bare is None:
            continue
        rows.append(
            [
                r.backend,
                str(r.ours.n),
                _ms(r.ours.median_ms),
                _ms(r.ours.p99_ms),
                _ms(r.create.median_ms if r.create else None),
                _ms(r.pay.median_ms if r.pay else None),
                _ms(r.bare.median_ms),
                _ms(r.bare.p99_ms),
                "-" if r.ratio is None else f"{r.ratio:.1f}x",
                _ms(r.overhead_ms),
                _count(r.db_per_payment.get("transactions")),
                _count(r.db_per_payment.get("statements")),
            ]
        )
    print()
    if rows:
        print(format_table(headers, rows))
        print(
            "  create/pay: medians of the two requests; ratio = median / bare SDK median; "
            "overhead = median - bare SDK median"
        )
        print(
            f"  goal (issue 9): ratio <= {GOALS['sqlite']:g}x on SQLite, <= "
            f"{GOALS['postgresql']:g}x on PostgreSQL (quiet machine); at most "
            f"{BUDGET['transactions']} transactions and {BUDGET['statements']} statements "
            "per payment (counted, untimed, transaction control not counted)"
        )
    for r in results:
        if r.skipped:
            print(f"  {r.backend}: skipped: {r.skipped}")
        elif r.rows_per_payment:
            per = ", ".join(
                f"{k} {'-' if v is None else f'{v:g}'}" for k, v in r.rows_per_payment.items()
            )
            print(f"  {r.backend} rows written per payment: {per}")
        if r.db_per_payment:
            per = ", ".join(f"{k} {v:g}" for k, v in r.db_per_payment.items())
            print(f"  {r.backend} database work per payment: {per}")
        if r.cpu_ms:
            print(
                f"  {r.backend} CPU of this thread: {r.cpu_ms['ours']:.2f} ms per payment, "
                f"{r.cpu_ms['bare']:.2f} ms per bare SDK sale"
            )


def run(options: RunOptions) -> dict[str, Any]:
    """Measure on SQLite, then on PostgreSQL; print the table, write and return JSON."""
    iterations = options.iterations or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    warmup = (
        options.warmup if options.warmup is not None else QUICK_WARMUP if options.quick else WARMUP
    )
    print(f"{iterations} payments per backend after {warmup} warm-up, amount {AMOUNT} USD")

    results: list[BackendResult] = []

    sqlite = BackendResult(backend="sqlite", database="a file in a temporary folder")
    results.append(sqlite)
    print("sqlite ...", flush=True)
    started = time.perf_counter()
    _bench_backend(sqlite, None, iterations, warmup)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    server_url = os.environ.get(PG_URL_ENV) or PG_DEFAULT_URL
    bench_url, version, reason = _prepare_postgres(server_url)
    postgres = BackendResult(
        backend="postgresql", database=_redacted(bench_url), skipped=reason, server_version=version
    )
    results.append(postgres)
    if reason is None:
        print(f"postgresql {version} ({_redacted(bench_url)}) ...", flush=True)
        started = time.perf_counter()
        _bench_backend(postgres, bench_url, iterations, warmup)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    _print_results(results)
    payload: dict[str, Any] = {
        "bench": NAME,
        "description": DESCRIPTION,
        "quick": options.quick,
        "iterations": iterations,
        "warmup": warmup,
        "amount": AMOUNT,
        "machine": machine_info(),
        "backends": [r.to_json() for r in results],
    }
    if options.results_dir is not None:
        path = write_results(options.results_dir, NAME, payload)
        print(f"  results: {path}")
    return payload
