"""A French phone (browser locale ``fr-FR``) gets the customer's pages in French: the
payment result with the amount written the French way, then the receipts portal with
the merchant's local time as French writes dates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import NO_MFA, PHONE_VIEWPORT, DemoServer, hosted_field, sign_in, take_link_payment

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def languages_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("languages"), env=NO_MFA).start()
    yield server
    server.stop()


@pytest.fixture
def french_phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport=PHONE_VIEWPORT,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",  # Playwright sends Accept-Language: fr-FR
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _spaces(text: str) -> str:
    return re.sub(r"[\u00a0\u202f]", " ", text)


def test_a_french_browser_gets_the_customer_pages_in_french(
    languages_demo: DemoServer,
    agent_context: Any,
    french_phone: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = languages_demo
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0002")
    payment_id = take_link_payment(agent, demo.base, "CUST-0002", invoices=("INV-1002",))

    customer = french_phone.new_page()
    customer.goto(demo.pay_url_for(payment_id))
    assert customer.get_attribute("html", "lang") == "fr"
    for name, value in (
        ("number", "4111 1111 1111 1111"),
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")
    main = _spaces(customer.inner_text("main"))
    assert "Merci, paiement accepté" in main
    # "1 234,50 $US payés avec la carte Visa se terminant par 1111."
    assert re.search(r"\d+,\d\d \$US payés avec la carte Visa se terminant par 1111\.", main), main
    assert "Une copie vous est envoyée par e-mail." in main
    assert customer.get_attribute("html", "lang") == "fr"
    shoot(customer, "customer-20-french-payment-result")

    number = customer.inner_text("#receipt-number")
    receipt = demo.wait_for_email(lambda m: m.entry.message_id.startswith(f"receipt.{number}@"))
    [portal] = re.findall(r"https?://\S+/pay/r/\S+", receipt.text)
    customer.goto(portal)
    customer.wait_for_selector(f"tr[data-receipt='{number}']")
    assert customer.inner_text("h1") == "Vos reçus"
    row = _spaces(customer.inner_text(f"tr[data-receipt='{number}']"))
    assert re.search(r"\d+,\d\d \$US", row), row
    # a French date in the merchant's zone, e.g. "2 mars 2026 14:05 EST", never ISO
    assert not re.search(r"\d{4}-\d\d-\d\d", row), row
    assert "cet e-mail" in row
    shoot(customer, "customer-21-french-receipts")
    # the footer's picker switches the page to English, and the choice sticks
    customer.click("footer nav.languages a[data-lang='en']")
    customer.wait_for_selector("html[lang='en']")
    assert customer.inner_text("h1") == "Your receipts"
    customer.goto(portal)
    assert customer.get_attribute("html", "lang") == "en"
