"""The customer pay page's rate limits: payment submissions per link and per IP, and
field reports per link. A refusal is a 429 saying nothing was charged; the link still
takes a good payment once the wait is over (here: from another budget)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import Payment
from crm_pay.services.context import Context
from paytest import create_link, pay, token_of


def _submit(client: FlaskClient, token: str, *, ip: str = "127.0.0.1", html: bool = False) -> Any:
    return client.post(
        f"/pay/p/{token}/pay",
        data={"payment_method_nonce": ["a", "b"]},  # sent twice: refused, link stays open
        headers={"Accept": "text/html" if html else "application/json"},
        environ_base={"REMOTE_ADDR": ip},
    )


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_PAY_SUBMIT_LINK_LIMIT": "2/minute"}])
def test_too_many_submissions_for_one_link_get_429_and_charge_nothing(
    app: Flask, client: FlaskClient, auth: dict[str, str], ctx: Context
):
    _, link = create_link(client, auth, amount="25.00")
    token = token_of(link["pay_url"])
    assert [_submit(client, token).status_code for _ in range(2)] == [400, 400]
    refused = _submit(client, token)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and "Nothing was charged" in error["message"]
    page = _submit(client, token, html=True)
    assert page.status_code == 429 and "Nothing was charged" in page.text
    assert f'href="/pay/p/{token}"' in page.text  # the way back to the form
    with ctx.db.transaction() as s:
        assert s.scalars(select(Payment.status).where(Payment.id == link["id"])).one() == (
            "awaiting_customer"
        )
    # Another link has its own budget and pays.
    _, other = create_link(client, auth, amount="26.00")
    assert pay(client, other["pay_url"]).status_code == 200


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_PAY_SUBMIT_IP_LIMIT": "2/minute"}])
def test_one_address_submitting_for_many_links_gets_429(
    app: Flask, client: FlaskClient, auth: dict[str, str]
):
    tokens = [token_of(create_link(client, auth, amount="25.00")[1]["pay_url"]) for _ in range(3)]
    assert [_submit(client, t, ip="10.3.0.1").status_code for t in tokens[:2]] == [400, 400]
    assert _submit(client, tokens[2], ip="10.3.0.1").status_code == 429
    assert _submit(client, tokens[2], ip="10.3.0.2").status_code == 400  # another customer


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_LIVE_FIELD_EVENTS_PER_MINUTE": 2}])
def test_field_reports_over_the_budget_get_429_with_retry_after(
    app: Flask, client: FlaskClient, auth: dict[str, str]
):
    _, link = create_link(client, auth, amount="25.00")
    url = f"/pay/p/{token_of(link['pay_url'])}/events"
    report = {"field": "cvv", "valid": True}
    assert [client.post(url, json=report).status_code for _ in range(2)] == [204, 204]
    refused = client.post(url, json=report)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"]["code"] == "rate_limited"
