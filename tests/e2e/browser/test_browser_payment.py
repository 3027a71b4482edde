"""The agent-assisted payment in real Chromium: the agent sends a pay link, the customer
pays on a phone in the sandbox's hosted fields, the agent's screen ticks live.

Flow 1 (approved) also carries the PCI "must hold": no page, JSON, Socket.IO message,
email or log line of ours contains the card number or the CVV.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    Capture,
    DemoServer,
    email_texts,
    hosted_field,
    pan_findings,
    sign_in,
    step,
    take_link_payment,
)

pytestmark = pytest.mark.browser

APPROVED = ("authorized", "submitted_for_settlement", "settled")

# Record every state each live-panel step goes through (MutationObserver callbacks run
# after each Socket.IO message's task, so a short-lived "active" is seen too), and mark
# the window: if the page reloaded, the marker would be gone.
WATCH_PANEL = """() => {
  window.__noReload = "still-the-same-page";
  window.__ticks = [];
  const panel = document.getElementById("live-panel");
  const note = (li) => window.__ticks.push([li.dataset.step, li.dataset.state]);
  panel.querySelectorAll("li[data-step]").forEach(note);
  new MutationObserver((records) => records.forEach((r) => note(r.target)))
    .observe(panel, {subtree: true, attributes: true, attributeFilter: ["data-state"]});
}"""


def _states_by_step(ticks: list[list[str]]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, state in ticks:
        states = seen.setdefault(name, [])
        if not states or states[-1] != state:
            states.append(state)
    return seen


def _type_card(page: Any, number: str, agent: Any | None = None) -> None:
    """Type the card as a person would, one field after another; with ``agent``, wait
    for each field's tick on the agent's screen before the next field."""
    entries = (
        ("number", number),
        ("expirationDate", "1230"),  # the field writes "12/" itself after two digits
        ("cvv", "123"),
        ("postalCode", "94107"),
    )
    for name, value in entries:
        hosted_field(page, name).press_sequentially(value, delay=15)
        if agent is not None:
            step(agent, name)
    page.wait_for_selector("#pay-button:not([disabled])")


def test_agent_takes_a_link_payment_live_and_no_card_data_leaks(
    demo: DemoServer, agent_context: Any, customer_context: Any, shoot: Callable[[Any, str], Path]
) -> None:
    capture = Capture(demo.base)
    capture.attach(agent_context)
    capture.attach(customer_context)
    dialogs: list[str] = []
    agent = agent_context.new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # -- the agent signs in through the screen-pop URL and lands on the customer
    agent.goto(f"{demo.base}/pay/agent/customers/CUST-0001")
    agent.wait_for_selector("#login-form")
    shoot(agent, "agent-01-sign-in")
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")
    assert agent.inner_text("#customer-name") == "Eleanor Whitfield"
    assert agent.locator("#invoices tr[data-invoice='INV-1004']").count() == 1
    agent.check("#take-payment input[name=invoice][value='INV-1004']")
    shoot(agent, "agent-02-customer")

    # -- sends the pay link by email; the payment page follows it live
    payment_id = take_link_payment(agent, demo.base, "CUST-0001", invoices=("INV-1004",))
    amount = re.search(r"USD ([\d,]+\.\d\d)", agent.inner_text("h1"))
    assert amount, agent.inner_text("h1")
    amount_text = amount.group(1)
    navigations: list[str] = []
    agent.on(
        "framenavigated", lambda f: navigations.append(f.url) if f == agent.main_frame else None
    )
    agent.evaluate(WATCH_PANEL)
    step(agent, "sent")
    assert agent.get_attribute("#payment-status", "data-status") == "awaiting_customer"
    assert int(agent.get_attribute("#link-expiry", "data-expires-in") or 0) > 60
    # the notice says what the Messages table said when the page was made: "queued"
    # until the dispatcher delivered it, and the live panel then turns the row to "sent"
    assert "Email with the pay link queued to send" in agent.inner_text("main")
    agent.wait_for_selector("#messages tr[data-kind='pay_link'][data-status='sent']")
    shoot(agent, "agent-03-link-sent")

    # -- the customer reads the email on a phone and opens the link
    pay_url = demo.pay_url_for(payment_id)
    customer = customer_context.new_page()
    customer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    link_email = demo.wait_for_email(
        lambda m: m.entry.message_id.startswith(f"paylink.email.{payment_id}@")
    )
    customer.goto(f"{demo.base}/pay/demo/mailbox/{link_email.entry.message_id}")
    customer.wait_for_selector("iframe.html-body")
    shoot(customer, "customer-01-pay-link-email")

    customer.goto(pay_url)
    assert customer.inner_text(".merchant") == "Demo Merchant Inc."
    assert customer.inner_text("h1") == f"USD {amount_text}"
    assert "Eleanor Whitfield" in customer.inner_text("main")
    assert "Invoice INV-1004" in customer.inner_text("ul.invoices")
    hosted_field(customer, "number").wait_for()
    step(agent, "opened")  # live, on the agent's screen
    shoot(customer, "customer-02-pay-page")

    # -- types the card into the sandbox's hosted fields; each field ticks for the agent
    _type_card(customer, "4111 1111 1111 1111", agent=agent)
    assert agent.get_attribute("#payment-status", "data-status") == "awaiting_customer"
    shoot(customer, "customer-03-card-entered")
    shoot(agent, "agent-04-fields-ticked")

    # -- pays: the customer sees the receipt number, the agent the approval, live
    customer.click("#pay-button")
    customer.wait_for_selector("#receipt-number")
    receipt = customer.inner_text("#receipt-number")
    assert re.fullmatch(r"R-\d{4}-\d{6}", receipt), receipt
    assert "Thank you" in customer.inner_text("h1")
    assert f"USD {amount_text} paid with Visa ending 1111" in customer.inner_text("main")
    shoot(customer, "customer-04-approved")

    agent.wait_for_selector("#live-panel #receipt-number")
    assert agent.inner_text("#receipt-number") == receipt
    assert agent.get_attribute("#payment-status", "data-status") in APPROVED
    assert agent.inner_text("#payment-status") == "Approved"
    step(agent, "processing")
    step(agent, "result")
    # the receipt actions appear with the approval, live
    assert agent.is_visible("#resend-receipt-form")
    assert agent.get_attribute("#receipt-pdf", "href").endswith(f"/receipts/{receipt}.pdf")
    assert not agent.is_visible("#resend-form")
    # all of it without a reload: same window object, no main-frame navigation
    assert agent.evaluate("window.__noReload") == "still-the-same-page"
    assert navigations == []
    states = _states_by_step(agent.evaluate("window.__ticks"))
    assert states["sent"] == ["done"]
    for name in ("opened", "number", "expirationDate", "cvv", "postalCode"):
        assert states[name] == ["pending", "done"], (name, states[name])
    assert states["processing"] == ["pending", "active", "done"], states["processing"]
    assert states["result"] == ["pending", "done"], states["result"]
    assert capture.ws_frames > 0, "the agent page received no Socket.IO frame"
    shoot(agent, "agent-05-approved")

    # -- the receipt email lands in the mailbox with the number, the amount and a PDF
    receipt_email = demo.wait_for_email(lambda m: receipt in m.entry.subject or receipt in m.text)
    assert receipt_email.entry.to == "eleanor.whitfield@example.com"
    assert receipt in receipt_email.text and amount_text in receipt_email.text
    pdfs = [a for a in receipt_email.attachments if a.mime_type == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].content.startswith(b"%PDF")
    assert receipt in pdfs[0].filename
    customer.goto(f"{demo.base}/pay/demo/mailbox/{receipt_email.entry.message_id}")
    customer.wait_for_selector("iframe.html-body")
    shoot(customer, "customer-05-receipt-email")
    portal = re.findall(r"https?://\S+/pay/r/\S+", receipt_email.text)
    assert len(portal) == 1, receipt_email.text
    customer.goto(portal[0])
    customer.wait_for_selector(f"text={receipt}")
    # the receipts list fits the 390 px phone: nothing to scroll sideways
    wider = customer.evaluate(
        """() => { const card = document.querySelector('main.card').getBoundingClientRect();
            const edge = Math.min(card.right, window.innerWidth) + 0.5;
            return [...document.querySelectorAll('main *')]
              .filter(e => e.getBoundingClientRect().right > edge)
              .map(e => e.tagName + (e.className ? '.' + e.className : '')); }"""
    )
    assert wider == [], wider
    shoot(customer, "customer-06-receipts-portal")

    # -- the agent resends the receipt (the button appeared live, no reload), then sees
    # the invoice paid and the new balance
    agent.click("#resend-receipt-form button[type=submit]")
    agent.wait_for_selector(f"p.flash:has-text('Receipt {receipt} queued')")
    agent.click("a[href$='/customers/CUST-0001']")
    agent.wait_for_selector("#invoices tr[data-invoice='INV-1004'][data-status='paid']")
    assert receipt in agent.inner_text("#receipts")
    shoot(agent, "agent-06-customer-after-payment")

    assert dialogs == []

    # -- the must-hold: no card number or CVV in anything of ours
    assert capture.responses > 10
    read = {where for where, _ in capture.texts}
    # the documents that matter were read in full, not lost to a navigation
    for url in (pay_url, f"{demo.base}/pay/agent/payments/{payment_id}", f"{pay_url}/pay"):
        assert f"response {url}" in read, (url, capture.body_errors)
    assert f"request body {pay_url}/events" in read  # the field flags the page sent
    texts = [*capture.texts, *email_texts(demo), ("server log", demo.log_since_ready())]
    assert any("socket.io" in where for where, _ in texts)
    assert any(where.startswith("email ") for where, _ in texts)
    assert "POST /pay/p/" in demo.log_since_ready()  # it really is the server's log
    findings = pan_findings(texts, cvv="123")
    assert findings == [], findings


def test_declined_card_then_retry_with_another_card(
    demo: DemoServer, agent_context: Any, customer_context: Any, shoot: Callable[[Any, str], Path]
) -> None:
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0002")
    # a partial payment: 50.00 of the invoice
    payment_id = take_link_payment(
        agent, demo.base, "CUST-0002", invoices=("INV-1002",), amount="50.00"
    )
    assert agent.inner_text("h1").startswith("USD 50.00")
    agent.evaluate(WATCH_PANEL)

    customer = customer_context.new_page()
    customer.goto(demo.pay_url_for(payment_id))
    assert customer.inner_text("h1") == "USD 50.00"
    hosted_field(customer, "number").wait_for()
    step(agent, "opened")

    # Braintree's test card for "processor declined"
    _type_card(customer, "4000 1111 1111 1115")
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('did not go through')")
    notice = customer.inner_text("p.notice")
    assert notice.strip()
    retry = customer.locator("a:has-text('Try again')")
    assert retry.count() == 1
    assert "4 attempt(s) left" in customer.inner_text("main")
    shoot(customer, "customer-07-declined")

    agent.wait_for_selector("#payment-status[data-status='declined']")
    step(agent, "result", "failed")
    message = agent.inner_text("#decline-message")
    next_step = agent.inner_text("#decline-next-step")
    assert message.strip() and next_step.strip()
    assert message.strip() in notice  # the agent and the customer read the same reason
    assert agent.inner_text("#attempts-left span") == "4"
    assert agent.evaluate("window.__noReload") == "still-the-same-page"
    shoot(agent, "agent-07-declined")

    # -- the customer tries again with another card; the agent sees it approved, live
    retry.click()
    customer.wait_for_selector("p.notice[role=alert]")  # the last decline, explained
    hosted_field(customer, "number").wait_for()
    _type_card(customer, "4111 1111 1111 1111", agent=agent)
    customer.click("#pay-button")
    customer.wait_for_selector("#receipt-number")
    receipt = customer.inner_text("#receipt-number")
    agent.wait_for_selector("#live-panel #receipt-number")
    assert agent.inner_text("#receipt-number") == receipt
    assert agent.get_attribute("#payment-status", "data-status") in APPROVED
    assert agent.evaluate("window.__noReload") == "still-the-same-page"
