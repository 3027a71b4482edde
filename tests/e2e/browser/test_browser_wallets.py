"""Wallets on the pay page, end to end: braintree-web's own wallet components (3.144.0,
served by crm-pay) against the development sandbox, with the sandbox's simulated sheets
standing in for Google's ``pay.js``, Apple's ``ApplePaySession``, PayPal's JS SDK and
the Venmo app (behind braintree-web's own Venmo QR code flow).

The admin turns a wallet on for the demo's USD account (``/pay/admin/wallets/``); the
customer opens a pay link, presses the wallet's button, approves the clearly labelled
sandbox sheet and sees the approved page; the receipt and the agent's payment page name
the wallet ("Google Pay · Visa ending 1111"). Braintree's and Google's hosts are routed
to the sandbox (``BraintreeHosts``); nothing leaves the machine.

Screenshots (``UPDATE_SCREENSHOTS=1``): ``docs/screenshots/pay-page-wallets.png``,
``docs/screenshots/pay-page-venmo-qr-code.png`` and ``docs/screenshots/admin-wallets.png``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from browserkit import (
    NO_MFA,
    PHONE_VIEWPORT,
    DemoServer,
    assert_accessible,
    hosted_field,
    offer_wallets,
    sign_in,
    take_link_payment,
)

from connectors.psp.braintree_sandbox.browser_routes import BraintreeHosts

pytestmark = pytest.mark.browser

VISA = "4111111111111111"  # Braintree's published Visa test number
APPLE_PAY_SESSION = (
    Path(__file__).resolve().parents[3]
    / "connectors/psp/braintree_sandbox/static/apple-pay-session.js"
)


@pytest.fixture(scope="module")
def wallet_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("wallets-demo"),
        env={"CRM_PAY_BRAINTREE_JS_SOURCE": "bundled", **NO_MFA},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def routed(customer_context: Any, wallet_demo: DemoServer) -> BraintreeHosts:
    hosts = BraintreeHosts(wallet_demo.sandbox_assets)
    hosts.attach(customer_context)
    return hosts


def _open(demo: DemoServer, agent_context: Any, customer: Any, crm_ref: str, invoice: str,
          amount: str = "25.00") -> str:  # fmt: skip
    agent = agent_context.new_page()
    sign_in(agent, demo.base, f"/pay/agent/customers/{crm_ref}")
    payment_id = take_link_payment(agent, demo.base, crm_ref, invoices=(invoice,), amount=amount)
    customer.goto(demo.pay_url_for(payment_id))
    hosted_field(customer, "number").wait_for()
    return payment_id


def _posted(customer: Any) -> list[str]:
    sent: list[str] = []
    customer.on(
        "request",
        lambda r: sent.append(r.post_data or "") if r.method == "POST" and r.url.endswith("/pay")
        else None,
    )  # fmt: skip
    return sent


def _agent_sees(demo: DemoServer, agent_context: Any, payment_id: str) -> str:
    agent = agent_context.new_page()
    agent.goto(f"{demo.base}/pay/agent/payments/{payment_id}")
    return str(agent.inner_text("main"))


def _receipt_names(demo: DemoServer, receipt_number: str, method: str) -> None:
    """The receipt e-mail of ``receipt_number`` arrives and says how it was paid."""
    found = demo.wait_for_email(lambda m: receipt_number in (m.text or ""), timeout=30)
    assert method in found.text


def _paid_and_named(
    customer: Any,
    sent: list[str],
    demo: DemoServer,
    agent_context: Any,
    payment_id: str,
    *,
    method: str,
    nonce: str,
    named: str,
) -> None:
    """The customer's page says the payment was approved, once, by ``method`` with the
    wallet's ``nonce``; the page, the agent's payment page and the receipt e-mail each
    name it ``named`` (e.g. "Apple Pay · Visa ending 1881")."""
    customer.wait_for_selector("h1:has-text('payment approved')", timeout=20_000)
    assert f"paid with {named}" in customer.inner_text("#paid-with")
    receipt = customer.inner_text("#receipt-number")
    (body,) = sent
    form = parse_qs(body)
    assert (form["method"], form["payment_method_nonce"]) == ([method], [nonce])
    assert named in _agent_sees(demo, agent_context, payment_id)
    _receipt_names(demo, receipt, named)


# ------------------------------------------------------------------------- Google Pay
def test_google_pay_pays_end_to_end_and_names_the_wallet(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
    shoot: Callable[[Any, str], Path],
) -> None:
    admin = offer_wallets(wallet_demo, browser, "google_pay", "apple_pay")
    assert admin.is_checked("#wallets-USD input[value=google_pay]")
    # the admin page no longer says wallets are missing from the pay page
    assert admin.locator("#wallets-not-on-pay-page").count() == 0
    shoot(admin, "admin-wallets")

    customer = customer_context.new_page()
    sent = _posted(customer)
    payment_id = _open(wallet_demo, agent_context, customer, "CUST-0001", "INV-1001")
    button = customer.locator("#wallet-google_pay")
    button.wait_for(state="visible")
    # Apple Pay is offered too, but this browser has no ApplePaySession: no button
    assert customer.locator("#wallet-apple_pay").is_hidden()
    # braintree-web's own component, served by crm-pay, with Google's pay.js stand-in
    sdk = customer.evaluate(
        "() => ({gp: braintree.googlePayment.VERSION,"
        " standIn: !!google.payments.api.developmentSandbox})"
    )
    assert sdk == {"gp": "3.144.0", "standIn": True}
    # Google's origin is in the page's policy because Google Pay is offered
    policy = customer.request.get(customer.url).headers["content-security-policy"]
    assert "https://pay.google.com" in policy.split("script-src")[1].split(";")[0]

    button.click()
    sheet = customer.locator("#sandbox-google-pay-sheet")
    sheet.wait_for(state="visible")
    assert "Development sandbox — simulated Google Pay sheet" in sheet.inner_text()
    assert "25.00 USD" in sheet.inner_text()
    customer.click("#sandbox-google-pay-approve")
    _paid_and_named(
        customer, sent, wallet_demo, agent_context, payment_id, method="google_pay",
        nonce="fake-android-pay-visa-nonce", named="Google Pay · Visa ending 1111",
    )  # fmt: skip
    hosts = {(host, path) for _, host, path in routed.seen}
    assert ("pay.google.com", "/gp/p/js/pay.js") in hosts
    assert routed.refused == []


def test_a_wallet_the_link_does_not_offer_is_refused_and_nothing_is_charged(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "apple_pay")  # not Google Pay
    customer = customer_context.new_page()
    payment_id = _open(wallet_demo, agent_context, customer, "CUST-0002", "INV-1002")
    assert customer.locator("#wallet-google_pay").count() == 0
    attempts = customer.inner_text("#pay-form .hint")
    # nor is Google's origin in the page's policy
    assert (
        "pay.google.com"
        not in customer.request.get(customer.url).headers["content-security-policy"]
    )
    # a hand-made post naming Google Pay: refused, the link stays open with its attempts
    answer = customer.request.post(
        customer.url + "/pay",
        form={"payment_method_nonce": "fake-android-pay-visa-nonce", "method": "google_pay"},
        headers={"Accept": "application/json"},
    )
    assert answer.status == 422
    assert answer.json()["error"]["code"] == "wallet_not_offered"
    customer.reload()
    hosted_field(customer, "number").wait_for()
    assert customer.inner_text("#pay-form .hint") == attempts
    assert "Google Pay" not in _agent_sees(wallet_demo, agent_context, payment_id)


def test_cancel_in_the_sheet_then_pay_by_card(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "google_pay")
    customer = customer_context.new_page()
    sent = _posted(customer)
    _open(wallet_demo, agent_context, customer, "CUST-0003", "INV-1003")
    customer.locator("#wallet-google_pay").click()
    customer.locator("#sandbox-google-pay-sheet").wait_for(state="visible")
    customer.click("#sandbox-google-pay-cancel")
    error = customer.locator("#wallet-error")
    error.wait_for(state="visible")
    assert "Nothing was charged" in error.inner_text()
    assert sent == []
    assert customer.is_enabled("#wallet-google_pay")

    for name, value in (("number", VISA), ("expirationDate", "1230"), ("cvv", "123"),
                        ("postalCode", "94107")):  # fmt: skip
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.wait_for_selector("#pay-button:not([disabled])")
    customer.click("#pay-button")
    customer.wait_for_selector("h1:has-text('payment approved')")
    assert "Visa ending 1111" in customer.inner_text("main")
    (body,) = sent
    assert "method" not in parse_qs(body)


def test_the_pay_page_with_wallet_buttons_is_accessible(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    offer_wallets(wallet_demo, browser, "google_pay", "apple_pay", "paypal", "venmo")
    # axe-core is injected by the test: a context that lets it past the page's policy
    context = browser.new_context(bypass_csp=True, viewport=PHONE_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    BraintreeHosts(wallet_demo.sandbox_assets).attach(context)
    context.add_init_script(path=str(APPLE_PAY_SESSION))
    customer = context.new_page()
    _open(wallet_demo, agent_context, customer, "CUST-0001", "INV-1004")
    customer.locator("#wallet-google_pay").wait_for(state="visible")
    customer.locator("#wallet-apple_pay").wait_for(state="visible")
    customer.locator("#wallet-paypal button").wait_for(state="visible")
    customer.locator("#wallet-venmo").wait_for(state="visible")
    assert_accessible(customer)
    shoot(customer, "pay-page-wallets")
    context.close()


# -------------------------------------------------------------------------- Apple Pay
@pytest.fixture
def apple_context(customer_context: Any) -> Any:
    """The customer's browser with the sandbox's ApplePaySession stand-in (Chromium has
    none), as Safari offers Apple's before any page script runs."""
    customer_context.add_init_script(path=str(APPLE_PAY_SESSION))
    return customer_context


