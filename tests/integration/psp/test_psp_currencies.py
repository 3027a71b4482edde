"""Currencies and merchant accounts, through the real SDK against the development sandbox.

Braintree has no per-transaction currency: each merchant account settles in one. The
sandbox has one account per currency (``SandboxConfig.merchant_accounts``: crm_pay_usd,
crm_pay_gbp, crm_pay_eur, crm_pay_jpy), so these tests see the account a request used and
the currency it answered in, as Braintree would.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree import BraintreeGateway
from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer
from crm_pay.app import create_app, env_value
from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.models import PayLink, Payment
from crm_pay.ports import CrmCustomer, PspTxnStatus, SaleRequest
from crm_pay.services.context import Context
from crm_pay.wiring import braintree_merchant_accounts
from paytest import SANDBOX, app_config, create_link, pay, token_of

ACCOUNTS = {"USD": "crm_pay_usd", "GBP": "crm_pay_gbp", "EUR": "crm_pay_eur", "JPY": "crm_pay_jpy"}


def test_the_sandbox_has_the_accounts_these_tests_use() -> None:
    assert {c: a for a, c in SandboxConfig().merchant_accounts.items()} == ACCOUNTS


# --------------------------------------------------------------------------- the adapter
@pytest.fixture
def gateway(sandbox: SandboxServer) -> Iterator[BraintreeGateway]:
    gw = BraintreeGateway.for_local_sandbox(
        sandbox.gateway_url, **SANDBOX, merchant_accounts=ACCOUNTS, timeout=5.0
    )
    yield gw
    gw.close()


def _sale(amount: Money, **extra: Any) -> SaleRequest:
    return SaleRequest(
        amount=amount,
        order_id=f"cur-{uuid.uuid4().hex[:12]}",
        request_key=uuid.uuid4().hex,
        payment_method_nonce="fake-valid-nonce",
        **extra,
    )


@pytest.mark.parametrize(
    ("amount", "account"),
    [
        (Money.parse("12.34", "GBP"), "crm_pay_gbp"),
        (Money.parse("9.99", "EUR"), "crm_pay_eur"),
        (Money.parse("500", "JPY"), "crm_pay_jpy"),  # exponent 0: sent as "500"
        (Money.parse("42.50", "USD"), "crm_pay_usd"),
    ],
    ids=["GBP", "EUR", "JPY", "USD"],
)
def test_a_sale_goes_to_the_merchant_account_of_its_currency(
    gateway: BraintreeGateway, amount: Money, account: str
) -> None:
    outcome = gateway.sale(_sale(amount))
    assert outcome.approved, outcome.decline
    txn = outcome.transaction
    assert txn is not None
    assert txn.amount == amount
    assert txn.merchant_account_id == account
    found = gateway.find(txn.id)
    assert found is not None and found.amount == amount


def test_a_currency_without_an_account_never_reaches_braintree(
    gateway: BraintreeGateway, sandbox: SandboxServer
) -> None:
    narrow = BraintreeGateway.for_local_sandbox(
        sandbox.gateway_url, **SANDBOX, merchant_accounts={"USD": "crm_pay_usd"}
    )
    before = len(sandbox.transactions)
    for gw, amount in ((gateway, Money.parse("10.00", "CHF")), (narrow, Money(500, "JPY"))):
        request = _sale(amount)
        with pytest.raises(ValidationError) as info:
            gw.sale(request)
        assert info.value.code == "currency_not_supported"
        assert amount.currency in info.value.message
        assert sandbox.sales_count(request.order_id) == 0
    assert len(sandbox.transactions) == before


@pytest.mark.parametrize("currency", sorted(ACCOUNTS))
def test_client_token_is_for_the_account_of_the_currency(
    gateway: BraintreeGateway, currency: str
) -> None:
    token = json.loads(base64.b64decode(gateway.client_token(currency=currency)))
    assert token["merchantAccountId"] == ACCOUNTS[currency]


def test_client_token_for_an_account_braintree_does_not_know_is_a_clear_error(
    sandbox: SandboxServer,
) -> None:
    wrong = BraintreeGateway.for_local_sandbox(
        sandbox.gateway_url, **SANDBOX, merchant_accounts={"GBP": "crm_pay_gbp_typo"}
    )
    with pytest.raises(ConfigurationError) as info:
        wrong.client_token(currency="GBP")
    assert info.value.code == "psp_client_token_refused"
    assert "crm_pay_gbp_typo" in info.value.message


def test_a_sale_on_an_account_braintree_does_not_know_is_a_validation_decline(
    sandbox: SandboxServer,
) -> None:
    wrong = BraintreeGateway.for_local_sandbox(
        sandbox.gateway_url, **SANDBOX, merchant_accounts={"GBP": "crm_pay_gbp_typo"}
    )
    request = _sale(Money.parse("10.00", "GBP"))
    outcome = wrong.sale(request)
    assert not outcome.approved
    assert outcome.decline is not None and outcome.decline.kind == "validation"
    assert sandbox.sales_count(request.order_id) == 0


def test_gbp_refunds_stay_on_the_sale_account_and_currency(
    gateway: BraintreeGateway, sandbox: SandboxServer
) -> None:
    sale = gateway.sale(_sale(Money.parse("30.00", "GBP")))
    assert sale.transaction is not None
    sandbox.settle(sale.transaction.id)
    part = gateway.refund(
        sale.transaction.id, Money.parse("10.00", "GBP"), request_key=uuid.uuid4().hex
    )
    assert part.approved and part.transaction is not None
    assert part.transaction.kind == "credit"
    assert part.transaction.amount == Money.parse("10.00", "GBP")
    assert part.transaction.merchant_account_id == "crm_pay_gbp"
    rest = gateway.refund(sale.transaction.id, None, request_key=uuid.uuid4().hex)
    assert rest.approved and rest.transaction is not None
    assert rest.transaction.amount == Money.parse("20.00", "GBP")


def test_jpy_authorization_is_captured_partly_and_a_gbp_one_voided(
    gateway: BraintreeGateway,
) -> None:
    auth = gateway.sale(_sale(Money(1200, "JPY"), submit_for_settlement=False))
    assert auth.transaction is not None
    assert auth.transaction.status is PspTxnStatus.AUTHORIZED
    captured = gateway.submit_for_settlement(auth.transaction.id, Money(1000, "JPY"))
    assert captured.approved and captured.transaction is not None
    assert captured.transaction.amount == Money(1000, "JPY")

    gbp = gateway.sale(_sale(Money.parse("5.00", "GBP"), submit_for_settlement=False))
    assert gbp.transaction is not None
    voided = gateway.void(gbp.transaction.id)
    assert voided.approved and voided.transaction is not None
    assert voided.transaction.status is PspTxnStatus.VOIDED


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": {"gbp": "a_gbp"}}, {"GBP": "a_gbp"}),
        (
            {"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": '{"USD": "a_usd", "jpy": "a_jpy"}'},
            {"USD": "a_usd", "JPY": "a_jpy"},
        ),
        (
            {
                "CRM_PAY_BRAINTREE_ENVIRONMENT": "production",
                "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID": "acme_eur",
                "CRM_PAY_BRAINTREE_CURRENCY": "eur",
            },
            {"EUR": "acme_eur"},
        ),
        ({"CRM_PAY_BRAINTREE_ENVIRONMENT": "production"}, {"USD": None}),
        ({"CRM_PAY_BRAINTREE_ENVIRONMENT": "local"}, ACCOUNTS),
    ],
    ids=["dict", "json-string", "one-account", "merchant-default", "local-sandbox"],
)
def test_merchant_accounts_from_configuration(
    config: dict[str, Any], expected: dict[str, str | None]
) -> None:
    assert braintree_merchant_accounts(config) == expected


def test_an_environment_variable_is_read_as_a_json_object() -> None:
    value = env_value("CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS", '{"GBP": "acme_gbp"}')
    assert braintree_merchant_accounts({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": value}) == {
        "GBP": "acme_gbp"
    }


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": "{not json"}, "JSON object"),
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": '["USD"]'}, "JSON object"),
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": {"EURO": "x"}}, "EURO"),
        ({"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": {"USD": ""}}, "account id"),
        (
            {
                "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS": {"USD": "a"},
                "CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID": "b",
            },
            "not both",
        ),
        (
            {"CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID": "b", "CRM_PAY_BRAINTREE_CURRENCY": "??"},
            "CRM_PAY_BRAINTREE_CURRENCY",
        ),
    ],
)
def test_bad_merchant_accounts_say_what_to_fix(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        braintree_merchant_accounts(config)


def test_the_app_refuses_to_start_with_a_bad_merchant_account_map(
    db_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = app_config(
        db_url, sandbox, tmp_path, CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS={"EURO": "acme_eur"}
    )
    with pytest.raises(ConfigurationError, match="CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS"):
        create_app(config, instance_path=str(tmp_path / "instance"))


# --------------------------------------------------------------------------- the app
def _customer(ctx: Context, ref: str, currency: str) -> str:
    ctx.crm.add_customer(  # type: ignore[attr-defined]  # the builtin CRM's test hook
        CrmCustomer(ref, f"Customer paying in {currency}", currency=currency)
    )
    return ref


@pytest.mark.parametrize(
    ("currency", "amount", "account"),
    [("GBP", "49.90", "crm_pay_gbp"), ("JPY", "5000", "crm_pay_jpy")],
)
def test_gbp_and_jpy_payments_succeed_on_their_merchant_accounts(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    sandbox: SandboxServer,
    currency: str,
    amount: str,
    account: str,
) -> None:
    ref = _customer(ctx, f"CUST-{currency}-{uuid.uuid4().hex[:6]}", currency)
    status, link = create_link(client, auth, customer=ref, amount=amount, currency=currency)
    assert status == 201, link
    page = client.get(f"/pay/p/{token_of(link['pay_url'])}")
    assert page.status_code == 200
    assert f"{currency} {amount}" in page.get_data(as_text=True)

    resp = pay(client, link["pay_url"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["currency"], body["amount"]) == (
        "submitted_for_settlement",
        currency,
        amount,
    )
    assert body["receipt_number"]
    [txn] = [t for t in sandbox.transactions if t["order_id"] == f"{link['id']}-1"]
    assert (txn["merchant_account_id"], txn["currency_iso_code"]) == (account, currency)


def test_a_chf_payment_is_refused_before_anything_is_recorded(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: SandboxServer
) -> None:
    ref = _customer(ctx, f"CUST-CHF-{uuid.uuid4().hex[:6]}", "CHF")
    before = len(sandbox.transactions)
    status, body = create_link(client, auth, customer=ref, amount="80.00", currency="CHF")
    assert status == 422, body
    assert body["error"]["code"] == "currency_not_supported"
    assert "CHF" in body["error"]["message"]
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0
    assert len(sandbox.transactions) == before


# --------------------------------------------------------------------------- pay page
def _second_app(db_url: str, sandbox: SandboxServer, tmp_path: Path, **extra: Any) -> Flask:
    """The same database and instance folder (same secrets), another PSP configuration:
    what an admin's configuration change looks like to links already sent."""
    return create_app(
        app_config(db_url, sandbox, tmp_path, **extra), instance_path=str(tmp_path / "instance")
    )


