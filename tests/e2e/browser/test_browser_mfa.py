"""MFA in real Chromium against ``crm-pay demo`` (which requires it of supervisors, as
production does): the supervisor's first sign-in sets up an authenticator app (the test
reads the key shown next to the QR code and computes codes with pyotp, as the app
would), saves the recovery codes, signs out, and signs in again with a code."""

from __future__ import annotations

import time
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
def mfa_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("mfa")).start()
    yield server
    server.stop()


def _password(page: Any, base: str) -> None:
    page.goto(f"{base}/pay/agent/login")
    page.fill("#email", SUPERVISOR[0])
    page.fill("#password", SUPERVISOR[1])
    page.click("#login-form button[type=submit]")


def _next_step() -> None:
    """Wait for the authenticator's next 30-second code (a used one is refused)."""
    time.sleep(30 - time.time() % 30 + 0.5)


def test_supervisor_enrols_and_signs_in_with_a_code(
    mfa_demo: DemoServer, browser: Any, shoot: Callable[[Any, str], Path]
) -> None:
    context = browser.new_context(viewport=AGENT_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    _password(page, mfa_demo.base)
    page.wait_for_selector("#mfa-enrol-form")
    assert page.evaluate("document.querySelector('#totp-qr').naturalWidth") > 0  # CSP allows it
    seed = page.inner_text("#totp-secret").strip()
    shoot(page, "mfa-01-enrol")

    page.fill("#code", "000000" if pyotp.TOTP(seed).now() != "000000" else "111111")
    page.click("#mfa-enrol-form button[type=submit]")
    assert "not right" in page.inner_text("#mfa-error")

    page.fill("#code", pyotp.TOTP(seed).now())
    page.click("#mfa-enrol-form button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#mfa-finish-form button[type=submit]")
    page.wait_for_url("**/pay/agent/")
    assert SUPERVISOR[0] in page.inner_text("#signed-in-as")

    page.locator("form.who button", has_text="Sign out").first.click()
    page.wait_for_selector("#login-form")

    _password(page, mfa_demo.base)
    page.wait_for_selector("#mfa-code-form")
    assert page.url.endswith("/pay/agent/login")  # nothing started yet
    shoot(page, "mfa-02-code")
    _next_step()
    page.fill("#code", pyotp.TOTP(seed).now())
    page.click("#mfa-code-form button[type=submit]")
    page.wait_for_url("**/pay/agent/")
    assert SUPERVISOR[0] in page.inner_text("#signed-in-as")

    page.click("#security-link")
    assert "is on" in page.inner_text("#mfa-status").replace("\n", " ")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