def test_apple_pay_pays_end_to_end_and_names_the_wallet(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    apple_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "apple_pay", "google_pay")
    customer = apple_context.new_page()
    sent = _posted(customer)
    payment_id = _open(wallet_demo, agent_context, customer, "CUST-0003", "INV-1005")
    button = customer.locator("#wallet-apple_pay")
    button.wait_for(state="visible")
    assert customer.evaluate("() => braintree.applePay.VERSION") == "3.144.0"
    button.click()
    sheet = customer.locator("#sandbox-apple-pay-sheet")
    sheet.wait_for(state="visible")
    assert "Development sandbox — simulated Apple Pay sheet" in sheet.inner_text()
    # the sheet waits for the merchant's validation (braintree-web's performValidation)
    customer.wait_for_selector("#sandbox-apple-pay-approve:not([disabled])")
    customer.click("#sandbox-apple-pay-approve")
    _paid_and_named(
        customer, sent, wallet_demo, agent_context, payment_id, method="apple_pay",
        nonce="fake-apple-pay-visa-nonce", named="Apple Pay · Visa ending 1881",
    )  # fmt: skip
    paths = {path.rsplit("/", 2)[-1] for _, _, path in routed.seen}
    assert {"sessions", "apple_payment_tokens"} <= paths
    assert routed.refused == []