def test_pay_page_when_braintree_refuses_the_client_token(
    app: Flask,
    auth: dict[str, str],
    db_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, link = create_link(app.test_client(), auth, amount="20.00")
    assert status == 201, link
    broken = _second_app(
        db_url, sandbox, tmp_path, CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS={"USD": "crm_pay_gone"}
    )
    with caplog.at_level(logging.ERROR, logger="crm_pay.paypage"):
        resp = broken.test_client().get(f"/pay/p/{token_of(link['pay_url'])}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert "cannot take this payment online right now" in page
    assert "Nothing was charged" in page and "contact us" in page
    assert "billing@example.com" in page  # the merchant's own contact (CRM_PAY_MERCHANT_EMAIL)
    assert "Traceback" not in page and "crm_pay_gone" not in page
    assert any(
        "psp_client_token_refused" in r.getMessage() and "crm_pay_gone" in r.getMessage()
        for r in caplog.records
    )
    get_context(broken).db.dispose()


def test_a_link_whose_currency_lost_its_account_changes_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    ctx: Context,
    db_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    ref = _customer(ctx, f"CUST-GBP-{uuid.uuid4().hex[:6]}", "GBP")
    status, link = create_link(client, auth, customer=ref, amount="15.00", currency="GBP")
    assert status == 201, link
    usd_only = _second_app(
        db_url, sandbox, tmp_path, CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS={"USD": "crm_pay_usd"}
    )
    web = usd_only.test_client()
    page = web.get(f"/pay/p/{token_of(link['pay_url'])}")
    assert page.status_code == 503
    assert "cannot take this payment online right now" in page.get_data(as_text=True)

    resp = pay(web, link["pay_url"])
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "payment_unavailable"
    with ctx.db.transaction() as s:
        payment = s.get(Payment, link["id"])
        pay_link = s.scalars(select(PayLink).where(PayLink.payment_id == link["id"])).one()
        assert payment is not None
        assert (payment.status, payment.attempt) == ("awaiting_customer", 0)
        assert pay_link.failed_attempts == 0
    assert sandbox.sales_count(f"{link['id']}-1") == 0
    get_context(usd_only).db.dispose()
