"""An admin edits a customer-message template in real Chromium against ``crm-pay demo``:
an SMS without the pay link is refused on Save with words that say what is missing
(and what was typed stays), Preview shows the edited words with sample data before
anything is saved, Save makes a version the history shows as a difference, and Reset
to default brings the shipped words back.

Screenshots for docs/guides/reminders-and-notifications.md and docs/admin-guide.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import AGENT_VIEWPORT, NO_MFA, DemoServer, sign_in

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

ADMIN = next((email, pw) for email, role, pw in DEMO_USERS if role == "admin")
VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 1000}
NEW_SMS = "{{ merchant.name }}: hello {{ n.customer_name }}, {{ amount }} to pay. Thank you!"


@pytest.fixture(scope="module")
def templates_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("templates"), env=NO_MFA).start()
    yield server
    server.stop()


def test_an_admin_edits_the_pay_link_sms_with_a_preview_then_resets_it(
    templates_demo: DemoServer, browser: Any, shoot: Callable[[Any, str], Path]
) -> None:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    try:
        admin = context.new_page()
        sign_in(admin, templates_demo.base, "/pay/admin/notifications/", ADMIN)
        admin.click("#templates tr[data-kind=pay_link] a")
        admin.wait_for_selector("#template-form")
        assert "Shipped words" in admin.inner_text("#template-state")
        assert "the pay link" in admin.inner_text("#template-required")

        admin.fill("#part-sms", NEW_SMS)  # no link: refused, and nothing typed is lost
        admin.click("#save-template")
        admin.wait_for_selector("#template-problems")
        assert "SMS: it does not show the pay link." in admin.inner_text("#template-problems")
        assert admin.input_value("#part-sms") == NEW_SMS
        assert "Shipped words" in admin.inner_text("#template-state")
        shoot(admin, "admin-template-edit")

        admin.fill("#part-sms", NEW_SMS.replace("to pay.", "to pay at {{ n.url }} ."))
        admin.click("#preview-template")
        admin.wait_for_selector("article.preview[data-channel=sms]")
        assert "Preview: not saved" in admin.inner_text("#template-preview h2")
        sms = admin.inner_text("article.preview[data-channel=sms] pre.body")
        assert "hello Sample Customer" in sms and "/p/sample-token" in sms
        assert admin.query_selector("#template-problems") is None
        admin.locator("#template-preview").evaluate("section => section.scrollIntoView()")
        shoot(admin, "admin-template-preview")

        admin.click("#save-template")
        admin.wait_for_selector(".flash.ok")
        assert "Saved as version 1" in admin.inner_text(".flash.ok")
        assert "Version 1" in admin.inner_text("#template-state")
        history = admin.inner_text("#template-history")
        assert "Version 1" in history and "+ " + NEW_SMS.split(",")[0] in history
        admin.locator("#template-history").scroll_into_view_if_needed()
        shoot(admin, "admin-template-history")

        admin.click("#reset-template")
        admin.wait_for_selector(".flash.ok")
        assert "Back to the shipped words" in admin.inner_text(".flash.ok")
        assert "Shipped words" in admin.inner_text("#template-state")
        assert "please pay" in admin.input_value("#part-sms")
        admin.goto(f"{templates_demo.base}/pay/admin/notifications/")
        assert admin.get_attribute("#templates tr[data-kind=pay_link]", "data-edited") == "no"
    finally:
        context.close()
