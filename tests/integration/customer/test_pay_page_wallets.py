"""Wallets on the pay page (served with braintree-web bundled, against the sandbox): the
page shows a button, loads the component and widens its policy only for the wallets the
payment's merchant account offers; a wallet's nonce is charged through the same pay
endpoint with ``method`` and the result names the wallet; a wallet the page does not
offer is refused before anything changes. Apple Pay's domain association file is
served at the root only when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from agent_ui.apple_pay_domain import PATH as ASSOCIATION
from crm_pay.domain.errors import ConfigurationError
from crm_pay.services import wallets
from crm_pay.services.context import Context
from crm_pay.testing.sandbox_app import close_app, start_app
from paytest import app_config, create_link, token_of


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"CRM_PAY_BRAINTREE_JS_SOURCE": "bundled"}


def _link(client: FlaskClient, auth: dict[str, str], amount: str = "12.00") -> dict[str, Any]:
    status, created = create_link(client, auth, amount=amount)
    assert status == 201, created
    return created


def _page(client: FlaskClient, created: dict[str, Any]) -> Any:
    return client.get(f"/pay/p/{token_of(created['pay_url'])}")


def _policy(answer: Any, directive: str) -> str:
    parts = [p.strip() for p in answer.headers["Content-Security-Policy"].split(";")]
    return next(p for p in parts if p.startswith(directive + " "))


def _pay(client: FlaskClient, created: dict[str, Any], **form: str) -> Any:
    return client.post(
        f"/pay/p/{token_of(created['pay_url'])}/pay",
        data=form,
        headers={"Accept": "application/json"},
    )


def test_a_page_offers_only_the_wallets_its_account_turned_on(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    created = _link(client, auth)
    cards_only = _page(client, created)
    assert 'id="wallets"' not in cards_only.text
    assert "google-payment.js" not in cards_only.text and "pay_wallets.js" not in cards_only.text
    assert "pay.google.com" not in cards_only.headers["Content-Security-Policy"]

    wallets.set_wallets(ctx, merchant_account="USD", wallets=["google_pay"], actor="test")
    page = _page(client, created)
    assert 'id="wallet-google_pay"' in page.text and 'id="wallet-apple_pay"' not in page.text
    assert "braintree-web/google-payment.js" in page.text and "pay_wallets.js" in page.text
    assert "apple-pay.js" not in page.text
    # Google's pay.js, its sheet and its button images: allowed exactly there
    for directive in ("script-src", "frame-src", "connect-src"):
        assert "https://pay.google.com" in _policy(page, directive)
    assert "https://www.gstatic.com" in _policy(page, "img-src")


def test_a_google_pay_nonce_is_charged_and_the_result_names_the_wallet(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    wallets.set_wallets(ctx, merchant_account="USD", wallets=["google_pay"], actor="test")
    created = _link(client, auth)
    answer = _pay(
        client, created, payment_method_nonce="fake-android-pay-visa-nonce", method="google_pay"
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "captured" or body["receipt_number"]
    assert body["method"] == "Google Pay · Visa ending 1111"
    assert body["wallet"] == "google_pay"
    html = client.post(
        f"/pay/p/{token_of(_link(client, auth)['pay_url'])}/pay",
        data={"payment_method_nonce": "fake-apple-pay-visa-nonce", "method": "card"},
    )
    # the PSP says which wallet paid, whatever the page claimed: the receipt follows it
    assert "paid with Apple Pay · Visa ending 1881" in html.text
    shown = client.get(f"/pay/api/v1/payments/{created['id']}", headers=auth).get_json()
    assert shown["receipt_number"] == body["receipt_number"]


@pytest.mark.parametrize(
    "method", ["apple_pay", "venmo", "bitcoin", "x" * 500], ids=["not-offered", "v", "b", "long"]
)
def test_a_wallet_the_page_does_not_offer_is_refused_and_nothing_changes(
    client: FlaskClient, auth: dict[str, str], ctx: Context, method: str
) -> None:
    wallets.set_wallets(ctx, merchant_account="USD", wallets=["google_pay"], actor="test")
    created = _link(client, auth)
    before = client.get(f"/pay/api/v1/payments/{created['id']}", headers=auth).get_json()

    answer = _pay(client, created, payment_method_nonce="fake-apple-pay-visa-nonce", method=method)

    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "wallet_not_offered"
    assert "nothing was charged" in error["message"] and len(error["message"]) < 300
    after = client.get(f"/pay/api/v1/payments/{created['id']}", headers=auth).get_json()
    assert after["status"] == before["status"] and after.get("receipt_number") is None
    assert after["pay_link"]["attempts_left"] == before["pay_link"]["attempts_left"]
    # a form post gets the page with the way back to the link
    page = client.post(
        f"/pay/p/{token_of(created['pay_url'])}/pay",
        data={"payment_method_nonce": "fake-apple-pay-visa-nonce", "method": method},
    )
    assert page.status_code == 422 and f"/pay/p/{token_of(created['pay_url'])}" in page.text


def test_the_apple_pay_domain_file_is_served_at_the_root_only_when_configured(
    client: FlaskClient, tmp_path: Path, db_url: str, sandbox: Any
) -> None:
    assert client.get(ASSOCIATION).status_code == 404

    file = tmp_path / "apple-developer-merchantid-domain-association"
    file.write_text("7B2270737049...sandbox-association\n")
    app = start_app(
        app_config(db_url, sandbox, tmp_path, CRM_PAY_APPLE_PAY_DOMAIN_ASSOCIATION=str(file)),
        tmp_path / "with-apple",
    )
    try:
        answer = app.test_client().get(ASSOCIATION)
        assert answer.status_code == 200
        assert answer.data == file.read_bytes()
        assert answer.mimetype == "text/plain"
    finally:
        close_app(app)


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_an_unreadable_apple_pay_domain_file_stops_start_up(
    tmp_path: Path, db_url: str, sandbox: Any, content: str | None
) -> None:
    file = tmp_path / "association"
    if content is not None:
        file.write_text(content)
    with pytest.raises(ConfigurationError, match="CRM_PAY_APPLE_PAY_DOMAIN_ASSOCIATION"):
        start_app(
            app_config(db_url, sandbox, tmp_path, CRM_PAY_APPLE_PAY_DOMAIN_ASSOCIATION=str(file)),
            tmp_path / "bad-apple",
        )


def test_paypal_adds_paypal_s_origins_and_its_payment_names_the_masked_payer(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    created = _link(client, auth)
    assert "www.sandbox.paypal.com" not in _page(client, created).headers["Content-Security-Policy"]
    wallets.set_wallets(ctx, merchant_account="USD", wallets=["paypal"], actor="test")
    page = _page(client, created)
    assert 'id="wallet-paypal"' in page.text and "braintree-web/paypal-checkout.js" in page.text
    assert "https://www.paypal.com" in _policy(page, "script-src")
    assert "https://www.sandbox.paypal.com" in _policy(page, "frame-src")
    assert "pay.google.com" not in page.headers["Content-Security-Policy"]

    answer = _pay(
        client, created, payment_method_nonce="fake-paypal-billing-agreement-nonce", method="paypal"
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["method"] == "PayPal · p***@example.com"


def test_venmo_loads_its_component_without_widening_the_policy_and_names_the_user(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    wallets.set_wallets(ctx, merchant_account="USD", wallets=["apple_pay"], actor="test")
    created = _link(client, auth)
    without = _page(client, created)
    assert "braintree-web/venmo.js" not in without.text
    wallets.set_wallets(ctx, merchant_account="USD", wallets=["apple_pay", "venmo"], actor="test")
    page = _page(client, created)
    assert 'id="wallet-venmo"' in page.text and "braintree-web/venmo.js" in page.text
    # its QR code frame (assets origin) and GraphQL calls are the card scripts' origins
    assert page.headers["Content-Security-Policy"] == without.headers["Content-Security-Policy"]
    assert "https://payments.sandbox.braintree-api.com" in _policy(page, "connect-src")

    answer = _pay(client, created, payment_method_nonce="fake-venmo-account-nonce", method="venmo")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["method"] == "Venmo · @venmojoe"
    assert answer.get_json()["wallet"] == "venmo"
