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
    NO_MFA,
    PHONE_VIEWPORT,
    DemoServer,
    hosted_field,
    offer_wallets,
    sign_in,
    take_link_payment,
)

pytestmark = pytest.mark.browser

VISA = "4111111111111111"  # Braintree's published Visa test number


@pytest.fixture(scope="module")
def braintree_web_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("demo-braintree-web"), env=dict(NO_MFA), args=("--braintree-web",)
    ).start()
    yield server
    server.stop()


def _printed_arguments(demo: DemoServer) -> list[str]:
    """The chromium arguments of the command the demo printed (profile and URL aside)."""
    line = next(text for text in demo.log().splitlines() if text.strip().startswith("chromium "))
    words = shlex.split(line)
    assert words[-1].endswith("/pay/agent/"), line
    return [w for w in words[1:-1] if not w.startswith("--user-data-dir=")]


@pytest.fixture
def printed_browser(browser: Any, braintree_web_demo: DemoServer) -> Iterator[Any]:
    """A phone context of a chromium started with the arguments the demo printed."""
    printed = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *_printed_arguments(braintree_web_demo)]
    )
    context = printed.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
    context.set_default_timeout(20_000)
    yield context
    printed.close()


def _link(demo: DemoServer, agent_context: Any, crm_ref: str, invoice: str) -> tuple[Any, str]:
    """The agent sends a pay link; (the agent's payment page, the link)."""
    agent = agent_context.new_page()
    sign_in(agent, demo.base, f"/pay/agent/customers/{crm_ref}")
    payment_id = take_link_payment(agent, demo.base, crm_ref, invoices=(invoice,), amount="25.00")
    return agent, demo.pay_url_for(payment_id)


def test_the_demo_pays_through_braintree_web_in_the_printed_browser(
    braintree_web_demo: DemoServer, agent_context: Any, printed_browser: Any
) -> None:
    arguments = _printed_arguments(braintree_web_demo)
    rules = next(a for a in arguments if a.startswith("--host-resolver-rules="))
    front = re.search(r"MAP assets\.braintreegateway\.com (127\.0\.0\.1:\d+)", rules)
    assert front, rules
    assert "MAP * ~NOTFOUND" in rules  # nothing else leaves the machine

    agent, pay_url = _link(braintree_web_demo, agent_context, "CUST-0001", "INV-1001")

    # the customer's browser: chromium as the demo says to start it
    customer = printed_browser.new_page()
    customer.goto(pay_url)
    hosted_field(customer, "number").wait_for()
    sdk = customer.evaluate(
        "() => ({fields: braintree.hostedFields.VERSION, standIn: !!braintree.developmentSandbox})"
    )
    assert sdk == {"fields": "3.144.0", "standIn": False}  # Braintree's own client
    fields = ("number", "expirationDate", "cvv", "postalCode")
    for name in fields:  # every field's frame has loaded (each starts as about:blank)
        hosted_field(customer, name).wait_for()
    frames = [f.url for f in customer.frames if f.name.startswith("braintree-hosted-field-")]
    assert len(frames) == len(fields)
    assert all(u.startswith("https://assets.braintreegateway.com/") for u in frames), frames
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
    # the agent watched it live: approved, without a reload
    agent.wait_for_function(
        "() => document.querySelector('#payment-status').innerText === 'Approved'"
    )


def test_the_demo_offers_a_wallet_through_braintree_web_in_the_printed_browser(
    browser: Any, braintree_web_demo: DemoServer, agent_context: Any, printed_browser: Any
) -> None:
    """Google Pay, as the admin turned it on: braintree-web's component and Google's pay.js
    (the sandbox's labelled stand-in, answered on Google's host by the front)."""
    offer_wallets(braintree_web_demo, browser, "google_pay")
    agent, pay_url = _link(braintree_web_demo, agent_context, "CUST-0002", "INV-1002")
    customer = printed_browser.new_page()
    customer.goto(pay_url)
    customer.locator("#wallet-google_pay").click()
    sheet = customer.locator("#sandbox-google-pay-sheet")
    sheet.wait_for(state="visible")
    assert "Development sandbox — simulated Google Pay sheet" in sheet.inner_text()
    customer.click("#sandbox-google-pay-approve")
    customer.wait_for_selector("h1:has-text('payment approved')")
    assert "paid with Google Pay · Visa ending 1111" in customer.inner_text("#paid-with")
    agent.wait_for_function(
        "() => document.querySelector('#payment-status').innerText === 'Approved'"
    )
