"""``crm-pay serve --workers 2`` sums ``{prefix}/metrics`` over its processes by itself:
no ``PROMETHEUS_MULTIPROC_DIR`` is set, yet payments charged by one worker and by the
other are all counted in one scrape, whichever worker answers; a worker that is killed
and replaced leaves the live-process gauge (its counts stay); the run's directory is
gone once the server stops.

Needs PostgreSQL (``CRM_PAY_TEST_DATABASE_URL``'s server, else a local one; the test
works in a database of its own) and Redis on 127.0.0.1:6379 (its own db number).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving import Served, own_database, redis_url, serve

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.persistence.migrate import upgrade
from crm_pay.services.payments import CreatePayment, create_payment
from paytest import SANDBOX, free_port, token_of

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.sandbox,
    pytest.mark.timeout(150),
]

DATABASE = "crm_pay_serve_metrics_dir_test"
REDIS_DB = 14  # this test's own Redis database number
TOKEN = "serve-dir-scrape-token-8b2f"
SALE = ("crm_pay_psp_call_seconds_count", "method=sale,outcome=ok")
PROCESSES = ("crm_pay_processes", "")


def _request(
    served: Served, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int | None, int, str]:
    """One request on a new connection: (the worker that held it, status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    conn.connect()
    assert conn.sock is not None
    pid = served.holder_of(conn.sock.getsockname()[1])
    conn.request(method, path, body=body or None, headers=headers or {})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return pid, resp.status, text


def _scrape(served: Served) -> tuple[int | None, dict[tuple[str, str], float]]:
    pid, status, body = _request(
        served, "GET", "/pay/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body
    figures = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            figures[(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())))] = s.value
    return pid, figures


def _settings(tmp_path: Path, sandbox: SandboxServer, port: int) -> dict[str, str]:
    queue_url = redis_url(REDIS_DB)
    channel = f"crm-pay-metrics-dir-test-{uuid.uuid4().hex}"
    return {
        "CRM_PAY_DATABASE_URL": own_database(DATABASE),
        "CRM_PAY_DEV_SECRETS": "true",
        "CRM_PAY_INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_PAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
        "CRM_PAY_BRAINTREE_GATEWAY_URL": sandbox.gateway_url,
        "CRM_PAY_BRAINTREE_ASSETS_URL": sandbox.assets_url,
        "CRM_PAY_BRAINTREE_MERCHANT_ID": SANDBOX["merchant_id"],
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": SANDBOX["public_key"],
        "CRM_PAY_BRAINTREE_PRIVATE_KEY": SANDBOX["private_key"],
        "CRM_PAY_BRAINTREE_TIMEOUT": "10",
        "CRM_PAY_BUILTIN_CRM_PATH": str(tmp_path / "crm.json"),
        "CRM_PAY_SECURE_COOKIES": "false",
        "CRM_PAY_MFA_REQUIRED_ROLES": "",
        "CRM_PAY_SOCKETIO_MESSAGE_QUEUE": queue_url,
        "CRM_PAY_SOCKETIO_CHANNEL": channel,
        "CRM_PAY_RATE_LIMIT_STORAGE": queue_url,
        "CRM_PAY_RATE_LIMIT_NAMESPACE": f"crm_pay_{channel}",
        "CRM_PAY_METRICS_TOKEN": TOKEN,
    }


def _wait_for_workers(served: Served, count: int, old: set[int]) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        pids = served.worker_pids()
        if len(pids) == count and pids != old:
            return pids
        assert time.monotonic() < deadline, f"workers not replaced: {pids}"
        time.sleep(0.2)


def test_serve_sums_every_workers_counts_in_one_scrape_without_being_told_where(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    for key in [k for k in os.environ if k.startswith("CRM_PAY_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    for key, value in _settings(tmp_path, sandbox, port).items():
        monkeypatch.setenv(key, value)
    setup = create_app()
    ctx = get_context(setup)
    upgrade(ctx.db)
    tokens = []
    for n in range(10):
        view, _ = create_payment(
            ctx,
            CreatePayment(crm_ref="CUST-0001", amount=f"{11 + n}.00", currency="USD"),
            actor="user:1:agent@example.com",
            idempotency_scope="user:1",
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
        )
        tokens.append(token_of(view["pay_url"]))
    ctx.db.dispose()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    log = tmp_path / "serve.log"

    with serve(env, 2, port, log) as served:
        found = re.search(r"metrics summed in (\S+)", log.read_text())
        assert found, log.read_text()
        directory = Path(found.group(1))
        assert directory.is_dir()
        charged_by: dict[int, int] = {}
        paid = 0
        for token in tokens:  # each on a new connection, until both workers charged
            pid, status, body = _request(
                served,
                "POST",
                f"/pay/p/{token}/pay",
                urlencode({"payment_method_nonce": "fake-valid-nonce"}),
                {
                    "Accept": "application/json",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            assert status == 200, body
            paid += 1
            if pid is not None:
                charged_by[pid] = charged_by.get(pid, 0) + 1
            if len(charged_by) == 2 and paid >= 3:
                break
        assert len(charged_by) == 2, f"one worker charged every payment: {charged_by}"

        answered: dict[int, dict[tuple[str, str], float]] = {}
        for _ in range(60):
            pid, figures = _scrape(served)
            if pid is not None:
                answered[pid] = figures
            if len(answered) == 2:
                break
        assert len(answered) == 2, "one worker took every scrape"
        for pid, figures in answered.items():
            # each worker charged only some; each scrape reports them all
            assert figures.get(SALE) == paid, (pid, charged_by, figures.get(SALE))
            assert figures.get(PROCESSES) == 2, (pid, figures.get(PROCESSES))

        before = served.worker_pids()
        killed = max(charged_by, key=lambda p: charged_by[p])
        os.kill(killed, signal.SIGKILL)  # gunicorn starts another in its place
        after = _wait_for_workers(served, 2, before)
        assert killed not in after
        deadline = time.monotonic() + 20
        while True:
            _, figures = _scrape(served)
            if figures.get(PROCESSES) == 2:
                break  # the replacement counts; the killed one no longer does
            assert time.monotonic() < deadline, figures.get(PROCESSES)
            time.sleep(0.2)
        assert figures.get(SALE) == paid  # what the killed worker counted is kept

    assert not directory.exists(), "the run's metrics directory was left behind"
