"""Money operations in real Chromium against ``crm-pay demo``:

- a supervisor refunds (voids, the sale being unsettled) a paid link with a reason; the
  payment page shows it with the reason and the refund receipt;
- an agent records a cheque as a manual payment; nothing is booked; a supervisor approves
  it on the approvals page; the agent's "my payments today" then shows it with its
  numbered receipt, and the customer's balance is lower by it.

Nothing the browsers received carries a card number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    NO_MFA,
    Capture,
    DemoServer,
    hosted_field,
    pan_findings,
    sign_in,
    take_link_payment,
)

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")


@pytest.fixture(scope="module")
def money_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("money"), env=NO_MFA).start()
    yield server
    server.stop()


def _customer_pays(customer: Any, pay_url: str) -> None:
    customer.goto(pay_url)
    for name, value in (
        ("number", "4111 1111 1111 1111"),  # Braintree's published Visa test number
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")


def _balance(page: Any, base: str, crm_ref: str) -> str:
    page.goto(f"{base}/pay/agent/customers/{crm_ref}")
    return str(page.inner_text("#balance"))


def test_a_supervisor_refunds_with_a_reason(
    money_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = money_demo
    capture = Capture(demo.base)
    capture.attach(agent_context)
    page = agent_context.new_page()
    sign_in(page, demo.base, "/pay/agent/customers/CUST-0002", SUPERVISOR)
    payment_id = take_link_payment(page, demo.base, "CUST-0002", invoices=(), amount="42.00")
    _customer_pays(customer_context.new_page(), demo.pay_url_for(payment_id))
    page.wait_for_selector("#live-panel #receipt-number")

    page.goto(f"{demo.base}/pay/agent/payments/{payment_id}")
    page.fill("#refund-reason", "Customer ordered the wrong size")
    page.click("#refund-form button[value=full]")
    page.wait_for_url(f"**/pay/agent/payments/{payment_id}")

    assert "Payment voided" in page.inner_text("p.flash")
    row = page.locator("#money-back tbody tr[data-kind=void_succeeded]")
    assert "Customer ordered the wrong size" in row.inner_text()
    receipt = row.locator("a.refund-receipt").inner_text()
    assert re.fullmatch(r"R-\d{4}-\d{6}", receipt), receipt
    page.locator("#money-back").scroll_into_view_if_needed()
    shoot(page, "money-01-supervisor-refund-with-reason")

    customer_page = page.goto(f"{demo.base}/pay/agent/customers/CUST-0002")
    assert customer_page is not None and customer_page.status == 200
    assert receipt in page.inner_text("#money-back")
    assert pan_findings(capture.texts, cvv="123") == []


def test_an_agent_records_a_manual_payment_and_a_supervisor_approves_it(
    money_demo: DemoServer,
    agent_context: Any,
    browser: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = money_demo
    capture = Capture(demo.base)
    capture.attach(agent_context)
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")
    before = _balance(agent, demo.base, "CUST-0001")

    agent.click("#manual-payment-link")
    agent.wait_for_url("**/manual-payment")
    agent.fill("#manual-amount", "35.00")
    agent.select_option("#manual-method", "cheque")
    agent.fill("#manual-reference", "CHQ 004512")
    agent.fill("#manual-note", "Cheque received by post today")
    shoot(agent, "money-02-agent-manual-payment")
    agent.click("#record-manual")
    agent.wait_for_url("**/pay/agent/payments")

    assert "a supervisor must approve it" in agent.inner_text("p.flash")
    assert "Cheque received by post today" in agent.inner_text("#waiting-approval")
    assert _balance(agent, demo.base, "CUST-0001") == before  # nothing booked yet

    boss_context = browser.new_context(viewport={"width": 1280, "height": 720})
    boss_context.set_default_timeout(15_000)
    capture.attach(boss_context)
    try:
        boss = boss_context.new_page()
        sign_in(boss, demo.base, "/pay/supervisor/approvals", SUPERVISOR)
        row = boss.locator("#approval-list tbody tr[data-kind=manual_payment]")
        assert "agent@example.com" in row.inner_text() and "USD 35.00" in row.inner_text()
        row.locator(".approve-form input[name=note]").fill("Cheque seen, banked")
        shoot(boss, "money-03-supervisor-approvals")
        row.locator(".approve-form button").click()
        boss.wait_for_url("**/pay/supervisor/approvals")
        notice = boss.inner_text("p.flash")
        assert "approved and booked" in notice, notice
        number = re.search(r"Receipt (R-\d{4}-\d{6})", notice)
        assert number, notice
        assert boss.locator("#no-approvals").count() == 1
    finally:
        boss_context.close()

    agent.goto(f"{demo.base}/pay/agent/payments")
    mine = agent.locator("#my-payment-list tbody tr[data-channel=manual]")
    assert number.group(1) in mine.inner_text()
    shoot(agent, "money-04-agent-my-payments")
    after = _balance(agent, demo.base, "CUST-0001")
    assert after != before
    assert pan_findings(capture.texts, cvv="123") == []
