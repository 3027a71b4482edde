"""Links that cannot take a payment, and customer data that tries to run script."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    XSS_CUSTOMER,
    XSS_INVOICE,
    XSS_LINE,
    XSS_NAME,
    DemoServer,
    hosted_field,
    sign_in,
    take_link_payment,
)

pytestmark = pytest.mark.browser

LINK_TTL_SECONDS = 4


@pytest.fixture(scope="module")
def short_links_demo(
    tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[DemoServer]:
    """A demo of its own whose pay links live a few seconds (CRM_PAY_PAY_LINK_TTL)."""
    server = DemoServer(
        tmp_path_factory.mktemp("short-links"),
        env={"CRM_PAY_PAY_LINK_TTL": str(LINK_TTL_SECONDS)},
    ).start()
    yield server
    server.stop()


def test_expired_link_tells_the_customer_what_to_do(
    short_links_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = short_links_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0003")
    payment_id = take_link_payment(agent, demo.base, "CUST-0003", invoices=("INV-1003",))
    pay_url = demo.pay_url_for(payment_id)
    # the agent's countdown runs out (bounded: the link lives LINK_TTL_SECONDS) ...
    limit = (LINK_TTL_SECONDS + 5) * 1000
    agent.wait_for_selector("#link-expiry:has-text('expired')", timeout=limit)
    # ... and the server agrees (its status JSON, polled as the console's fallback does)
    status_url = demo.base + str(agent.get_attribute("#live-panel", "data-status-url"))
    deadline = time.monotonic() + 5
    while agent_context.request.get(status_url).json().get("link_state") != "expired":
        assert time.monotonic() < deadline, "the link did not expire on the server"
        time.sleep(0.2)

    customer = customer_context.new_page()
    response = customer.goto(pay_url)
    assert response is not None and response.status == 410
    assert customer.inner_text("h1") == "This link cannot take a payment"
    notice = customer.locator("p.notice[data-code]")
    assert notice.get_attribute("data-code") == "expired"
    assert "expired" in notice.inner_text() and "send a new one" in notice.inner_text()
    assert customer.locator("iframe").count() == 0  # no card fields on a dead link
    shoot(customer, "customer-08-link-expired")

    # the agent's page, loaded again, says so and offers no resend of the dead link
    agent.reload()
    agent.wait_for_selector("#payment-status[data-status='expired']")
    assert agent.inner_text("#payment-status") == "Link expired"
    assert "send a new link with the same details" in agent.inner_text("#next-steps")
    assert agent.is_visible("#new-link-form")
    assert agent.locator("#resend-form").count() == 0
    shoot(agent, "agent-08-link-expired")


def test_customer_data_with_script_renders_inert(
    demo: DemoServer, agent_context: Any, customer_context: Any
) -> None:
    dialogs: list[str] = []
    agent = agent_context.new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(agent, demo.base, f"/pay/agent/customers/{XSS_CUSTOMER}")
    # shown as text, exactly as stored
    assert agent.inner_text("#customer-name") == XSS_NAME.strip()
    row = agent.locator(f"#invoices tr[data-invoice='{XSS_INVOICE}']")
    row.locator("summary").click()
    assert "<script>alert('xss-line')</script>Garden hose" in row.inner_text()
    assert "<b onmouseover" in row.inner_text()
    agent.hover(f"#invoices tr[data-invoice='{XSS_INVOICE}'] table.lines")
    payment_id = take_link_payment(agent, demo.base, XSS_CUSTOMER, invoices=(XSS_INVOICE,))

    customer = customer_context.new_page()
    customer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    customer.goto(demo.pay_url_for(payment_id))
    hosted_field(customer, "number").wait_for()
    assert XSS_NAME.strip() in customer.inner_text("main")
    assert customer.title().startswith("Pay USD 25.00")

    email = demo.wait_for_email(
        lambda m: m.entry.message_id.startswith(f"paylink.email.{payment_id}@")
    )
    customer.goto(f"{demo.base}/pay/demo/mailbox/{email.entry.message_id}")
    customer.wait_for_selector("iframe.html-body")

    for page in (agent, customer):
        # no element or handler came out of the data: every <script> is one of ours
        # (with src), and nothing carries the injected handlers
        inline = page.evaluate(
            "() => Array.from(document.scripts).filter(s => !s.src).map(s => s.textContent)"
        )
        assert not any("xss" in text for text in inline), inline
        assert page.locator("[onerror], [onmouseover]").count() == 0
    assert dialogs == []
    assert XSS_LINE  # (shown in the console's invoice lines above)
