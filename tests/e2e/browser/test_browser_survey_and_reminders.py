"""Customer messages in real Chromium against ``crm-pay demo`` with surveys on:

- a customer pays a pay link, opens the survey link of the receipt email on a phone,
  answers it (one click and a comment), and a second answer is refused kindly;
- an admin edits a reminder rule (a wrong timezone is refused with words that say how to
  fix it, then saved) and previews the reminder email with sample data.

Screenshots for docs/guides/reminders-and-notifications.md; no page carries a card number.
"""

from __future__ import annotations

import re
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
from vault import pan

pytestmark = pytest.mark.browser

ADMIN = next((email, pw) for email, role, pw in DEMO_USERS if role == "admin")
ADMIN_VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 900}


@pytest.fixture(scope="module")
def csat_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("csat"), env={**NO_MFA, "CRM_PAY_CSAT": "true"}
    ).start()
    yield server
    server.stop()


def _customer_pays(customer: Any, pay_url: str) -> str:
    customer.goto(pay_url)
    for name, value in (
        ("number", "4111 1111 1111 1111"),
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")
    return str(customer.inner_text("#receipt-number"))


def test_a_customer_answers_the_survey_of_their_receipt_email(
    csat_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = csat_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")
    payment_id = take_link_payment(agent, demo.base, "CUST-0001", invoices=("INV-1004",))
    customer = customer_context.new_page()
    number = _customer_pays(customer, demo.pay_url_for(payment_id))

    receipt = demo.wait_for_email(lambda m: m.entry.message_id.startswith(f"receipt.{number}@"))
    [survey] = re.findall(r"https?://\S+/survey/\S+", receipt.text)
    assert f'href="{survey}"' in receipt.html
    customer.goto(survey)
    customer.wait_for_selector("#survey-form")
    customer.check("input[name=score][value='5']")
    customer.fill("#comment", "Quick and easy on my phone")
    shoot(customer, "survey-question")
    customer.click("#send-answer")
    customer.wait_for_selector("#survey-done")
    shoot(customer, "survey-thanks")

    customer.goto(survey)  # the link again: answered already, said kindly
    assert "answered already" in customer.inner_text("#survey-already")
    assert not pan.contains_pan(customer.content())


def test_an_admin_edits_a_reminder_rule_and_previews_the_reminder(
    csat_demo: DemoServer, browser: Any, shoot: Callable[[Any, str], Path]
) -> None:
    demo = csat_demo
    context = browser.new_context(viewport=ADMIN_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    try:
        admin = context.new_page()
        sign_in(admin, demo.base, "/pay/admin/notifications/", ADMIN)
        assert "Surveys are on" in admin.inner_text("#csat-state")
        admin.click("#new-rule")
        admin.fill("#name", "A week overdue")
        admin.fill("#offset_days", "7")
        admin.fill("#repeat_every_days", "7")
        admin.fill("#max_reminders", "3")
        admin.fill("#timezone", "Europe/Lonon")
        admin.click("#save-rule")
        assert "not a timezone" in admin.inner_text("#rule-error")
        assert admin.input_value("#name") == "A week overdue"  # nothing typed is lost
        admin.fill("#timezone", "Europe/London")
        admin.click("#save-rule")
        admin.wait_for_selector("#rules tr[data-rule]")

        admin.click("#rules tr[data-rule] a")
        admin.wait_for_selector("#rule-form")
        admin.fill("#quiet_start", "20:00")
        admin.fill("#quiet_end", "09:00")
        shoot(admin, "admin-reminder-rule")
        admin.click("#save-rule")
        admin.wait_for_selector("#rules tr[data-rule]")
        assert "20:00–09:00 Europe/London" in admin.inner_text("#rules")
        shoot(admin, "admin-customer-messages")

        admin.click("#templates tr[data-kind=reminder] a")
        admin.wait_for_selector("article.preview[data-channel=email]")
        assert "Overdue: invoice INV-1001" in admin.inner_text("article.preview .subject")
        shoot(admin, "admin-reminder-preview")
    finally:
        context.close()
