"""Browser tests: Debian's chromium driven by Playwright against ``crm-pay demo`` running
as a real process (HTTP + Socket.IO on one port, the Braintree development sandbox on
two more), exactly as a newcomer runs it.

Two browser contexts play the two people on the call: the agent (1280x720 desktop) and
the customer (a 390x844 phone). Screenshots illustrate ``docs/``: they go to
``docs/screenshots/`` when ``UPDATE_SCREENSHOTS=1`` is set, else to the test's temporary
folder (so an ordinary test run leaves the repository untouched).

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (Debian's
``chromium`` package). Without it the tests are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    AGENT_VIEWPORT,
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCS_SCREENSHOTS,
    MAX_SCREENSHOT_BYTES,
    PHONE_VIEWPORT,
    DemoServer,
    seed_xss_customer,
)


def _require_browser() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); "
            "these tests never download a browser"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """One demo shared by the payment and XSS tests (each uses its own customer)."""
    _require_browser()
    workdir = tmp_path_factory.mktemp("demo")
    seed_xss_customer(workdir / "instance")
    server = DemoServer(workdir).start()
    yield server
    server.stop()


@pytest.fixture
def agent_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=AGENT_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def customer_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport=PHONE_VIEWPORT, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shoot(screenshot_dir: Path) -> Callable[[Any, str], Path]:
    """Save a viewport screenshot of ``page`` as ``<name>.png`` (kept under 200 KB)."""

    def take(page: Any, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        size = path.stat().st_size
        assert size < MAX_SCREENSHOT_BYTES, f"{path.name} is {size} bytes"
        return path

    return take
