"""The admin brands the customer pages in a real browser: the pay-button preview follows
the colour typed and says when white text on it is unreadable; after Save, a customer's
phone shows the logo, the accent colour and the support contact (screenshots for
docs/admin-guide.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import NO_MFA, DemoServer, sign_in

from paytest import tiny_png

pytestmark = pytest.mark.browser

ADMIN = ("admin@example.com", "demo-admin-pass")


@pytest.fixture(scope="module")
def brand_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("branding"), env=NO_MFA).start()
    yield server
    server.stop()


def test_the_admin_brands_the_pages_a_customer_sees(
    brand_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    page = agent_context.new_page()
    sign_in(page, brand_demo.base, "/pay/admin/branding/", ADMIN)
    page.fill("#colour", "#ffd966")
    page.wait_for_selector("#colour-contrast:has-text('too light')")
    page.fill("#colour", "#1a4d2e")
    page.wait_for_selector("#colour-contrast:has-text('readable')")
    assert (
        page.evaluate("getComputedStyle(document.getElementById('preview-button')).backgroundColor")
        == "rgb(26, 77, 46)"
    )
    page.set_input_files(
        "input[name=logo]", {"name": "logo.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    page.fill("input[name=support_email]", "care@harbour.example")
    page.fill("input[name=support_hours]", "Mon–Fri 9:00–17:00")
    shoot(page, "admin-branding")
    page.click("#branding-form button[type=submit]")
    page.wait_for_selector("text=Branding version 1 saved")
    # the saved logo is an <img> served by version: visible once it has loaded (a busy
    # CI machine saw the page before the image, 0 x 0)
    page.wait_for_selector("#current-logo", state="visible")

    customer = customer_context.new_page()
    customer.goto(f"{brand_demo.base}/pay/p/a-link-that-is-not-ours")
    customer.wait_for_selector(".brand-logo img")
    assert customer.evaluate("document.querySelector('.brand-logo img').naturalWidth") == 2
    brand = customer.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()"
    )
    assert brand == "#1a4d2e"
    footer = customer.inner_text("footer")
    assert "care@harbour.example" in footer and "Mon–Fri 9:00–17:00" in footer
    shoot(customer, "customer-10-branded-page")
