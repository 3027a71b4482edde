"""axe-core in real Chromium on every kind of page of one ``crm-pay demo`` with its sample
history: the customer's (pay page, declined, approved, closed link, receipts portal,
survey, reminders), the agent's, the admin's, the supervisor's and the MFA pages.

Each page must have no serious or critical WCAG 2.0-2.2 A/AA violation, and must start
with a "Skip to main content" link to its ``<main>``. The keyboard itself (the skip link
taking the focus, whole tasks done without a mouse, live ticks read out) is in
test_browser_keyboard.py.

axe-core is injected by the tests (``bypass_csp=True`` contexts): the product's pages
keep their strict Content-Security-Policy and never serve it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from browserkit import (
    AGENT_VIEWPORT,
    PHONE_VIEWPORT,
    DemoServer,
    assert_accessible,
    hosted_field,
    sign_in,
    take_link_payment,
)

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

ADMIN = next((email, pw) for email, role, pw in DEMO_USERS if role == "admin")
SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")
# Braintree's published test cards (braintree_python test/credit_card_numbers.py).
VISA = "4111 1111 1111 1111"
PROCESSOR_DECLINED = "4000 1111 1111 1115"
# An email's HTML part, shown in a sandboxed frame (no script runs there, so axe-core
# cannot either): what is audited is the page around it; the email is not a web page.
EMAIL_PREVIEW = ("iframe.html-body[sandbox]",)
ADMIN_PAGES = (
    "connectors/new",
    "api-keys",
    "users",
    "sync",
    "scripts",
    "notifications/",
    "branding/",
    "fraud/",
)


@pytest.fixture(scope="module")
def a11y_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    """One demo for the module: the sample history fills the queues, the mailbox and the
    disputes; MFA for supervisors only, so their MFA pages are audited once and the admin
    signs in with a password."""
    server = DemoServer(
        tmp_path_factory.mktemp("a11y"),
        env={"CRM_PAY_MFA_REQUIRED_ROLES": "supervisor"},
        sample_data=True,
    ).start()
    yield server
    server.stop()


def _context(browser: Any, **options: Any) -> Any:
    context = browser.new_context(bypass_csp=True, device_scale_factor=1, **options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """A desktop browser (agent, supervisor, admin) that lets the test inject axe-core."""
    context = _context(browser, viewport=AGENT_VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """The customer's phone, letting the test inject axe-core."""
    context = _context(browser, viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
    yield context
    context.close()


def _audit(page: Any, *, exclude: tuple[str, ...] = ()) -> None:
    """The page as it is now: its first focusable element skips to ``<main id=main>``,
    and axe-core finds no serious or critical violation."""
    first = page.evaluate(
        """() => { const el = document.querySelector('a[href], button, input, select, textarea');
            const main = document.getElementById('main');
            return {cls: el && el.className, href: el && el.getAttribute('href'),
                    main: main && main.tagName}; }"""
    )
    assert first == {"cls": "skip-link", "href": "#main", "main": "MAIN"}, page.url
    assert_accessible(page, exclude=exclude)


def _visit(page: Any, url: str, ready: str = "main", *, exclude: tuple[str, ...] = ()) -> None:
    page.goto(url)
    page.wait_for_selector(ready)
    _audit(page, exclude=exclude)


def _follow(page: Any, demo: DemoServer, selector: str, *, exclude: tuple[str, ...] = ()) -> None:
    """Open the first link ``selector`` finds on the page and audit where it leads."""
    href = page.locator(selector).first.get_attribute("href")
    assert href, f"no {selector} on {page.url}"
    _visit(page, f"{demo.base}{href}", exclude=exclude)


def _first_invoice(page: Any) -> str:
    """The first open invoice on the agent's customer page (the sample history pays some)."""
    page.wait_for_selector("#take-payment")
    value = page.locator("#take-payment input[name=invoice]").first.get_attribute("value")
    assert value, f"no open invoice on {page.url}"
    return str(value)


def _link_in_mailbox(demo: DemoServer, path: str) -> str:
    """The first ``/pay/<path>/<token>`` link of the demo's mailbox (the sample history's
    messages are sent by the outbox just after start-up, hence the wait)."""
    pattern = re.compile(rf"https?://\S+/pay/{path}/[A-Za-z0-9_.=-]+")
    email = demo.wait_for_email(lambda m: pattern.search(m.text) is not None, timeout=30)
    found = pattern.search(email.text)
    assert found
    return found.group(0)


def _type_card(page: Any, number: str) -> None:
    for name, value in (
        ("number", number),
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(page, name).press_sequentially(value, delay=10)


def test_customer_pay_pages_pass_axe(a11y_demo: DemoServer, desk: Any, phone: Any) -> None:
    demo = a11y_demo
    agent = desk.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0002")
    payment_id = take_link_payment(agent, demo.base, "CUST-0002", invoices=(_first_invoice(agent),))
    customer = phone.new_page()

    # -- the pay page, card fields loaded; then the declined page; then the retry
    customer.goto(demo.pay_url_for(payment_id))
    hosted_field(customer, "number").wait_for()
    _audit(customer)
    _type_card(customer, PROCESSOR_DECLINED)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("h1:has-text('did not go through')")
    _audit(customer)
    customer.click("a:has-text('Try again')")
    customer.wait_for_selector("p.notice[role=alert]")
    hosted_field(customer, "number").wait_for()
    _audit(customer)

    # -- approved, with the receipt
    _type_card(customer, VISA)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")
    _audit(customer)

    # -- the link once paid, and one that never existed (English and translated)
    _visit(customer, demo.pay_url_for(payment_id))
    _visit(customer, f"{demo.base}/pay/p/this-link-does-not-exist")
    _visit(customer, f"{demo.base}/pay/p/this-link-does-not-exist?lang=es")


def test_customer_email_link_pages_pass_axe(a11y_demo: DemoServer, phone: Any) -> None:
    demo = a11y_demo
    page = phone.new_page()
    _visit(page, _link_in_mailbox(demo, "r"))
    _visit(page, f"{demo.base}/pay/r/not-a-portal-link")
    survey = _link_in_mailbox(demo, "survey")
    _visit(page, survey, "#survey-form")
    page.check("input[name=score][value='5']")
    page.click("#send-answer")
    page.wait_for_selector("#survey-form", state="detached")
    _audit(page)  # the thanks
    _visit(page, survey)  # answered already
    _visit(page, f"{demo.base}/pay/survey/not-a-survey-link")
    _visit(page, _link_in_mailbox(demo, "reminders/pay"))
    _visit(page, _link_in_mailbox(demo, "reminders/opt-out"))


def test_agent_pages_pass_axe(a11y_demo: DemoServer, desk: Any) -> None:
    demo = a11y_demo
    page = desk.new_page()
    _visit(page, f"{demo.base}/pay/agent/login", "#login-form")
    sign_in(page, demo.base, "/pay/agent/")
    _audit(page)
    _visit(page, f"{demo.base}/pay/agent/lookup?q=nobody-is-called-this")
    _visit(page, f"{demo.base}/pay/agent/customers/CUST-0003", "#take-payment")
    take_link_payment(page, demo.base, "CUST-0003", invoices=(_first_invoice(page),))
    _audit(page)  # the payment page with its live panel
    page.click("form[action$='/cancel'] button[type=submit]")
    page.wait_for_selector("#cancel-confirm-form")
    _audit(page)
    _visit(page, f"{demo.base}/pay/agent/customers/CUST-0003/manual-payment")
    _visit(page, f"{demo.base}/pay/agent/customers/CUST-0003/adjustment")
    _visit(page, f"{demo.base}/pay/agent/payments")
    _visit(page, f"{demo.base}/pay/agent/security/")
    _visit(page, f"{demo.base}/pay/demo/mailbox")
    _follow(page, demo, "a[href*='/demo/mailbox/']", exclude=EMAIL_PREVIEW)


def test_admin_pages_pass_axe(a11y_demo: DemoServer, desk: Any) -> None:
    demo = a11y_demo
    page = desk.new_page()
    sign_in(page, demo.base, "/pay/admin/", ADMIN)
    _audit(page)
    for path in ADMIN_PAGES:
        _visit(page, f"{demo.base}/pay/admin/{path}")
    page.goto(f"{demo.base}/pay/admin/users")
    _follow(page, demo, "a[data-sessions]")
    page.goto(f"{demo.base}/pay/admin/notifications/")
    _follow(page, demo, "a[href*='/notifications/rules/']")
    page.goto(f"{demo.base}/pay/admin/notifications/")
    _follow(page, demo, "a[href*='/notifications/templates/']", exclude=EMAIL_PREVIEW)
    _visit(page, f"{demo.base}/pay/admin/notifications/rules/new")


def test_supervisor_and_mfa_pages_pass_axe(a11y_demo: DemoServer, desk: Any) -> None:
    demo = a11y_demo
    page = desk.new_page()
    page.goto(f"{demo.base}/pay/agent/login")
    page.fill("#email", SUPERVISOR[0])
    page.fill("#password", SUPERVISOR[1])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#mfa-enrol-form")
    _audit(page)
    secret = page.inner_text("#totp-secret").strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#mfa-enrol-form button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    _audit(page)
    page.click("#mfa-finish-form button[type=submit]")
    page.wait_for_url("**/pay/agent/")
    _visit(page, f"{demo.base}/pay/agent/security/", "#mfa-status")
    _visit(page, f"{demo.base}/pay/agent/security/verify?next=/pay/agent/")

    _visit(page, f"{demo.base}/pay/supervisor/")
    _follow(page, demo, "a[href*='/supervisor/cases/']")
    _visit(page, f"{demo.base}/pay/supervisor/reconciliation")
    _visit(page, f"{demo.base}/pay/supervisor/approvals")
    _visit(page, f"{demo.base}/pay/supervisor/disputes/")
    _follow(page, demo, "a[href*='/supervisor/disputes/']")
    _visit(page, f"{demo.base}/pay/dashboard/", "canvas, main")

    # -- a later sign-in asks for the code (cookies cleared: a new session)
    desk.clear_cookies()
    page.goto(f"{demo.base}/pay/agent/login")
    page.fill("#email", SUPERVISOR[0])
    page.fill("#password", SUPERVISOR[1])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#mfa-code-form")
    _audit(page)
