"""The keyboard alone, in real Chromium, against one ``crm-pay demo`` with its sample
history (receipts in the mailbox):

- the first Tab on every layout reaches "Skip to main content", shown only then, in the
  customer's language; Enter on it moves the focus to the page's main content;
- an agent signs in, finds a customer, ticks an invoice and sends the pay link, keyboard
  only; the live panel's ticks sit in a polite live region whose words change as the
  customer opens the link (what a screen reader reads out);
- a customer changes the pay page's language from its footer, then pays: the card fields
  and the Pay button in reading order; in the receipts portal a receipt's PDF downloads
  with Enter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import AGENT, NO_MFA, DemoServer, sign_in, step, take_link_payment

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

ADMIN = next((email, pw) for email, role, pw in DEMO_USERS if role == "admin")
# What the customer types, field by field (the card field's frame sits in each box):
# Braintree's published Visa test number (braintree_python test/credit_card_numbers.py).
CARD = (
    ("#card-number", "4111111111111111"),
    ("#expiration-date", "1230"),
    ("#cvv", "123"),
    ("#postal-code", "94107"),
)


@pytest.fixture(scope="module")
def keyboard_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    """One demo for the module; its sample history mails the receipts the portal shows."""
    server = DemoServer(tmp_path_factory.mktemp("keyboard"), env=NO_MFA, sample_data=True)
    yield server.start()
    server.stop()


def _focused(page: Any) -> str:
    """The focused element, said the way a failure message needs it."""
    return str(
        page.evaluate(
            """() => { const el = document.activeElement;
                return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                    + (el.className ? '.' + el.className : '')
                    + ' "' + (el.innerText || el.value || '').trim().slice(0, 40) + '"'; }"""
        )
    )


def _is_focused(page: Any, selector: str) -> bool:
    return bool(page.evaluate("(s) => document.activeElement.matches(s)", selector))


def _tab_to(page: Any, selector: str, *, limit: int = 40) -> None:
    """Press Tab until the focus is on ``selector``, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _is_focused(page, selector):
            return
    pytest.fail(f"{selector} never took the focus in {limit} Tabs; it ended on {_focused(page)}")


def _in_view(locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["x"] >= 0


def _skip_to_main(page: Any) -> None:
    """The first Tab shows the skip link; Enter on it moves the focus into ``<main>``."""
    skip = page.locator("a.skip-link")
    assert not _in_view(skip), f"the skip link shows before any Tab on {page.url}"
    page.keyboard.press("Tab")
    assert _is_focused(page, "a.skip-link"), f"the first Tab went to {_focused(page)}"
    assert _in_view(skip), f"the focused skip link is off screen on {page.url}"
    page.keyboard.press("Enter")
    assert _is_focused(page, "main#main"), f"Enter on the skip link left {_focused(page)}"
    page.keyboard.press("Tab")  # and the next Tab goes on from there, past the menus
    assert page.evaluate(
        """() => document.getElementById("main").compareDocumentPosition(document.activeElement)
            & Node.DOCUMENT_POSITION_FOLLOWING"""
    ), f"the Tab after the skip link went back to {_focused(page)}"


def _portal_url(demo: DemoServer) -> str:
    pattern = re.compile(r"https?://\S+/pay/r/[A-Za-z0-9_.=-]+")
    email = demo.wait_for_email(lambda m: pattern.search(m.text) is not None, timeout=30)
    found = pattern.search(email.text)
    assert found
    return found.group(0)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/pay/agent/login", "Skip to main content"),
        ("/pay/p/this-link-does-not-exist", "Skip to main content"),
        ("/pay/p/this-link-does-not-exist?lang=de", "Zum Hauptinhalt springen"),
        ("/pay/r/not-a-portal-link?lang=es", "Ir al contenido principal"),
        ("/pay/survey/not-a-survey-link?lang=fr", "Aller au contenu principal"),
    ],
)
def test_the_first_tab_offers_to_skip_to_the_main_content(
    keyboard_demo: DemoServer, agent_context: Any, path: str, words: str
) -> None:
    page = agent_context.new_page()
    page.goto(f"{keyboard_demo.base}{path}")
    _skip_to_main(page)
    assert page.inner_text("a.skip-link") == words


def test_the_signed_in_layouts_skip_past_their_menus(
    keyboard_demo: DemoServer, agent_context: Any
) -> None:
    """Admin, supervisor and agent pages: the skip link comes before the menus."""
    page = agent_context.new_page()
    sign_in(page, keyboard_demo.base, "/pay/admin/", ADMIN)
    for path in ("/pay/admin/users", "/pay/supervisor/", "/pay/agent/customers/CUST-0003"):
        page.goto(f"{keyboard_demo.base}{path}")
        _skip_to_main(page)


