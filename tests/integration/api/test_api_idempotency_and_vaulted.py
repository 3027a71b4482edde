"""Idempotency of POST /payments, and charging a card on file (channel "vaulted")."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import Payment, Receipt
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context

URL = "/pay/api/v1/payments"


def _post(client: FlaskClient, auth: dict[str, str], key: str, **body: Any) -> Any:
    payload = {"customer": "CUST-0001", "amount": "25.00", "currency": "USD", **body}
    return client.post(URL, json=payload, headers={**auth, "Idempotency-Key": key})


def _payments(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Payment)) or 0


def test_same_key_same_body_returns_the_first_payment(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    key = uuid.uuid4().hex
    first = _post(client, auth, key, description="March invoice")
    assert first.status_code == 201, first.get_json()
    again = _post(client, auth, key, description="March invoice")
    assert again.status_code == 200, again.get_json()
    a, b = first.get_json(), again.get_json()
    assert b["id"] == a["id"]
    assert b["pay_url"] == a["pay_url"]
    assert b["amount"] == "25.00" and b["status"] == "awaiting_customer"
    assert _payments(ctx) == 1
    # The replayed link is the real one: it opens the pay page.
    token = b["pay_url"].rsplit("/p/", 1)[1]
    assert client.get(f"/pay/p/{token}").status_code == 200


def test_same_key_same_body_in_another_key_order_is_still_a_replay(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    key = uuid.uuid4().hex
    body1 = {"customer": "CUST-0001", "amount": "25.00", "currency": "USD"}
    body2 = {"currency": "USD", "amount": "25.00", "customer": "CUST-0001"}
    r1 = client.post(URL, json=body1, headers={**auth, "Idempotency-Key": key})
    r2 = client.post(URL, json=body2, headers={**auth, "Idempotency-Key": key})
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.get_json()["id"] == r2.get_json()["id"]
    assert _payments(ctx) == 1


def test_same_key_different_body_is_refused(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    key = uuid.uuid4().hex
    assert _post(client, auth, key).status_code == 201
    resp = _post(client, auth, key, amount="26.00")
    assert resp.status_code == 422, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in err["message"]
    assert _payments(ctx) == 1


def test_idempotency_keys_are_scoped_per_api_key(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    other = {"Authorization": f"Bearer {create_api_key(ctx, name='other', role='agent')}"}
    key = "order-42"
    mine = _post(client, auth, key)
    theirs = _post(client, other, key)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert mine.get_json()["pay_url"] != theirs.get_json()["pay_url"]
    assert _payments(ctx) == 2
    # ... and each still replays its own.
    assert _post(client, other, key).get_json()["id"] == theirs.get_json()["id"]


def test_vaulted_card_is_charged_at_once_with_consent(
    client: FlaskClient, ctx: Context, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    key = uuid.uuid4().hex
    resp = _post(
        client,
        auth,
        key,
        amount="40.00",
        channel="vaulted",
        payment_method_token="demo-token-visa-1111",
        customer_consent=True,
    )
    assert resp.status_code == 201, resp.get_json()
    payment = resp.get_json()
    assert payment["status"] in ("submitted_for_settlement", "authorized", "settled")
    assert payment["channel"] == "vaulted"
    assert payment["receipt_number"] and payment["receipt_number"].startswith("R-")
    assert payment["card"] == {"brand": "Visa", "last4": "1111"}
    assert payment["psp_reference"]
    assert "pay_url" not in payment and "pay_link" not in payment
    assert sandbox.sales_count(f"{payment['id']}-1") == 1

    # A retry with the same key is a replay: no second sale, no second receipt.
    again = _post(
        client,
        auth,
        key,
        amount="40.00",
        channel="vaulted",
        payment_method_token="demo-token-visa-1111",
        customer_consent=True,
    )
    assert again.status_code == 200
    assert again.get_json()["id"] == payment["id"]
    assert again.get_json()["receipt_number"] == payment["receipt_number"]
    assert sandbox.sales_count(f"{payment['id']}-1") == 1
    assert sandbox.sales_count(f"{payment['id']}-2") == 0
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Receipt)) == 1

    customer = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()
    assert customer["balance"] == "588.39"  # 628.39 - 40.00
    receipt = client.get(f"/pay/api/v1/receipts/{payment['receipt_number']}", headers=auth)
    assert receipt.status_code == 200
    assert receipt.get_json()["method"] == "Visa ending 1111"


def test_a_racing_duplicate_is_409_in_progress_not_a_second_payment(
    client: FlaskClient, ctx: Context, auth: dict[str, str], monkeypatch: Any
) -> None:
    """Two requests with one key both pass the replay check before either commits: the
    unique (scope, key) constraint stops the second one with a clear, retryable 409."""
    from crm_pay.services import payments

    key = uuid.uuid4().hex
    first = _post(client, auth, key)
    assert first.status_code == 201
    monkeypatch.setattr(payments, "_replay", lambda *a, **k: None)  # the race window
    second = _post(client, auth, key)
    assert second.status_code == 409, second.get_json()
    err = second.get_json()["error"]
    assert err["code"] == "idempotency_key_in_progress"
    assert "retry" in err["message"]
    assert _payments(ctx) == 1
    monkeypatch.undo()
    third = _post(client, auth, key)
    assert third.status_code == 200 and third.get_json()["id"] == first.get_json()["id"]
