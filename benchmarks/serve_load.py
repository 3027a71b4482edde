"""``crm-pay serve`` under load: 16 concurrent clients doing create + pay over real HTTP.

The production shape on one machine, loopback only: ``crm-pay serve --workers 2``
(gunicorn gthread) on PostgreSQL (its own database ``crm_pay_bench_serve`` on the server
of ``CRM_PAY_BENCH_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``),
Redis on 127.0.0.1:6379 db 12 as Socket.IO message queue and rate-limit store, and the
Braintree development sandbox as a separate process (``crm-pay sandbox``). Each client
thread loops for a fixed time (30 s, 5 s with ``--quick``): ``POST /pay/api/v1/payments``
then ``POST /pay/p/<token>/pay`` with ``fake-valid-nonce``, each client for its own
customer of the builtin CRM (no invoices: every payment is credit). Printed: payments per second,
p50 and p99 of one create + pay, and errors (any answer but 201/200-and-approved, any
exception). Goal (issue 9): 60 payments/s on 2 cores with 0 errors; printed, not asserted.
Skipped, with the reason, when PostgreSQL or Redis cannot be reached.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from benchmarks.common import RunOptions, Summary, machine_info, write_results

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "serve_load"
DESCRIPTION = "crm-pay serve (2 processes, PostgreSQL, Redis): 16 clients create + pay over HTTP"

CLIENTS = 16
SECONDS = 30.0
QUICK_SECONDS = 5.0
WORKERS = 2
DATABASE = "crm_pay_bench_serve"
PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = ("127.0.0.1", 6379, 12)
#: One customer per client: a second charge for a customer waits while the first one's
#: outcome is open (DESIGN.md rule 1), so shared customers would measure that rule.
CUSTOMERS = tuple(f"BENCH-{i:04d}" for i in range(CLIENTS))
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database() -> tuple[str | None, str | None]:
    """(URL of the bench's own emptied database, skip reason)."""
    import psycopg

    server = os.environ.get("CRM_PAY_BENCH_DATABASE_URL", PG_DEFAULT_URL)
    own = urlunsplit(urlsplit(server)._replace(path=f"/{DATABASE}"))
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (DATABASE,)).fetchone():
                pass
            else:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(own, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    except psycopg.Error as exc:
        return None, f"PostgreSQL unreachable ({type(exc).__name__})"
    return own, None


def _redis() -> str | None:
    host, port, db = REDIS
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return f"redis://{host}:{port}/{db}"
    except OSError:
        return None


def _start(cmd: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> Any:
    out = log.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-c", "from crm_pay.cli_main import main; main()", *cmd],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        out.close()

    stack.callback(stop)
    return proc


def _wait(url: str, proc: Any, log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited:\n{log.read_text()[-2000:]}")
        with suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"not up in 40 s:\n{log.read_text()[-2000:]}")


def _client(base: str, key: str, until: float, index: int, out: dict[str, Any]) -> None:
    """Create + pay in a loop until ``until``; durations (ns) and errors into ``out``."""
    times: list[int] = []
    errors: list[str] = []
    with requests.Session() as http:
        auth = {"Authorization": f"Bearer {key}"}
        i = 0
        while time.monotonic() < until:
            customer = CUSTOMERS[index % len(CUSTOMERS)]
            i += 1
            started = time.perf_counter_ns()
            try:
                created = http.post(
                    f"{base}/pay/api/v1/payments",
                    json={"customer": customer, "amount": "1.00", "currency": "USD"},
                    headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                    timeout=30,
                )
                if created.status_code != 201:
                    code = (created.json().get("error") or {}).get("code", "")
                    errors.append(f"create {created.status_code} {code}".strip())
                    continue
                token = created.json()["pay_url"].rsplit("/p/", 1)[1]
                paid = http.post(
                    f"{base}/pay/p/{token}/pay",
                    data={"payment_method_nonce": "fake-valid-nonce"},
                    headers={"Accept": "application/json"},
                    timeout=30,
                )
                if paid.status_code != 200 or paid.json().get("status") != (
                    "submitted_for_settlement"
                ):
                    errors.append(f"pay {paid.status_code}")
                    continue
            except (requests.RequestException, ValueError, KeyError) as exc:
                errors.append(type(exc).__name__)
                continue
            times.append(time.perf_counter_ns() - started)
    out[str(index)] = (times, errors)


def run(options: RunOptions) -> dict[str, Any]:
    """Start sandbox and server, load them, print the figures."""
    db_url, skipped = _database()
    queue = _redis()
    if skipped or queue is None:
        reason = skipped or "Redis unreachable on 127.0.0.1:6379"
        print(f"  skipped: {reason}")
        return {"skipped": reason}
    seconds = QUICK_SECONDS if options.quick else SECONDS
    from connectors.crm.builtin import BuiltinCrm
    from crm_pay.demo import SANDBOX_CREDENTIALS
    from crm_pay.ports import CrmCustomer

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-pay-serve-")))
        sandbox_port, assets_port, port = _free_port(), _free_port(), _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PAY_")}
        env.update(
            {
                "CRM_PAY_DATABASE_URL": str(db_url),
                "CRM_PAY_DEV_SECRETS": "true",
                "CRM_PAY_AUTO_MIGRATE": "true",
                "CRM_PAY_INSTANCE_PATH": str(tmp / "instance"),
                "CRM_PAY_PUBLIC_URL": base,
                "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
                "CRM_PAY_BRAINTREE_GATEWAY_URL": f"http://127.0.0.1:{sandbox_port}",
                "CRM_PAY_BRAINTREE_ASSETS_URL": f"http://127.0.0.1:{assets_port}",
                "CRM_PAY_BRAINTREE_MERCHANT_ID": SANDBOX_CREDENTIALS["merchant_id"],
                "CRM_PAY_BRAINTREE_PUBLIC_KEY": SANDBOX_CREDENTIALS["public_key"],
                "CRM_PAY_BRAINTREE_PRIVATE_KEY": SANDBOX_CREDENTIALS["private_key"],
                "CRM_PAY_BRAINTREE_TIMEOUT": "10",
                "CRM_PAY_BUILTIN_CRM_PATH": str(tmp / "crm.json"),
                "CRM_PAY_SOCKETIO_MESSAGE_QUEUE": queue,
                "CRM_PAY_SOCKETIO_CHANNEL": f"crm-pay-bench-{uuid.uuid4().hex}",
                "CRM_PAY_RATE_LIMIT_STORAGE": queue,
                "CRM_PAY_RATE_LIMIT_NAMESPACE": f"crm_pay_bench_{uuid.uuid4().hex}",
                # one address plays every customer, one key every agent
                "CRM_PAY_PAY_SUBMIT_IP_LIMIT": "1000000/minute",
                "CRM_PAY_API_RATE_LIMIT": "1000000/minute",
            }
        )
        crm = BuiltinCrm(tmp / "crm.json")
        for ref in CUSTOMERS:
            crm.add_customer(CrmCustomer(ref, f"Bench customer {ref}"))
        sandbox_log, serve_log = tmp / "sandbox.log", tmp / "serve.log"
        sandbox = _start(
            ["sandbox", "--port", str(sandbox_port), "--assets-port", str(assets_port)],
            env,
            sandbox_log,
            stack,
        )
        _wait(f"http://127.0.0.1:{sandbox_port}/", sandbox, sandbox_log)
        key_out = subprocess.run(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-c",
                "from crm_pay.cli_main import main; main()",
                "api-keys",
                "create",
            ]
            + ["--name", "bench", "--role", "agent"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        key = next(w for w in key_out.split() if w.startswith("cpk_"))
        server = _start(
            ["serve", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"],
            env,
            serve_log,
            stack,
        )
        _wait(f"{base}/pay/healthz", server, serve_log)
        # warm-up: every worker's imports, pools and templates
        warm: dict[str, Any] = {}
        _client(base, key, time.monotonic() + 3, 0, warm)

        results: dict[str, Any] = {}
        started = time.monotonic()
        threads = [
            threading.Thread(target=_client, args=(base, key, started + seconds, i, results))
            for i in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started

    times = [t for ts, _ in results.values() for t in ts]
    errors = [e for _, es in results.values() for e in es]
    summary = Summary.of_ns(times) if times else None
    rate = len(times) / elapsed
    print(
        f"  {WORKERS} processes, {CLIENTS} clients, {elapsed:.1f} s: {len(times)} payments, "
        f"{rate:.1f} payments/s, errors {len(errors)}"
        + (f" ({', '.join(sorted(set(errors)))})" if errors else "")
    )
    if summary:
        print(f"  create + pay: p50 {summary.median_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms")
    print(f"  goal: >= 60 payments/s with 0 errors on 2 cores ({machine_info()['cpu_count']} here)")
    payload = {
        "workers": WORKERS,
        "clients": CLIENTS,
        "seconds": round(elapsed, 2),
        "payments": len(times),
        "payments_per_second": round(rate, 2),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "create_and_pay": summary.to_json() if summary else None,
        "machine": machine_info(),
    }
    if options.results_dir is not None:
        write_results(options.results_dir, NAME, payload)
    return payload
