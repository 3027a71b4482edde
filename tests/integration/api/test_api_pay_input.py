"""The customer's ``POST /p/<token>/pay`` refuses malformed input cleanly.

Whatever a broken page, a script or an attacker posts instead of a hosted-fields nonce, the
answer is a 4xx with a plain message, and nothing changes: the payment's status, its
attempt counter, the link's attempts left and its events stay as they were, and the
sandbox sees no sale. The link still takes a good payment afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.persistence.models import PayLink, Payment, PaymentEventRow
from crm_pay.services.context import Context
from paytest import create_link, pay, token_of

# Braintree's published Visa test number: what a PAN in device_data would look like.
TEST_PAN = "4111111111111111"
BAD_NONCE = "invalid_payment_method_nonce"
BAD_DEVICE = "invalid_device_data"


@pytest.fixture
def link(client: FlaskClient, auth: dict[str, str]) -> dict[str, Any]:
    status, body = create_link(client, auth, amount="25.00")
    assert status == 201, body
    return body


def _state(ctx: Context, payment_id: str) -> tuple[Any, ...]:
    """Everything a refused request must leave untouched."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        pay_link = s.scalars(select(PayLink).where(PayLink.payment_id == payment_id)).one()
        events = s.scalar(
            select(func.count())
            .select_from(PaymentEventRow)
            .where(PaymentEventRow.payment_id == payment_id)
        )
        return (
            payment.status,
            payment.attempt,
            pay_link.failed_attempts,
            pay_link.used_at,
            events,
        )


def _post_json(client: FlaskClient, link: dict[str, Any], body: Any) -> Any:
    return client.post(
        f"/pay/p/{token_of(link['pay_url'])}/pay",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Accept": "application/json"},
    )


def _post_form(client: FlaskClient, link: dict[str, Any], fields: Any, **headers: str) -> Any:
    return client.post(
        f"/pay/p/{token_of(link['pay_url'])}/pay",
        data=fields,
        headers={"Accept": "application/json", **headers},
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"payment_method_nonce": ["fake-valid-nonce"]}, BAD_NONCE),
        ({"payment_method_nonce": 12345}, BAD_NONCE),
        ({"payment_method_nonce": {"nonce": "fake-valid-nonce"}}, BAD_NONCE),
        ({"payment_method_nonce": True}, BAD_NONCE),
        ({"payment_method_nonce": "fake-valid-nonce'; DROP TABLE x;--"}, BAD_NONCE),
        ({"payment_method_nonce": "fake-valid-nonce\n"}, BAD_NONCE),
        ({"payment_method_nonce": "n" * 129}, BAD_NONCE),
        ({"payment_method_nonce": "fake-valid-nonce", "device_data": {"a": 1}}, BAD_DEVICE),
        ({"payment_method_nonce": "fake-valid-nonce", "device_data": "x" * 4001}, BAD_DEVICE),
        ({"payment_method_nonce": "fake-valid-nonce", "device_data": '{"a":"\x07"}'}, BAD_DEVICE),
        (["fake-valid-nonce"], "invalid_request_body"),
        ("fake-valid-nonce", "invalid_request_body"),
    ],
    ids=[
        "nonce-list",
        "nonce-number",
        "nonce-object",
        "nonce-bool",
        "nonce-bad-characters",
        "nonce-newline",
        "nonce-too-long",
        "device-data-object",
        "device-data-too-long",
        "device-data-control-char",
        "body-is-a-list",
        "body-is-a-string",
    ],
)
def test_malformed_json_is_a_400_and_changes_nothing(
    client: FlaskClient,
    ctx: Context,
    sandbox: SandboxServer,
    link: dict[str, Any],
    body: Any,
    code: str,
) -> None:
    before = _state(ctx, link["id"])
    resp = _post_json(client, link, body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == code
    assert error["message"] and "Traceback" not in error["message"]
    assert _state(ctx, link["id"]) == before
    assert sandbox.sales_count(f"{link['id']}-1") == 0


def test_a_missing_nonce_is_refused_and_changes_nothing(
    client: FlaskClient, ctx: Context, link: dict[str, Any]
) -> None:
    before = _state(ctx, link["id"])
    for resp in (
        _post_json(client, link, {}),
        _post_json(client, link, {"payment_method_nonce": None}),
        _post_form(client, link, {"payment_method_nonce": ""}),
        _post_form(client, link, {}),
    ):
        assert resp.status_code == 422
        assert "enter your card again" in resp.get_json()["error"]["message"]
    assert _state(ctx, link["id"]) == before


def test_a_nonce_posted_twice_in_a_form_is_refused(
    client: FlaskClient, ctx: Context, sandbox: SandboxServer, link: dict[str, Any]
) -> None:
    before = _state(ctx, link["id"])
    resp = _post_form(
        client, link, {"payment_method_nonce": ["fake-valid-nonce", "fake-valid-visa-nonce"]}
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_payment_method_nonce"
    assert _state(ctx, link["id"]) == before
    assert sandbox.sales_count(f"{link['id']}-1") == 0


def test_a_card_number_in_device_data_is_refused_and_never_echoed(
    client: FlaskClient, ctx: Context, sandbox: SandboxServer, link: dict[str, Any]
) -> None:
    before = _state(ctx, link["id"])
    device_data = json.dumps({"correlation_id": TEST_PAN})
    resp = _post_form(
        client, link, {"payment_method_nonce": "fake-valid-nonce", "device_data": device_data}
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_device_data"
    assert TEST_PAN not in resp.get_data(as_text=True)
    assert _state(ctx, link["id"]) == before
    assert sandbox.sales_count(f"{link['id']}-1") == 0


def test_the_html_form_gets_a_plain_page_not_a_stack_trace(
    client: FlaskClient, ctx: Context, link: dict[str, Any]
) -> None:
    before = _state(ctx, link["id"])
    resp = client.post(
        f"/pay/p/{token_of(link['pay_url'])}/pay",
        data={"payment_method_nonce": "<script>alert(1)</script>"},
        headers={"Accept": "text/html"},
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    assert "enter your card again" in page
    assert "We could not read the card details" in page
    assert f'href="/pay/p/{token_of(link["pay_url"])}"' in page  # the way back to the form
    assert "<script>alert(1)</script>" not in page and "Traceback" not in page
    assert _state(ctx, link["id"]) == before


@pytest.mark.parametrize("token", ["t" * 201, "not a token", "%00"])
def test_a_malformed_link_token_is_a_404(client: FlaskClient, token: str) -> None:
    resp = client.post(
        f"/pay/p/{token}/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_after_refused_posts_the_link_still_takes_the_payment(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, link: dict[str, Any]
) -> None:
    attempts_left = link["pay_link"]["attempts_left"]
    for body in ({"payment_method_nonce": ["x"]}, {"payment_method_nonce": "bad nonce"}):
        assert _post_json(client, link, body).status_code == 400
    device_data = json.dumps({"correlation_id": "c0ffee42", "device_session_id": "ab12"})
    resp = _post_json(
        client, link, {"payment_method_nonce": "fake-valid-nonce", "device_data": device_data}
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "submitted_for_settlement"
    assert body["attempts_left"] == attempts_left
    assert sandbox.sales_count(f"{link['id']}-1") == 1
    assert pay(client, link["pay_url"]).get_json()["error"]["code"] == "link_used"
