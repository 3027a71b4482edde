"""A pay link's life as the agent (API) and the customer (pay page) see it: cancel,
expiry, and the attempt limit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.services.context import Context

API = "/pay/api/v1"
DECLINE_NONCE = "fake-processor-declined-visa-nonce"


def _create(client: FlaskClient, auth: dict[str, str], amount: str = "20.00") -> dict[str, Any]:
    resp = client.post(
        f"{API}/payments",
        json={"customer": "CUST-0001", "amount": amount, "currency": "USD"},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def _token(payment: dict[str, Any]) -> str:
    return payment["pay_url"].rsplit("/p/", 1)[1]


def _pay(client: FlaskClient, payment: dict[str, Any], nonce: str = "fake-valid-nonce") -> Any:
    return client.post(
        f"/pay/p/{_token(payment)}/pay",
        data={"payment_method_nonce": nonce},
        headers={"Accept": "application/json"},
    )


def _status(client: FlaskClient, auth: dict[str, str], payment: dict[str, Any]) -> dict[str, Any]:
    resp = client.get(f"{API}/payments/{payment['id']}", headers=auth)
    assert resp.status_code == 200
    return resp.get_json()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- cancel
def test_cancel_closes_the_link_for_the_customer(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    payment = _create(client, auth)
    resp = client.post(f"{API}/payments/{payment['id']}/cancel", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "cancelled"
    assert resp.get_json()["pay_link"]["state"] == "cancelled"

    page = client.get(f"/pay/p/{_token(payment)}")
    assert page.status_code == 410
    assert b"cancelled" in page.data

    paid = _pay(client, payment)
    assert paid.status_code == 410
    assert paid.get_json()["error"]["code"] == "link_cancelled"
    assert sandbox.sales_count(f"{payment['id']}-1") == 0
    assert _status(client, auth, payment)["status"] == "cancelled"


def test_cancel_twice_is_a_no_op(client: FlaskClient, auth: dict[str, str]) -> None:
    payment = _create(client, auth)
    first = client.post(f"{API}/payments/{payment['id']}/cancel", headers=auth)
    second = client.post(f"{API}/payments/{payment['id']}/cancel", headers=auth)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json()["status"] == "cancelled"
    assert second.get_json()["updated_at"] == first.get_json()["updated_at"]


def test_cancel_after_approval_is_409_already_paid(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    payment = _create(client, auth)
    assert _pay(client, payment).status_code == 200
    resp = client.post(f"{API}/payments/{payment['id']}/cancel", headers=auth)
    assert resp.status_code == 409
    err = resp.get_json()["error"]
    assert err["code"] == "already_paid"
    assert "refund" in err["message"]
    view = _status(client, auth, payment)
    assert view["status"] == "submitted_for_settlement" and view["receipt_number"]


def test_cancel_unknown_payment_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.post(f"{API}/payments/pay_nope/cancel", headers=auth)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


# --------------------------------------------------------------------------- expiry
def _move_clock(ctx: Context, minutes: int) -> None:
    real_now = datetime.now(UTC)
    ctx.clock = lambda: real_now + timedelta(minutes=minutes)


def test_link_is_open_before_its_ttl(
    client: FlaskClient, ctx: Context, auth: dict[str, str]
) -> None:
    payment = _create(client, auth)
    _move_clock(ctx, 14)
    assert client.get(f"/pay/p/{_token(payment)}").status_code == 200


def test_expired_link_page_then_pay(
    client: FlaskClient, ctx: Context, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    payment = _create(client, auth)
    _move_clock(ctx, 16)
    page = client.get(f"/pay/p/{_token(payment)}")
    assert page.status_code == 410
    assert b"expired" in page.data
    paid = _pay(client, payment)
    assert paid.status_code == 410
    assert paid.get_json()["error"]["code"] == "link_expired"
    assert "expired" in paid.get_json()["error"]["message"]
    view = _status(client, auth, payment)
    assert view["status"] == "expired"
    assert view["pay_link"]["state"] == "expired"
    assert sandbox.sales_count(f"{payment['id']}-1") == 0


def test_expired_link_paid_without_opening_the_page_marks_the_payment_expired(
    client: FlaskClient, ctx: Context, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    payment = _create(client, auth)
    _move_clock(ctx, 16)
    paid = _pay(client, payment)
    assert paid.status_code == 410
    assert paid.get_json()["error"]["code"] == "link_expired"
    assert sandbox.sales_count(f"{payment['id']}-1") == 0
    view = _status(client, auth, payment)
    assert view["pay_link"]["state"] == "expired"
    assert view["status"] == "expired"


# --------------------------------------------------------------------------- attempts
def test_declines_count_down_then_the_link_locks(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    payment = _create(client, auth)
    assert payment["pay_link"]["attempts_left"] == 5
    for attempt in range(1, 6):
        resp = _pay(client, payment, DECLINE_NONCE)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["status"] == "declined"
        assert body["attempts_left"] == 5 - attempt
        decline = body["decline"]
        assert decline["message"] == "The card issuer declined the payment."
        # the customer reads words addressed to them, not the agent's advice
        assert decline["next_step"] == "Please try another card, or contact your bank."
        text = json.dumps(body)
        assert "Do Not Honor" not in text and "do not honor" not in text.lower()
        assert "processor_declined" not in text
        assert sandbox.sales_count(f"{payment['id']}-{attempt}") == 1
        assert body["receipt_number"] is None

    view = _status(client, auth, payment)
    assert view["pay_link"]["state"] == "locked"
    assert view["pay_link"]["attempts_left"] == 0
    assert "Do Not Honor" not in json.dumps(view)

    sixth = _pay(client, payment)  # even a good card is refused now
    assert sixth.status_code == 410
    assert sixth.get_json()["error"]["code"] == "link_locked"
    assert sandbox.sales_count(f"{payment['id']}-6") == 0


def _lock(client: FlaskClient, auth: dict[str, str]) -> dict[str, Any]:
    payment = _create(client, auth)
    for _ in range(5):
        assert _pay(client, payment, DECLINE_NONCE).get_json()["status"] == "declined"
    return payment


def test_locked_link_page_says_too_many_attempts(client: FlaskClient, auth: dict[str, str]) -> None:
    payment = _lock(client, auth)
    page = client.get(f"/pay/p/{_token(payment)}")
    assert page.status_code == 410
    assert b"Too many attempts" in page.data
    assert b"pay-form" not in page.data


def test_a_decline_then_a_good_card_succeeds(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    payment = _create(client, auth)
    assert _pay(client, payment, DECLINE_NONCE).get_json()["status"] == "declined"
    ok = _pay(client, payment)
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["status"] == "submitted_for_settlement"
    assert body["decline"] is None and body["receipt_number"].startswith("R-")
    assert sandbox.sales_count(f"{payment['id']}-2") == 1


def test_unknown_link_is_404_for_the_customer(client: FlaskClient) -> None:
    resp = client.post(
        "/pay/p/not-a-real-token/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
    assert client.get("/pay/p/not-a-real-token").status_code == 404
