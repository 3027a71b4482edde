"""Security keys in real Chromium against ``crm-pay demo``, with Chromium's virtual
authenticator (DevTools protocol) standing in for a USB key: the supervisor sets up the
authenticator app at first sign-in, adds a security key on the Security page, signs
out, and signs in again with the key instead of a code.

The pages are opened on ``localhost``, not 127.0.0.1: WebAuthn needs a secure context
(localhost is one) and a domain name as relying party id (an IP address is refused)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from browserkit import AGENT_VIEWPORT, DemoServer

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")


@pytest.fixture(scope="module")
def key_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("webauthn")).start()
    yield server
    server.stop()


def _password(page: Any, base: str) -> None:
    page.goto(f"{base}/pay/agent/login")
    page.fill("#email", SUPERVISOR[0])
    page.fill("#password", SUPERVISOR[1])
    page.click("#login-form button[type=submit]")


def test_supervisor_adds_a_security_key_and_signs_in_with_it(
    key_demo: DemoServer, browser: Any, shoot: Callable[[Any, str], Path]
) -> None:
    base = key_demo.base.replace("127.0.0.1", "localhost")
    context = browser.new_context(viewport=AGENT_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )

    _password(page, base)
    page.wait_for_selector("#mfa-enrol-form")
    seed = page.inner_text("#totp-secret").strip()
    page.fill("#code", pyotp.TOTP(seed).now())
    page.click("#mfa-enrol-form button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    page.click("#mfa-finish-form button[type=submit]")
    page.wait_for_url("**/pay/agent/")

    page.click("#security-link")
    page.wait_for_selector("#no-security-keys")
    page.fill("#key-name", "Virtual key")
    page.click("#add-security-key")
    page.wait_for_selector("#security-keys")
    assert "Virtual key" in page.inner_text("#security-keys")
    shoot(page, "webauthn-01-key-added")

    page.locator("form.who button", has_text="Sign out").first.click()
    page.wait_for_selector("#login-form")

    _password(page, base)
    page.wait_for_selector("#use-security-key")
    shoot(page, "webauthn-02-code-page")
    page.click("#use-security-key")
    page.wait_for_url("**/pay/agent/")
    assert SUPERVISOR[0] in page.inner_text("#signed-in-as")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
