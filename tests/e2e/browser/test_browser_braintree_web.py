"""The pay page running Braintree's own browser SDK (braintree-web 3.144.0, the copy
``make install`` takes from the npm lock file) against the development sandbox.

The demo here serves braintree-web itself (``CRM_PAY_BRAINTREE_JS_SOURCE=bundled``, the
default with Braintree's sandbox and production), and the browser's requests to
Braintree's and PayPal's hosts are answered by the sandbox
(``connectors/psp/braintree_sandbox/browser_routes.py``):
the SDK's client, hosted fields, data collector and their origin checks run unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from browserkit import DemoServer, hosted_field, sign_in, take_link_payment

from connectors.psp.braintree_sandbox.browser_routes import BraintreeHosts

pytestmark = pytest.mark.browser

VISA = "4111111111111111"  # Braintree's published Visa test number


def _demo(factory: pytest.TempPathFactory, **env: str) -> Iterator[DemoServer]:
    """A demo serving braintree-web itself, with ``env`` on top."""
    server = DemoServer(
        factory.mktemp("braintree-web-demo"), env={"CRM_PAY_BRAINTREE_JS_SOURCE": "bundled", **env}
    ).start()
    yield server
    server.stop()


def _routed(context: Any, demo: DemoServer) -> BraintreeHosts:
    """Braintree's and PayPal's hosts of ``context``'s pages answered by ``demo``'s sandbox."""
    hosts = BraintreeHosts(demo.sandbox_assets)
    hosts.attach(context)
    return hosts


@pytest.fixture(scope="module")
def bundled_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from _demo(tmp_path_factory)


@pytest.fixture
def routed(customer_context: Any, bundled_demo: DemoServer) -> BraintreeHosts:
    return _routed(customer_context, bundled_demo)


def _luhn_completed(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return partial + str((10 - total % 10) % 10)


def _open_pay_page(
    demo: DemoServer, agent_context: Any, customer: Any, crm_ref: str, invoice: str
) -> str:
    agent = agent_context.new_page()
    sign_in(agent, demo.base, f"/pay/agent/customers/{crm_ref}")
    payment_id = take_link_payment(agent, demo.base, crm_ref, invoices=(invoice,), amount="25.00")
    customer.goto(demo.pay_url_for(payment_id))
    hosted_field(customer, "number").wait_for()
    return payment_id


def _type(page: Any, number: str, expiry: str = "1230") -> None:
    for name, value in (
        ("number", number),
        ("expirationDate", expiry),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(page, name).press_sequentially(value, delay=10)


def test_the_real_client_pays_with_device_data_and_talks_only_to_braintree(
    bundled_demo: DemoServer, agent_context: Any, customer_context: Any, routed: BraintreeHosts
) -> None:
    customer = customer_context.new_page()
    sent: list[str] = []
    customer.on(
        "request",
        lambda r: (
            sent.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith("/pay")
            else None
        ),
    )
    _open_pay_page(bundled_demo, agent_context, customer, "CUST-0001", "INV-1001")

    # braintree-web itself, served by crm-pay from its vendor folder: not the stand-in
    sdk = customer.evaluate(
        "() => ({client: braintree.client.VERSION, fields: braintree.hostedFields.VERSION,"
        " collector: braintree.dataCollector.VERSION, standIn: !!braintree.developmentSandbox,"
        " scripts: [...document.scripts].map(s => s.getAttribute('src'))})"
    )
    assert sdk["client"] == sdk["fields"] == sdk["collector"] == "3.144.0"
    assert sdk["standIn"] is False
    fields_js = "/pay/static/crm_pay_ui/vendor/braintree-web/hosted-fields.js?v="  # versioned
    assert any(src.startswith(fields_js) for src in sdk["scripts"])
    # the card fields are frames on Braintree's assets origin
    frame_urls = [f.url for f in customer.frames if f.name.startswith("braintree-hosted-field-")]
    assert len(frame_urls) == 4
    assert all(u.startswith("https://assets.braintreegateway.com/web/3.144.0/") for u in frame_urls)

    _type(customer, VISA)
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('payment approved')")

    (body,) = sent
    form = parse_qs(body)
    assert form["payment_method_nonce"][0]
    # the data collector's device data went with the sale (its correlation id)
    assert "correlation_id" in form["device_data"][0]
    assert VISA not in body and "123" not in form.get("cvv", [""])[0]
    # the SDK asked the client API for its configuration and tokenized there; its
    # analytics and fraud script went to PayPal's hosts; nothing else left the page
    hosts = {(method, host, path.rsplit("/", 1)[-1]) for method, host, path in routed.seen}
    assert ("GET", "api.sandbox.braintreegateway.com", "configuration") in hosts
    assert ("POST", "api.sandbox.braintreegateway.com", "credit_cards") in hosts
    assert ("GET", "c.paypal.com", "fb.js") in hosts
    assert routed.refused == []


def test_card_data_the_sandbox_refuses_is_explained_by_the_real_client(
    bundled_demo: DemoServer, agent_context: Any, customer_context: Any, routed: BraintreeHosts
) -> None:
    customer = customer_context.new_page()
    _open_pay_page(bundled_demo, agent_context, customer, "CUST-0003", "INV-1003")

    # a well-formed Visa number that is not one of Braintree's test cards: the client
    # API refuses it (422), braintree-web reports the tokenization failure, the page
    # gives the customer Braintree's words and charges nothing
    _type(customer, _luhn_completed("411111111111112"))
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    customer.wait_for_selector("#form-error:not([hidden])")
    assert "Only Braintree test card numbers" in customer.inner_text("#form-error")
    assert customer.url.endswith(customer.url.split("/p/")[1])  # still the pay page
    assert customer.is_enabled("#pay-button")

    # an impossible expiry month is marked with words next to the field
    hosted_field(customer, "expirationDate").fill("")
    hosted_field(customer, "expirationDate").press_sequentially("13")
    message = customer.locator("#message-expirationDate")
    message.wait_for(state="visible")
    assert "expiry date" in message.inner_text()
    assert customer.is_disabled("#pay-button")


# --------------------------------------------------------------------- 3-D Secure
# Braintree's 3DS 2 test cards ("3D Secure > Testing and Go Live"): frictionless success,
# challenge then success, challenge then failure.
FRICTIONLESS = "4000000000001000"
CHALLENGE_SUCCEEDS = "4000000000001091"
CHALLENGE_FAILS = "4000000000001109"


@pytest.fixture(scope="module")
def sca_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """braintree-web with 3-D Secure required for every card payment by link."""
    yield from _demo(tmp_path_factory, CRM_PAY_THREE_D_SECURE="required")


@pytest.fixture
def sca_routed(customer_context: Any, sca_demo: DemoServer) -> BraintreeHosts:
    return _routed(customer_context, sca_demo)


def _bank_check(page: Any) -> Any:
    return page.frame_locator("iframe[title^='Bank check']")


def _agent_sees(demo: DemoServer, agent_context: Any, payment_id: str) -> str:
    agent = agent_context.new_page()
    agent.goto(f"{demo.base}/pay/agent/payments/{payment_id}")
    return str(agent.inner_text("main"))


def test_frictionless_3ds_shifts_liability_and_is_on_the_receipt(
    sca_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    sca_routed: BraintreeHosts,
    shoot: Callable[[Any, str], Path],
) -> None:
    customer = customer_context.new_page()
    payment_id = _open_pay_page(sca_demo, agent_context, customer, "CUST-0001", "INV-1001")
    _type(customer, FRICTIONLESS)
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('payment approved')")
    # the bank answered the lookup without a challenge; Cardinal's script was the
    # sandbox's, from the (routed) assets host
    paths = [path for _, _, path in sca_routed.seen]
    assert any(p.endswith("/three_d_secure/lookup") for p in paths)
    assert "/three-d-secure/challenge" not in paths
    agent = agent_context.new_page()
    agent.goto(f"{sca_demo.base}/pay/agent/payments/{payment_id}")
    assert (
        agent.inner_text("#bank-check") == "Bank check: Confirmed by the card's bank (3-D Secure)"
    )
    agent.locator("#bank-check").scroll_into_view_if_needed()
    shoot(agent, "agent-13-bank-check")
    number = agent.inner_text("#receipt-number")
    receipt = sca_demo.wait_for_email(lambda m: m.entry.message_id.startswith(f"receipt.{number}@"))
    assert "Bank check" in receipt.text and "Confirmed by the card's bank" in receipt.text


def test_a_challenge_is_shown_and_passing_it_pays(
    sca_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    sca_routed: BraintreeHosts,
    shoot: Callable[[Any, str], Path],
) -> None:
    customer = customer_context.new_page()
    _open_pay_page(sca_demo, agent_context, customer, "CUST-0002", "INV-1002")
    _type(customer, CHALLENGE_SUCCEEDS)
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    bank = _bank_check(customer)
    bank.locator("h1").wait_for()
    assert "development sandbox, not your bank" in bank.locator("h1").inner_text()
    bank.locator("#code").fill("1234")
    shoot(customer, "customer-14-bank-check")
    bank.locator("button[value=submit]").click()
    customer.wait_for_selector("h1:has-text('payment approved')")


def test_a_failed_challenge_declines_with_true_advice(
    sca_demo: DemoServer, agent_context: Any, customer_context: Any, sca_routed: BraintreeHosts
) -> None:
    customer = customer_context.new_page()
    payment_id = _open_pay_page(sca_demo, agent_context, customer, "CUST-0003", "INV-1003")
    _type(customer, CHALLENGE_FAILS)
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    bank = _bank_check(customer)
    bank.locator("#code").fill("0000")
    bank.locator("button[value=submit]").click()
    # the bank did not confirm it and the merchant requires a liability shift: the PSP
    # refuses the sale, nothing is charged, and the words say what really happened
    customer.wait_for_selector("h1:has-text('did not go through')")
    notice = customer.inner_text("main")
    assert "complete your bank's check" in notice
    agent = _agent_sees(sca_demo, agent_context, payment_id)
    assert "did not confirm the payment (3-D Secure)" in agent
    assert "try the link again and complete their bank's check" in agent
    assert "Send the customer a pay link so their bank can confirm" not in agent


def test_a_card_saved_with_consent_is_a_card_on_file_with_the_consent(
    bundled_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
    shoot: Callable[[Any, str], Path],
) -> None:
    customer = customer_context.new_page()
    _open_pay_page(bundled_demo, agent_context, customer, "CUST-0004", "INV-1006")
    wording = customer.inner_text("label.save-card").strip()
    assert wording == "Save this card for future payments to Demo Merchant Inc."
    _type(customer, VISA)
    customer.check("#save-card")
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.locator("#save-card").scroll_into_view_if_needed()
    shoot(customer, "customer-15-save-card")
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('payment approved')")

    # the agent now sees it among the cards on file, with who agreed, when, and to what
    agent = agent_context.new_page()
    agent.goto(f"{bundled_demo.base}/pay/agent/customers/CUST-0004")
    cards = agent.inner_text("main")
    assert "Visa ending 1111" in cards
    assert "on the pay link" in cards and wording in cards
    agent.locator(".card-consent").first.scroll_into_view_if_needed()
    shoot(agent, "agent-14-saved-card-consent")
