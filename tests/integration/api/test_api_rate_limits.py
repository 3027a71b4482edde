"""The JSON API's rate limits: per API key, and per IP for requests without a valid
key. A refusal is a 429 in the error envelope with ``Retry-After``; nothing was done."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context

CUSTOMER = "/pay/api/v1/customers/CUST-0001"


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_API_RATE_LIMIT": "3/minute"}])
def test_a_key_over_its_limit_gets_429_with_retry_after(
    app: Flask, client: FlaskClient, auth: dict[str, str], ctx: Context
):
    assert [client.get(CUSTOMER, headers=auth).status_code for _ in range(3)] == [200] * 3
    refused = client.get(CUSTOMER, headers=auth)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.get_json()
    assert body["error"]["code"] == "rate_limited"
    assert "Too many requests from this API key. Nothing was done." in body["error"]["message"]
    other = {"Authorization": f"Bearer {create_api_key(ctx, name='other', role='agent')}"}
    assert client.get(CUSTOMER, headers=other).status_code == 200  # its own budget


@pytest.mark.parametrize("app_settings", [{"CRM_PAY_API_UNAUTHENTICATED_RATE_LIMIT": "2/minute"}])
def test_wrong_keys_from_one_address_get_429_after_the_unauthenticated_limit(
    app: Flask, client: FlaskClient, auth: dict[str, str]
):
    bad = {"Authorization": "Bearer cpk_not-a-key"}
    assert [client.get(CUSTOMER, headers=bad).status_code for _ in range(2)] == [401, 401]
    refused = client.get(CUSTOMER, headers=bad)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert client.get(CUSTOMER).status_code == 429  # no header at all counts too
    assert client.get(CUSTOMER, headers=auth).status_code == 200  # a valid key is unaffected
    elsewhere = client.get(CUSTOMER, headers=bad, environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert elsewhere.status_code == 401
