"""`crm-pay demo` as a newcomer runs it: a real process serving over HTTP, the sandbox
beside it, the demo API key printed last; a link payment end to end with curl-like calls."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from paytest import free_pair, free_port


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    exe = shutil.which("crm-pay", path=str(Path(sys.executable).parent))
    assert exe, "crm-pay console script is not installed in the virtualenv"
    port, sandbox_port = free_port(), free_pair()
    log = (tmp_path / "demo.log").open("w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PAY_")}
    proc = subprocess.Popen(
        [
            exe,
            "demo",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--instance",
            str(tmp_path / "instance"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/pay/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail("demo did not start:\n" + log.read())
        log.seek(0)
        yield base, log.read()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_demo_serves_the_product_and_takes_a_link_payment(demo) -> None:  # type: ignore[no-untyped-def]
    base, banner = demo
    lines = [line for line in banner.splitlines() if line.strip()]
    key_line = next(i for i, line in enumerate(lines) if line.startswith("cpk_"))
    assert "agent@example.com" in banner and "/pay/api/v1" in banner
    # Every page the banner names answers (the consoles send to sign-in first).
    pages = re.findall(r"(http://\S+/pay/(?:agent/|supervisor/\S*|admin/|demo/mailbox))", banner)
    assert len(pages) == 4, banner
    for url in pages:
        assert requests.get(url, timeout=5).status_code == 200, url
    headers = {"Authorization": f"Bearer {lines[key_line]}"}
    customer = requests.get(f"{base}/pay/api/v1/customers/CUST-0002", headers=headers, timeout=5)
    assert customer.status_code == 200 and customer.json()["balance"] == "833.30"
    created = requests.post(
        f"{base}/pay/api/v1/payments",
        json={
            "customer": "CUST-0002",
            "amount": "100.00",
            "currency": "USD",
            "allocations": {"INV-1002": "100.00"},
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pay_url = created.json()["pay_url"]
    page = requests.get(pay_url, timeout=5)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    paid = requests.post(
        f"{pay_url}/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept": "application/json"},
        timeout=10,
    ).json()
    assert paid["status"] == "submitted_for_settlement" and paid["receipt_number"]
    after = requests.get(f"{base}/pay/api/v1/customers/CUST-0002", headers=headers, timeout=5)
    assert after.json()["balance"] == "733.30"
    assert after.json()["invoices"][0]["status"] == "partially_paid"
    pdf = requests.get(
        f"{base}/pay/api/v1/receipts/{paid['receipt_number']}.pdf", headers=headers, timeout=5
    )
    assert pdf.content.startswith(b"%PDF")