def test_a_declined_wallet_payment_leaves_the_link_open_for_another_way(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    apple_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "apple_pay", "google_pay")
    customer = apple_context.new_page()
    # Braintree's test amounts 2000.00-2999.99 are declined by the processor ("2001
    # Insufficient Funds"), whatever the payment method
    agent = agent_context.new_page()
    sign_in(agent, wallet_demo.base, "/pay/agent/customers/CUST-0004")
    payment_id = take_link_payment(
        agent, wallet_demo.base, "CUST-0004", invoices=(), amount="2001.00",
        above_balance=True,
    )  # fmt: skip
    customer.goto(wallet_demo.pay_url_for(payment_id))
    customer.locator("#wallet-apple_pay").click()
    customer.wait_for_selector("#sandbox-apple-pay-approve:not([disabled])")
    customer.click("#sandbox-apple-pay-approve")
    customer.wait_for_selector("h1:has-text('did not go through')")
    customer.click("text=Try again")
    # the same link, one attempt fewer, every way to pay still there
    customer.locator("#wallet-google_pay").wait_for(state="visible")
    customer.locator("#wallet-apple_pay").wait_for(state="visible")
    hosted_field(customer, "number").wait_for()
    assert "Attempts left: 4" in customer.inner_text("#pay-form")


# ----------------------------------------------------------------------------- PayPal
def test_paypal_checkout_with_vault_pays_end_to_end_and_names_the_payer(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "paypal")
    customer = customer_context.new_page()
    sent = _posted(customer)
    payment_id = _open(wallet_demo, agent_context, customer, "CUST-0003", "INV-1007")
    # PayPal's SDK (the sandbox's stand-in, loaded by braintree-web) draws its button
    button = customer.locator("#wallet-paypal button")
    button.wait_for(state="visible")
    sdk = customer.evaluate(
        "() => ({pp: braintree.paypalCheckout.VERSION, standIn: !!paypal.developmentSandbox})"
    )
    assert sdk == {"pp": "3.144.0", "standIn": True}
    button.click()
    sheet = customer.locator("#sandbox-paypal-sheet")
    sheet.wait_for(state="visible")
    assert "Development sandbox — simulated PayPal sheet" in sheet.inner_text()
    customer.click("#sandbox-paypal-approve")
    # Checkout with Vault: Braintree's billing-agreement nonce (it can be vaulted); the
    # payer's e-mail as the PSP adapter masks it, never a card
    _paid_and_named(
        customer, sent, wallet_demo, agent_context, payment_id, method="paypal",
        nonce="fake-paypal-billing-agreement-nonce", named="PayPal · p***@example.com",
    )  # fmt: skip
    paths = {path.rsplit("/", 1)[-1] for _, _, path in routed.seen}
    assert {"create_payment_resource", "paypal_accounts", "js"} <= paths
    assert routed.refused == []


