"""The supervisor's case queue in real Chromium, against the demo: a customer pays more
than they owe through a pay link (Braintree's test Visa in the sandbox's hosted fields),
which opens an ``overpaid`` case. The supervisor opens the queue, opens the case (its
customer, payment and timeline), adds a note and resolves it; the case leaves the queue
and the page carries no card number."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    AGENT_VIEWPORT,
    NO_MFA,
    DemoServer,
    hosted_field,
    sign_in,
    take_link_payment,
)

from crm_pay.demo import DEMO_USERS
from vault.pan import find_pans

pytestmark = pytest.mark.browser

QUEUE = "/pay/supervisor/"
SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")
VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 900}


@pytest.fixture(scope="module")
def cases_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("cases"), env=NO_MFA).start()
    yield server
    server.stop()


@pytest.fixture
def supervisor_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _customer_pays(customer: Any, pay_url: str) -> None:
    customer.goto(pay_url)
    for name, value in (
        ("number", "4111 1111 1111 1111"),  # Braintree's published test Visa
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")


def test_supervisor_opens_the_queue_notes_and_resolves_a_case(
    cases_demo: DemoServer,
    supervisor_context: Any,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = cases_demo
    # -- the cause: the customer pays more than everything they owe
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0003")
    payment_id = take_link_payment(
        agent, demo.base, "CUST-0003", invoices=(), amount="9000.00", above_balance=True
    )
    _customer_pays(customer_context.new_page(), demo.pay_url_for(payment_id))
    agent.wait_for_selector("#live-panel #receipt-number")

    # -- an agent is refused the queue
    refused = agent.goto(f"{demo.base}{QUEUE}")
    assert refused is not None and refused.status == 403

    # -- the supervisor opens the queue: the case is there, with its customer
    page = supervisor_context.new_page()
    sign_in(page, demo.base, QUEUE, SUPERVISOR)
    page.select_option("#filters select[name=kind]", "overpaid")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**kind=overpaid**")
    row = page.locator("#cases tbody tr[data-kind=overpaid]").first
    assert "CUST-0003" in row.inner_text()
    shoot(page, "supervisor-04-case-queue")

    # -- opens the case: customer, payment, timeline
    row.locator("a").click()
    page.wait_for_selector("#case-history")
    assert page.inner_text("#case-status") == "open"
    assert payment_id in page.inner_text("#case-payment")
    assert page.locator("#timeline tbody tr").count() >= 2

    # -- adds a note, then resolves with a code and a note
    page.fill("#note", "Customer asked to keep the extra as credit for next month.")
    page.click("#add-note")
    page.wait_for_selector("#history li[data-action=note]")
    assert "keep the extra as credit" in page.inner_text("#history")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "supervisor-05-case-page")
    page.select_option("#resolution-code", "credit_kept")
    page.fill("#resolution-note", "Kept as credit, customer told.")
    shoot(page, "supervisor-06-case-resolve")
    page.click("#resolve")
    page.wait_for_selector("#case-resolution")
    assert page.inner_text("#case-status") == "resolved"
    assert "credit kept" in page.inner_text("#case-resolution")
    assert [li.get_attribute("data-action") for li in page.locator("#history li").all()] == [
        "opened",
        "note",
        "resolved",
    ]
    assert not find_pans(page.content())

    # -- the queue no longer lists it; the resolved filter does
    page.goto(f"{demo.base}{QUEUE}?kind=overpaid")
    assert page.locator("#cases tbody tr[data-kind=overpaid]").count() == 0
    page.goto(f"{demo.base}{QUEUE}?kind=overpaid&state=resolved")
    assert page.locator("#cases tbody tr[data-kind=overpaid]").count() == 1
