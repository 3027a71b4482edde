"""A supervisor contests a chargeback in real Chromium: the dispute panel lists it with
its reply-by date, the supervisor adds a text, uploads a PDF, ticks the confirmation and
submits the evidence; the real ``braintree`` SDK carried each step to the sandbox, which
then holds the dispute as ``disputed`` with both pieces. No page or request carries a
card number. Screenshots: docs/screenshots/supervisor-disputes-*.png.

The app runs in this process (a threaded WSGI server over the test app and the session's
sandbox), so the test opens the chargeback at the sandbox directly, as the sandbox's own
tests do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import AGENT_VIEWPORT, Capture, pan_findings, sign_in
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from connectors.psp.braintree_sandbox import SandboxServer
from paytest import PASSWORD, free_port, paid

pytestmark = pytest.mark.browser

LIST = "/pay/supervisor/disputes/"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% proof of delivery, signed\n%%EOF\n"
VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 900}


@pytest.fixture
def live(app: Flask, users: dict[str, int]) -> Iterator[str]:
    """The test app served over HTTP on 127.0.0.1 (its users made: supervisor@example.com)."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_supervisor_adds_text_and_a_document_then_submits(
    live: str,
    client: FlaskClient,
    auth: dict[str, str],
    sandbox: SandboxServer,
    browser: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    payment = paid(client, auth)
    psp_id = sandbox.open_dispute(payment["psp_reference"])
    form = sandbox.webhook_form("dispute_opened", psp_id)
    assert client.post("/pay/webhooks/braintree", data=form).get_json()["status"] == "processed"

    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    capture = Capture(live)
    capture.attach(context)
    try:
        page = context.new_page()
        sign_in(page, live, LIST, ("supervisor@example.com", PASSWORD))
        row = page.locator("#dispute-list tbody tr", has_text=psp_id)
        assert "7 days left" in row.inner_text()
        assert "open" in row.inner_text()
        shoot(page, "supervisor-disputes-list")

        row.locator("a", has_text=psp_id).click()
        page.wait_for_selector("#text-form")
        assert "60.00 USD" in page.inner_text("#dispute-amount")
        assert page.is_disabled("#finalize")  # nothing to submit yet

        page.select_option("#text-form select[name=category]", "TRACKING_NUMBER")
        page.fill(
            "#text-form textarea[name=text]", "1Z999AA10123456784 (UPS), delivered 2026-11-02"
        )
        page.click("#send-text")
        page.wait_for_selector("p.flash.notice")
        assert "Text evidence sent" in page.inner_text("p.flash.notice")

        page.set_input_files(
            "#file-form input[type=file]",
            files=[{"name": "proof-of-delivery.pdf", "mimeType": "application/pdf", "buffer": PDF}],
        )
        page.click("#upload-file")
        page.wait_for_selector("text=proof-of-delivery.pdf uploaded")
        # the flash can be found while the page after the upload is still loading
        page.wait_for_selector("#evidence-list tbody tr >> nth=1")
        rows = page.locator("#evidence-list tbody tr")
        assert rows.count() == 2
        assert "1Z999AA10123456784" in rows.nth(0).inner_text()
        assert "proof-of-delivery.pdf" in rows.nth(1).inner_text()
        shoot(page, "supervisor-disputes-evidence")

        # the confirmation must be ticked: the browser itself refuses the form without it
        page.click("#finalize")
        assert page.locator("#answered").count() == 0
        page.check("#confirm-finalize")
        page.click("#finalize")
        page.wait_for_selector("#answered")
        assert "Evidence submitted" in page.inner_text("p.flash.notice")
        assert page.inner_text("#dispute-status") == "disputed"
        assert page.locator("#text-form").count() == 0
        shoot(page, "supervisor-disputes-submitted")
    finally:
        context.close()

    at_psp = sandbox.braintree_gateway().dispute.find(psp_id)
    assert at_psp.status == "disputed" and len(at_psp.evidence) == 2
    assert capture.responses > 0 and pan_findings(capture.texts, cvv="123") == []