def test_cancel_in_the_paypal_sheet_charges_nothing_and_paypal_can_be_tried_again(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "paypal")
    customer = customer_context.new_page()
    sent = _posted(customer)
    _open(wallet_demo, agent_context, customer, "CUST-0002", "INV-1002")
    customer.locator("#wallet-paypal button").click()
    customer.locator("#sandbox-paypal-sheet").wait_for(state="visible")
    customer.click("#sandbox-paypal-cancel")
    customer.locator("#wallet-error").wait_for(state="visible")
    assert "Nothing was charged" in customer.inner_text("#wallet-error")
    assert sent == []
    customer.locator("#wallet-paypal button").click()
    customer.click("#sandbox-paypal-approve")
    customer.wait_for_selector("h1:has-text('payment approved')")
    assert len(sent) == 1


# ------------------------------------------------------------------------------ Venmo
# braintree-web's venmo (allowDesktop) sees the headless Chromium's desktop user agent and
# runs its desktop QR code flow: a frame from the assets URL, payment contexts on
# Braintree's GraphQL API, polled until the (simulated) Venmo app approves.
VENMO_FRAME = "iframe[name=venmo-desktop-iframe]"


def test_venmo_pays_end_to_end_through_the_qr_code_sheet_and_names_the_user(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
    shoot: Callable[[Any, str], Path],
) -> None:
    offer_wallets(wallet_demo, browser, "venmo")
    customer = customer_context.new_page()
    sent = _posted(customer)
    payment_id = _open(wallet_demo, agent_context, customer, "CUST-0006", "INV-1008")
    button = customer.locator("#wallet-venmo")
    button.wait_for(state="visible")
    assert customer.evaluate("() => braintree.venmo.VERSION") == "3.144.0"
    # the Venmo origins the page needs are the card scripts' own: nothing is added
    policy = customer.request.get(customer.url).headers["content-security-policy"]
    assert "venmo.com" not in policy

    button.click()
    sheet = customer.frame_locator(VENMO_FRAME).locator("#sandbox-venmo-sheet")
    sheet.wait_for(state="visible")
    assert "Development sandbox — simulated Venmo app" in sheet.inner_text()
    # braintree-web created the payment context over GraphQL and shows its "QR code"
    approve = customer.frame_locator(VENMO_FRAME).locator("#sandbox-venmo-approve:not([disabled])")
    approve.wait_for()
    shoot(customer, "pay-page-venmo-qr-code")
    approve.click()
    _paid_and_named(
        customer, sent, wallet_demo, agent_context, payment_id, method="venmo",
        nonce="fake-venmo-account-nonce", named="Venmo · @venmojoe",
    )  # fmt: skip
    seen = {(host, path) for _, host, path in routed.seen}
    assert ("payments.sandbox.braintree-api.com", "/graphql") in seen
    assert ("assets.braintreegateway.com", "/web/3.144.0/html/venmo-desktop-frame.html") in seen
    # one braintree.client on the page (pay.js's, shared): one configuration fetch
    configuration = [p for _, _, p in routed.seen if p.endswith("/client_api/v1/configuration")]
    assert len(configuration) == 1
    assert routed.refused == []


def test_cancel_in_the_venmo_sheet_charges_nothing_and_venmo_can_be_tried_again(
    browser: Any,
    wallet_demo: DemoServer,
    agent_context: Any,
    customer_context: Any,
    routed: BraintreeHosts,
) -> None:
    offer_wallets(wallet_demo, browser, "venmo", "google_pay")
    customer = customer_context.new_page()
    sent = _posted(customer)
    _open(wallet_demo, agent_context, customer, "CUST-0004", "INV-1006")
    customer.locator("#wallet-venmo").click()
    frame = customer.frame_locator(VENMO_FRAME)
    frame.locator("#sandbox-venmo-approve:not([disabled])").wait_for()
    frame.locator("#sandbox-venmo-cancel").click()
    error = customer.locator("#wallet-error")
    error.wait_for(state="visible")
    assert "Nothing was charged" in error.inner_text()
    assert customer.locator(VENMO_FRAME).is_hidden()
    assert sent == []
    # every way to pay is still there, Venmo too, with a new payment context
    assert customer.is_enabled("#wallet-google_pay") and customer.is_enabled("#wallet-venmo")
    customer.locator("#wallet-venmo").click()
    frame.locator("#sandbox-venmo-approve:not([disabled])").click()
    customer.wait_for_selector("h1:has-text('payment approved')", timeout=20_000)
    assert len(sent) == 1 and parse_qs(sent[0])["method"] == ["venmo"]