def test_an_agent_sends_a_pay_link_with_the_keyboard_only(
    keyboard_demo: DemoServer, agent_context: Any, customer_context: Any
) -> None:
    demo = keyboard_demo
    page = agent_context.new_page()
    page.goto(f"{demo.base}/pay/agent/")
    page.wait_for_selector("#login-form")
    _tab_to(page, "#email")
    page.keyboard.type(AGENT[0])
    page.keyboard.press("Tab")
    assert _is_focused(page, "#password"), _focused(page)
    page.keyboard.type(AGENT[1])
    page.keyboard.press("Enter")
    page.wait_for_selector("#signed-in-as")

    # -- the search box, a CRM id, Enter: one match opens the customer
    _tab_to(page, "header input[name=q]")
    page.keyboard.type("CUST-0004")
    page.keyboard.press("Enter")
    page.wait_for_url("**/customers/CUST-0004")
    page.wait_for_selector("#take-payment")

    # -- Space ticks the first invoice; the arrows choose email; Enter sends
    _tab_to(page, "#take-payment input[name=invoice]")
    page.keyboard.press("Space")
    assert page.locator("#take-payment input[name=invoice]").first.is_checked()
    _tab_to(page, "#take-payment input[name=channel]")
    for _ in range(5):
        if page.evaluate("document.activeElement.value") == "email":
            break
        page.keyboard.press("ArrowDown")  # one radio group: the arrows move and check
    assert page.is_checked("#take-payment input[name=channel][value=email]")
    _tab_to(page, "#take-payment button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/agent/payments/**")
    page.wait_for_selector("#live-connection[data-state=live]")
    payment_id = page.get_attribute("#live-panel", "data-payment-id")
    assert payment_id

    # -- each tick's state is words inside a polite live region: read out as it changes
    ticks = page.locator("#live-ticks")
    assert ticks.get_attribute("aria-live") == "polite"
    opened = page.locator('#live-ticks li[data-step="opened"] .step-state')
    assert opened.text_content() == ": not yet"
    customer = customer_context.new_page()
    customer.goto(demo.pay_url_for(str(payment_id)))
    step(page, "opened")
    assert opened.text_content() == ": done"
    assert page.locator("#result").get_attribute("aria-live") == "polite"


def test_a_customer_pays_with_the_keyboard_only(
    keyboard_demo: DemoServer, agent_context: Any, customer_context: Any
) -> None:
    """The language picker in the footer, the skip link, the card fields in reading
    order, then the Pay button: a whole payment without a mouse."""
    demo = keyboard_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0006")
    invoice = agent.locator("#take-payment input[name=invoice]").first.get_attribute("value")
    payment_id = take_link_payment(agent, demo.base, "CUST-0006", invoices=(str(invoice),))

    page = customer_context.new_page()
    page.goto(demo.pay_url_for(payment_id))
    page.wait_for_selector("#card-number iframe")
    _tab_to(page, "footer a[data-lang=es]")
    page.keyboard.press("Enter")
    page.wait_for_selector("html[lang=es] #card-number iframe")
    assert page.inner_text("a.skip-link") == "Ir al contenido principal"

    _skip_to_main(page)  # its last Tab goes on into the first card field
    for field, value in CARD:
        assert _is_focused(page, f"{field} iframe"), f"expected {field}, got {_focused(page)}"
        page.keyboard.type(value, delay=10)
        if field != CARD[-1][0]:
            page.keyboard.press("Tab")
    page.wait_for_selector("#pay-button:not([disabled])")
    # the "save this card" box comes first, and stays unticked unless the customer
    # presses Space on it
    page.keyboard.press("Tab")
    assert _is_focused(page, "#save-card"), _focused(page)
    page.keyboard.press("Tab")
    assert _is_focused(page, "#pay-button"), _focused(page)
    assert not page.is_checked("#save-card")
    page.keyboard.press("Enter")
    page.wait_for_selector("#receipt-number")


def test_a_customer_downloads_a_receipt_from_the_portal_by_keyboard(
    keyboard_demo: DemoServer, customer_context: Any
) -> None:
    page = customer_context.new_page()
    page.goto(_portal_url(keyboard_demo))
    _skip_to_main(page)
    _tab_to(page, "a[download]")
    number = page.evaluate("document.activeElement.closest('tr').dataset.receipt")
    assert number and number in page.evaluate("document.activeElement.textContent")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".pdf")
