"""``{prefix}/metrics`` under ``crm-pay serve --workers 2`` with prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``): whichever worker process answers a
scrape, it reports the same figures, the PSP calls made in any process summed and the
database gauges read at scrape time.

Needs PostgreSQL (``CRM_PAY_TEST_DATABASE_URL``'s server, else a local one; the test
works in a database of its own) and Redis on 127.0.0.1:6379 (several workers need the
Socket.IO message queue and a shared rate-limit store).
"""

from __future__ import annotations

import http.client
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
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
    pytest.mark.timeout(120),
]

DATABASE = "crm_pay_metrics_serve_test"
REDIS = ("127.0.0.1", 6379, 12)
TOKEN = "serve-scrape-token-5d1e"


def _scrape(served: Served) -> tuple[int | None, dict[tuple[str, str], float]]:
    """One scrape on a new connection: (the worker that answered, figures)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.connect()
    assert conn.sock is not None
    pid = served.holder_of(conn.sock.getsockname()[1])
    conn.request("GET", "/pay/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    assert resp.status == 200, body
    figures = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            figures[(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())))] = s.value
    return pid, figures


def test_every_worker_answers_with_the_same_figures(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = own_database(DATABASE)
    queue_url = redis_url(REDIS[2])
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    channel = f"crm-pay-metrics-test-{uuid.uuid4().hex}"
    settings = {
        "CRM_PAY_DATABASE_URL": db_url,
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
    for key in [k for k in os.environ if k.startswith("CRM_PAY_")]:
        monkeypatch.delenv(key)
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    setup = create_app()
    ctx = get_context(setup)
    upgrade(ctx.db)
    links = []
    for amount in ("11.00", "12.00", "13.00"):
        view, _ = create_payment(
            ctx,
            CreatePayment(crm_ref="CUST-0001", amount=amount, currency="USD"),
            actor="user:1:agent@example.com",
            idempotency_scope="user:1",
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
        )
        links.append(view["pay_url"])
    ctx.db.dispose()

    # Only the servers run in multiprocess mode (prometheus-client decides at import).
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with serve(env, 2, port, tmp_path / "serve.log") as served:
        for url in links:  # each on a new connection: any worker may charge it
            paid = requests.post(
                f"http://127.0.0.1:{port}/pay/p/{token_of(url)}/pay",
                data={"payment_method_nonce": "fake-valid-nonce"},
                headers={"Accept": "application/json", "Connection": "close"},
                timeout=20,
            )
            assert paid.status_code == 200, paid.text
        answered: dict[int, dict[tuple[str, str], float]] = {}
        for _ in range(60):
            pid, figures = _scrape(served)
            if pid is not None:
                answered[pid] = figures
            if len(answered) == 2:
                break
            time.sleep(0.05)
        assert len(answered) == 2, "one worker took every scrape"
    sale = ("crm_pay_psp_call_seconds_count", "method=sale,outcome=ok")
    settled = ("crm_pay_payments", "status=submitted_for_settlement")
    for pid, figures in answered.items():
        assert figures.get(sale) == 3, (pid, {k: v for k, v in figures.items() if "psp" in k[0]})
        assert figures.get(settled) == 3, pid
        assert figures.get(("crm_pay_database_up", "")) == 1, pid
    assert list(metrics_dir.iterdir()), "no multiprocess files were written"
