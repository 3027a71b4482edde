"""``crm-pay demo --braintree-web``: the demo's pay page runs braintree-web itself, as
production does, in a chromium started with the arguments the demo prints (Braintree's
hosts resolved to the demo's TLS front of the sandbox) — no Playwright routing, so this
is what a person who opens the printed command gets."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE_VIEWPORT,
    DemoServer,
    hosted_field,
    sign_in,
    take_link_payment,
)

pytestmark = pytest.mark.browser

VISA = "4111111111111111"  # Braintree's published Visa test number


@pytest.fixture(scope="module")
def braintree_web_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("demo-braintree-web"), args=("--braintree-web",)
    ).start()
    yield server
    server.stop()


def _printed_arguments(demo: DemoServer) -> list[str]:
    """The chromium arguments of the command the demo printed (profile and URL aside)."""
    line = next(text for text in demo.log().splitlines() if text.strip().startswith("chromium "))
    words = shlex.split(line)
    assert words[-1].endswith("/pay/agent/"), line
    return [w for w in words[1:-1] if not w.startswith("--user-data-dir=")]


def test_the_demo_pays_through_braintree_web_in_the_printed_browser(
    browser: Any, braintree_web_demo: DemoServer, agent_context: Any
) -> None:
    arguments = _printed_arguments(braintree_web_demo)
    rules = next(a for a in arguments if a.startswith("--host-resolver-rules="))
    front = re.search(r"MAP assets\.braintreegateway\.com (127\.0\.0\.1:\d+)", rules)
    assert front, rules
    assert "MAP * ~NOTFOUND" in rules  # nothing else leaves the machine

    agent = agent_context.new_page()
    sign_in(agent, braintree_web_demo.base, "/pay/agent/customers/CUST-0001")
    payment_id = take_link_payment(
        agent, braintree_web_demo.base, "CUST-0001", invoices=("INV-1001",), amount="25.00"
    )
    pay_url = braintree_web_demo.pay_url_for(payment_id)

    # the customer's browser: chromium as the demo says to start it
    printed = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *arguments]
    )
    try:
        context = printed.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
        context.set_default_timeout(20_000)
        customer = context.new_page()
        customer.goto(pay_url)
        hosted_field(customer, "number").wait_for()
        sdk = customer.evaluate(
            "() => ({fields: braintree.hostedFields.VERSION,"
            " standIn: !!braintree.developmentSandbox})"
        )
        assert sdk == {"fields": "3.144.0", "standIn": False}  # Braintree's own client
        frames = [f.url for f in customer.frames if f.name.startswith("braintree-hosted-field-")]
        assert frames and all(u.startswith("https://assets.braintreegateway.com/") for u in frames)
        for name, value in (
            ("number", VISA),
            ("expirationDate", "1230"),
            ("cvv", "123"),
            ("postalCode", "94107"),
        ):
            hosted_field(customer, name).press_sequentially(value, delay=10)
        customer.wait_for_selector("#pay-button:not([disabled])")
        customer.click("#pay-button")
        customer.wait_for_selector("h1:has-text('payment approved')")
        assert customer.inner_text("#receipt-number")
    finally:
        printed.close()
    # the agent watched it live: approved, without a reload
    agent.wait_for_function(
        "() => document.querySelector('#payment-status').innerText === 'Approved'"
    )
