"""PCI: a card number typed into the wrong field never comes back in an API answer.

Agents paste into whatever field has focus; DESIGN.md says every free-text field we
accept is checked for PANs, and error messages never contain card data. Only published
Braintree test numbers are used here."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from vault.pan import contains_pan

TEST_PAN = "4111111111111111"  # Braintree test Visa
TEST_PAN_SPACED = "4111 1111 1111 1111"


def _no_pan(resp: Any) -> None:
    text = resp.get_data(as_text=True)
    assert not contains_pan(text), text
    assert TEST_PAN not in text.replace(" ", "").replace("-", "")


def _post(client: FlaskClient, auth: dict[str, str], **body: Any) -> Any:
    payload = {"customer": "CUST-0001", "amount": "10.00", "currency": "USD", **body}
    return client.post(
        "/pay/api/v1/payments",
        json=payload,
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )


def test_description_with_a_card_number_is_redacted(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    resp = _post(client, auth, description=f"customer read out {TEST_PAN_SPACED} exp 12/30")
    assert resp.status_code == 201
    _no_pan(resp)
    assert "customer read out" in resp.get_json()["description"]
    shown = client.get(f"/pay/api/v1/payments/{resp.get_json()['id']}", headers=auth)
    _no_pan(shown)
    _no_pan(client.get("/pay/api/v1/customers/CUST-0001", headers=auth))


@pytest.mark.parametrize("amount", [TEST_PAN, TEST_PAN_SPACED, TEST_PAN + ".00"])
def test_card_number_in_the_amount_is_not_echoed(
    client: FlaskClient, auth: dict[str, str], amount: str
) -> None:
    resp = _post(client, auth, amount=amount)
    assert resp.status_code == 422
    _no_pan(resp)


@pytest.mark.parametrize(
    "where",
    [
        "phone-search",
        "email-search",
        "customer-ref",
        "unknown-field",
        "allocation-invoice",
        "currency",
    ],
)
def test_card_number_in_other_fields_is_not_echoed(
    client: FlaskClient, auth: dict[str, str], where: str
) -> None:
    if where == "phone-search":
        resp = client.get(
            "/pay/api/v1/customers", query_string={"phone": TEST_PAN_SPACED}, headers=auth
        )
    elif where == "email-search":
        resp = client.get("/pay/api/v1/customers", query_string={"email": TEST_PAN}, headers=auth)
    elif where == "customer-ref":
        resp = _post(client, auth, customer=TEST_PAN)
    elif where == "unknown-field":
        resp = _post(client, auth, **{TEST_PAN: "x"})
    elif where == "currency":
        resp = _post(client, auth, currency=TEST_PAN)
    else:
        resp = _post(client, auth, allocations={TEST_PAN: "10.00"})
    assert 400 <= resp.status_code < 500
    _no_pan(resp)
