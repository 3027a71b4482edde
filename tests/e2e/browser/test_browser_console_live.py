"""The agent's live panel in real Chromium when things go wrong: a field that looks
wrong (in words, on both screens), "ask again" for one field, a customer trying again
after a decline, the last attempt, "new link, same details", and a card on file that
would be charged twice after the browser's Back button.

A demo of its own whose links allow two attempts (``CRM_PAY_PAY_LINK_MAX_ATTEMPTS``),
so the last attempt comes quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import NO_MFA, DemoServer, hosted_field, sign_in, step, take_link_payment

pytestmark = pytest.mark.browser

DECLINED_CARD = "4000 1111 1111 1115"  # Braintree's test card for "processor declined"


@pytest.fixture(scope="module")
def two_tries_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("two-tries"),
        env={**NO_MFA, "CRM_PAY_PAY_LINK_MAX_ATTEMPTS": "2"},
    ).start()
    yield server
    server.stop()


def _type_card(page: Any, number: str) -> None:
    for name, value in (
        ("number", number),
        ("expirationDate", "12/30"),  # typed with its "/", as people do
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        field = hosted_field(page, name)
        field.fill("")
        field.press_sequentially(value, delay=15)
    page.wait_for_selector("#pay-button:not([disabled])")


def test_field_words_ask_again_retry_and_the_last_attempt(
    two_tries_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = two_tries_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0003")
    payment_id = take_link_payment(agent, demo.base, "CUST-0003", invoices=("INV-1003",))
    assert "queued to send" in agent.inner_text("main") or "sent." in agent.inner_text("main")
    assert agent.get_attribute("#live-ticks", "aria-live") == "polite"

    customer = customer_context.new_page()
    customer.goto(demo.pay_url_for(payment_id))
    expiry = hosted_field(customer, "expirationDate")
    expiry.wait_for()
    step(agent, "opened")

    # -- "12/30" typed with its slash stays "12/30" (it used to become "12//30", red)
    expiry.press_sequentially("12/30", delay=20)
    assert expiry.input_value() == "12/30"
    step(agent, "expirationDate")
    assert customer.locator("#message-expirationDate").is_hidden()
    # the tick is in words for a screen reader too
    done = agent.inner_text('#live-panel li[data-step="expirationDate"] .step-state')
    assert done == ": done"

    # -- a month that cannot be: words next to the field, for the customer and the agent
    expiry.fill("")
    expiry.press_sequentially("13", delay=20)
    customer.wait_for_selector("#message-expirationDate:not([hidden])")
    assert "expiry date" in customer.inner_text("#message-expirationDate")
    step(agent, "expirationDate", "invalid")
    words = agent.inner_text("#problem-expirationDate")
    assert words.startswith("Expiry date looks wrong — ask the customer to check it")
    shoot(customer, "customer-12-expiry-looks-wrong")
    shoot(agent, "agent-09-expiry-looks-wrong")

    # -- the agent asks again for the expiry: the customer's field is cleared, with words
    agent.click('form.ask-again[data-field="expirationDate"] button')
    agent.wait_for_selector("#problem-expirationDate:has-text('Asked the customer')")
    customer.wait_for_selector("#message-expirationDate:has-text('enter the expiry date again')")
    assert expiry.input_value() == ""
    shoot(customer, "customer-13-asked-again")

    # -- a declined card, then the customer tries again: the agent's ticks start afresh
    _type_card(customer, DECLINED_CARD)
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('did not go through')")
    agent.wait_for_selector("#payment-status[data-status='declined']")
    step(agent, "number")  # every tick stays done for the declined attempt
    customer.click("a:has-text('Try again')")
    agent.wait_for_selector("#live-panel[data-phase='retrying']")
    assert agent.inner_text("#payment-status") == "Customer is trying again"
    for name in ("number", "expirationDate", "cvv", "postalCode", "result"):
        step(agent, name, "pending")
    assert "trying again" in agent.inner_text("#result")
    hosted_field(customer, "number").wait_for()
    hosted_field(customer, "number").press_sequentially("4000 1111", delay=15)
    shoot(agent, "agent-10-customer-trying-again")

    # -- the last attempt declined: no more "use another card", countdown or resend
    _type_card(customer, DECLINED_CARD)
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('did not go through')")
    agent.wait_for_selector("#next-steps:not([hidden])")
    assert "last attempt" in agent.inner_text("#next-steps")
    assert agent.inner_text("#decline-next-step").strip() == ""
    for gone in ("#resend-form", "#cancel-form", "#link-expiry-figure", "form.ask-again"):
        assert agent.locator(gone).first.is_hidden(), gone
    assert agent.inner_text("#attempts-left span") == "0"
    shoot(agent, "agent-11-last-attempt")

    # -- one click: a new link with the same amount and invoice, sent the same way
    amount = agent.inner_text("h1").split("·")[0].strip()
    agent.click("#new-link-form button[type=submit]")
    agent.wait_for_url(lambda url: payment_id not in url and "/payments/" in url)
    assert agent.inner_text("h1").split("·")[0].strip() == amount
    assert "INV-1003" in agent.inner_text("main")
    assert agent.get_attribute("#payment-status", "data-status") == "awaiting_customer"
    assert agent.locator("#messages tr[data-kind='pay_link'][data-channel='email']").count() == 1


def test_back_never_charges_a_card_on_file_twice_unasked(
    two_tries_demo: DemoServer, agent_context: Any, shoot: Callable[[Any, str], Path]
) -> None:
    demo = two_tries_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")

    def fill_card_form() -> None:
        agent.fill("#amount", "15.00")
        agent.check("#take-payment input[name=channel][value=card]")
        agent.check("#cards-on-file input[name=card]")

    fill_card_form()
    agent.check("#take-payment input[name=consent]")
    agent.click("#take-payment button[type=submit]")
    agent.wait_for_selector("#live-panel #receipt-number")

    # -- Back: the form comes back, but never with the customer's consent ticked
    agent.go_back()
    agent.wait_for_selector("#take-payment")
    assert not agent.is_checked("#take-payment input[name=consent]")

    # -- the same charge again: a warning on the server's answer, nothing charged
    fill_card_form()
    agent.check("#take-payment input[name=consent]")
    agent.click("#take-payment button[type=submit]")
    agent.wait_for_selector("#confirm-duplicate")
    assert "a second time" in agent.inner_text("#confirmations")
    assert not agent.is_checked("#take-payment input[name=consent]")
    agent.locator("#confirmations").scroll_into_view_if_needed()
    shoot(agent, "agent-12-duplicate-card-charge")
    agent.goto(f"{demo.base}/pay/agent/customers/CUST-0001")
    rows = agent.locator("#payment-history tr[data-payment-id]")
    assert rows.count() == 1  # one charge, not two
