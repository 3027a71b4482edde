"""No pay-link token, receipts-portal link or launch link in clear in any log.

A full flow through a real HTTP server (the demo's request handler, werkzeug's request
log): a pay link is created, opened and paid, the receipt is opened through the portal
and as a PDF, the console is opened from a launch link. Every log line of the run is
captured and scanned for the secrets; the access log lines are there, redacted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.demo import DemoRequestHandler
from crm_pay.logging_filters import REDACTED_TOKEN, install_server_log_filters
from crm_pay.persistence.migrate import upgrade
from crm_pay.services import launch, portal
from crm_pay.services.access import create_api_key
from crm_pay.services.launch import LaunchConfig
from paytest import app_config

LAUNCH_SECRET = "launch-secret-for-tests-0123456789abcdef"


@pytest.fixture
def served(db_url: str, sandbox: Any, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    app = create_app(
        app_config(db_url, sandbox, tmp_path, CRM_PAY_LAUNCH_SECRET=LAUNCH_SECRET),
        instance_path=str(tmp_path / "instance"),
    )
    upgrade(get_context(app).db)
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=DemoRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    get_context(app).db.dispose()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_full_flow_leaves_no_link_secret_in_the_logs(
    served: tuple[Flask, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, base = served
    ctx = get_context(app)
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {create_api_key(ctx, name='flow', role='agent')}"}
    http = requests.Session()

    created = http.post(
        f"{base}/pay/api/v1/payments",
        json={"customer": "CUST-0001", "amount": "30.00", "currency": "USD"},
        headers={**auth, "Idempotency-Key": "log-flow-1"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pay_path = _path(created.json()["pay_url"])
    token = pay_path.rsplit("/p/", 1)[1]
    assert http.get(f"{base}{pay_path}", timeout=10).status_code == 200
    paid = http.post(
        f"{base}{pay_path}/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert paid.status_code == 200, paid.text
    # a second try with the link once it is used, and a mistyped token
    http.get(f"{base}{pay_path}", timeout=10)
    http.get(f"{base}/pay/p/{token[:-3]}xyz", timeout=10)

    payment = http.get(
        f"{base}/pay/api/v1/payments/{created.json()['id']}", headers=auth, timeout=10
    ).json()
    number = payment["receipt_number"]
    signed = _path(portal.receipt_link(ctx, "CUST-0001", number)).rsplit("/r/", 1)[1]
    assert http.get(f"{base}/pay/r/{signed}", timeout=10).status_code == 200
    pdf = http.get(f"{base}/pay/r/{signed}/{number}.pdf", timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    http.get(f"{base}/pay/r/{signed}x", timeout=10)  # a damaged portal link

    link = launch.launch_link(ctx, "CUST-0001", config=LaunchConfig.from_config(ctx.config))
    launch_token = link.split("t=", 1)[1]
    opened = http.get(f"{base}{_path(link)}", allow_redirects=False, timeout=10)
    assert opened.status_code == 303

    # The test's own HTTP client (urllib3) logs the URLs it asks for: that is this test
    # talking, not crm-pay (whose outbound calls, to the PSP, carry no link tokens).
    ours = [r for r in caplog.records if not r.name.startswith("urllib3")]
    assert len(ours) >= 10  # the run was logged, so the scan below means something
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in ours)
    for secret in (token, token[:-3], signed, launch_token):
        assert secret not in text
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any(f"/pay/p/{REDACTED_TOKEN}/pay" in line for line in access), access
    assert any(f"/pay/r/{REDACTED_TOKEN}/{number}.pdf" in line for line in access), access
    assert any(f"/launch/link?t={REDACTED_TOKEN}" in line for line in access), access


def test_the_demo_server_names_no_versions(served: tuple[Flask, str]) -> None:
    _, base = served
    resp = requests.get(f"{base}/pay/healthz", timeout=10)
    assert resp.headers["Server"] == "crm-pay"


def test_crm_pay_and_gunicorn_loggers_redact_too(
    served: tuple[Flask, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # gunicorn's loggers are the server's: its config installs the filters (as documented
    # in docs/security/embedding.md); init_app never does.
    install_server_log_filters("/pay")
    secret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
    logging.getLogger("crm_pay.paypage").warning("link %s refused", f"/pay/p/{secret}")
    # gunicorn/glogging.py Logger.access: the access-log format with a dict of atoms
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s "%(f)s"',
        {"h": "203.0.113.9", "r": f"GET /pay/p/{secret} HTTP/1.1", "s": "200", "f": "-"},
    )
    assert secret not in caplog.text
    assert caplog.text.count(f"/pay/p/{REDACTED_TOKEN}") == 2


def test_the_host_apps_loggers_are_not_touched(
    served: tuple[Flask, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("host_shop.orders").info("order page /pay/p/kept-as-the-host-wrote-it")
    assert "/pay/p/kept-as-the-host-wrote-it" in caplog.text
