"""`crm-pay demo` as a newcomer runs it: a real process serving over HTTP, the sandbox
beside it, the demo API key printed last; a link payment end to end with curl-like calls;
the sample history in the supervisor's queue as the supervisor signs in and sees it, and a
restart on the same instance folder that adds nothing to it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import requests

from crm_pay.demo import DEMO_USERS
from paytest import csrf_of, free_pair, free_port

# braintree_python test/credit_card_numbers.py Disputes.Chargeback (the sample dispute's card)
CHARGEBACK_CARD = b"4023898493988028"
SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")


@contextlib.contextmanager
def _running_demo(tmp_path: Path, *extra: str) -> Iterator[tuple[str, str]]:
    """``crm-pay demo`` on free ports with ``tmp_path/instance``; yields (base URL, the
    output up to the banner's last line)."""
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
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                # 503 while the demo writes its sample history, then the real server
                if requests.get(f"{base}/pay/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
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


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with _running_demo(tmp_path) as running:
        yield running


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


# Rows only the sample history writes (the background work of a running demo adds none).
SEEDED_TABLES = (
    "payments",
    "receipts",
    "cases",
    "approval_requests",
    "disputes",
    "reminder_rules",
    "reminder_sends",
    "csat_answers",
    "users",
)


def _rows(instance: Path) -> dict[str, int]:
    db = sqlite3.connect(instance / "crm_pay.sqlite3")
    try:
        # the table names are the constants above, never input
        count = "SELECT count(*) FROM {}"
        return {t: db.execute(count.format(t)).fetchone()[0] for t in SEEDED_TABLES}
    finally:
        db.close()


def _supervisor_session(base: str) -> requests.Session:
    """Sign in as the demo supervisor through the console's forms, setting up the
    authenticator app the demo asks supervisors for (the key shown as text)."""
    session = requests.Session()
    page = session.get(f"{base}/pay/agent/login", timeout=5)
    email, password = SUPERVISOR
    enrol = session.post(
        f"{base}/pay/agent/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        timeout=5,
    )
    seed = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text)
    pending = re.search(r'name="pending" value="([^"]+)"', enrol.text)
    assert seed and pending, enrol.text
    codes = session.post(
        f"{base}/pay/agent/mfa/enrol",
        data={"pending": pending.group(1), "code": pyotp.TOTP(seed.group(1)).now()},
        timeout=5,
    )
    finish = re.search(r'name="pending" value="([^"]+)"', codes.text)
    assert finish, codes.text
    session.post(f"{base}/pay/agent/mfa/finish", data={"pending": finish.group(1)}, timeout=5)
    return session


def _wait_for_reminder(mailbox: Path) -> bool:
    """Whether a payment reminder reaches the file mailbox (the outbox delivers it)."""
    for _ in range(100):
        if any("reminder." in p.read_text(errors="replace") for p in mailbox.rglob("*.eml")):
            return True
        time.sleep(0.1)
    return False


def test_the_sample_history_is_in_the_supervisor_queue_and_seeded_once(tmp_path: Path) -> None:
    with _running_demo(tmp_path) as (base, banner):
        [summary] = [line.strip() for line in banner.splitlines() if "Sample history" in line]
        queue = _supervisor_session(base).get(f"{base}/pay/supervisor/", timeout=5)
        assert queue.status_code == 200, queue.text
        listed = set(re.findall(r'data-kind="([a-z_]+)" data-status="([a-z]+)"', queue.text))
        key = next(line for line in banner.splitlines() if line.startswith("cpk_"))
        api = {"Authorization": f"Bearer {key}"}
        approvals = requests.get(
            f"{base}/pay/api/v1/approvals?state=pending", headers=api, timeout=5
        ).json()["approvals"]
        customer = requests.get(f"{base}/pay/api/v1/customers/CUST-0104", headers=api, timeout=5)
        reminded = _wait_for_reminder(tmp_path / "instance" / "mailbox")
    # Each case the story opened by its cause, one of them assigned; the resolved one
    # (the overpayment, refunded) has left the queue.
    assert {
        ("disputed", "open"),
        ("settlement_declined", "assigned"),
        ("unknown_at_psp", "open"),
        ("receipt_undeliverable", "open"),
    } <= listed, queue.text
    assert "overpaid" not in {kind for kind, _ in listed}
    assert sorted(a["kind"] for a in approvals) == ["manual_payment", "refund"]
    assert all(a["requested_by"] == "agent@example.com" for a in approvals)
    # The sale the bank declined at settlement is owed again.
    assert customer.json()["balance"] == "504.40"
    assert "1 dispute" in summary and "seeded in" in summary, summary
    assert reminded, "the worker delivered no payment reminder to the demo mailbox"
    # The chargeback test card was typed into the sandbox's hosted fields only.
    for path in (tmp_path / "instance").rglob("*"):
        assert not path.is_file() or CHARGEBACK_CARD not in path.read_bytes(), path
    first = _rows(tmp_path / "instance")
    assert first["payments"] == 9 and first["csat_answers"] == 1, first

    with _running_demo(tmp_path) as (_, again):  # a restart on the same instance folder
        assert "Sample history" not in again
    assert _rows(tmp_path / "instance") == first
