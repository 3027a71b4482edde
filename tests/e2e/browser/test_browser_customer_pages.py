"""The customer's pages on a 390 px phone: footer text readable (WCAG 2.2 AA contrast),
the merchant named with a way to reach them, nothing wider than the screen."""

from __future__ import annotations

import re
from typing import Any

from browserkit import DemoServer

# Relative luminance and contrast ratio as WCAG 2.2 defines them (success criterion 1.4.3).
_RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)")


def _luminance(css: str) -> float:
    found = _RGB.match(css)
    assert found, css
    channels = []
    for value in found.groups():
        c = int(value) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _colours(page: Any, selector: str) -> tuple[str, str]:
    return page.evaluate(
        """(sel) => {
            const el = document.querySelector(sel);
            return [getComputedStyle(el).color, getComputedStyle(document.body).backgroundColor];
        }""",
        selector,
    )


def test_a_closed_link_on_a_phone_names_the_merchant_readably(
    demo: DemoServer, customer_context: Any, shoot: Any
) -> None:
    page = customer_context.new_page()
    page.goto(f"{demo.base}/pay/p/this-link-does-not-exist")
    page.wait_for_selector("footer .merchant-contact")
    footer = page.inner_text("footer")
    assert "Demo Merchant Inc." in footer and "billing@example.com" in footer
    assert page.is_visible("footer a[href^='tel:']")
    for selector in ("footer p", "footer a"):
        ratio = contrast(*_colours(page, selector))
        assert ratio >= 4.5, (selector, ratio)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, "customer-09-unknown-link-phone")
