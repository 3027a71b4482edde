"""A second PSP proves the port is neutral: the whole app runs on the in-memory fake
gateway of crm_pay.testing (``CRM_PAY_PSP=fake``, one registry line in crm_pay/wiring.py),
with no Braintree code on the path: a link payment, a decline in plain words keyed on
our category, and the fake PSP's own webhook on ``/pay/webhooks/fake``."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.app import create_app
from crm_pay.current import get_context
from crm_pay.page_scripts import pay_page_scripts
from crm_pay.persistence.migrate import upgrade
from crm_pay.ports import CardEntry, CardScript
from crm_pay.services.access import create_api_key
from crm_pay.services.script_inventory import sri, versioned_url
from crm_pay.testing.gateway import FakeGateway

# our script as the page links it: versioned by the content it serves
PAY_JS = versioned_url(
    "/pay/static/crm_pay_ui/crm_pay/pay.js",
    (Path(__file__).resolve().parents[3] / "agent_ui/static/crm_pay/pay.js").read_bytes(),
)


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    app: Flask = create_app(
        {
            "TESTING": True,
            "CRM_PAY_DEV_SECRETS": True,
            "SECRET_KEY": "test-secret-key",
            "CRM_PAY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "CRM_PAY_PUBLIC_URL": "http://shop.test",
            "CRM_PAY_PSP": "fake",
            "CRM_PAY_BUILTIN_CRM_PATH": str(tmp_path / "crm.json"),
            "CRM_PAY_SECURE_COOKIES": False,
            "CRM_PAY_MFA_REQUIRED_ROLES": "",
        },
        instance_path=str(tmp_path / "instance"),
    )
    ctx = get_context(app)
    upgrade(ctx.db)
    key = create_api_key(ctx, name="k-agent", role="agent")
    gateway = ctx.psp.wrapped_adapter
    assert isinstance(gateway, FakeGateway)
    yield {"app": app, "auth": {"Authorization": f"Bearer {key}"}, "gateway": gateway}


def _link(client: FlaskClient, auth: dict[str, str], amount: str) -> dict[str, Any]:
    resp = client.post(
        "/pay/api/v1/payments",
        json={"customer": "CUST-0001", "amount": amount, "currency": "USD"},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def _pay(client: FlaskClient, pay_url: str) -> Any:
    token = pay_url.rsplit("/p/", 1)[1]
    return client.post(
        f"/pay/p/{token}/pay",
        data={"payment_method_nonce": "fake-valid-nonce"},
        headers={"Accept": "application/json"},
    )


def _payment(client: FlaskClient, auth: dict[str, str], payment_id: str) -> dict[str, Any]:
    resp = client.get(f"/pay/api/v1/payments/{payment_id}", headers=auth)
    assert resp.status_code == 200
    return resp.get_json()  # type: ignore[no-any-return]


def test_a_link_payment_is_taken_through_the_fake_psp(world: dict[str, Any]) -> None:
    client, auth, gateway = world["app"].test_client(), world["auth"], world["gateway"]
    link = _link(client, auth, "60.00")
    answer = _pay(client, link["pay_url"])
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "submitted_for_settlement" and body["decline"] is None
    assert body["receipt_number"]
    (sale,) = gateway.transactions("sale")
    assert sale.amount.to_decimal_str() == "60.00"
    payment = _payment(client, auth, link["id"])
    assert payment["psp_reference"] == sale.id
    assert payment["card"] == {"brand": "Visa", "last4": "1111"}


def test_a_decline_gets_our_plain_words(world: dict[str, Any]) -> None:
    client, auth = world["app"].test_client(), world["auth"]
    link = _link(client, auth, "3000.00")  # the fake's insufficient-funds amounts
    body = _pay(client, link["pay_url"]).get_json()
    assert body["status"] == "declined"
    assert body["decline"]["message"] == (
        "The card issuer declined the payment for insufficient funds."
    )
    assert body["decline"]["next_step"] == "Please try another card, or contact your bank."
    assert body["link_state"] == "open"  # the customer may try another card
    payment = _payment(client, auth, link["id"])
    assert payment["decline"]["category"] == "insufficient_funds"
    assert payment["decline"]["code"] == "processor.2001"  # the PSP's raw code, kept
    assert payment["decline"]["next_step"] == (
        "Ask the customer to use another card or contact their bank."
    )
    assert "Insufficient Funds" not in json.dumps(payment)  # the PSP's own text never shown


def test_the_fake_psps_webhook_settles_the_payment(world: dict[str, Any]) -> None:
    client, auth, gateway = world["app"].test_client(), world["auth"], world["gateway"]
    link = _link(client, auth, "45.00")
    _pay(client, link["pay_url"])
    (sale,) = gateway.transactions("sale")
    gateway.settle(sale.id)
    notice = gateway.signed_webhook(
        {"kind": "transaction_settled", "subject_id": sale.id, "transaction_id": sale.id}
    )
    resp = client.post(
        "/pay/webhooks/fake",
        data=notice.payload,
        headers={"X-Fake-Signature": notice.signature, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "processed"
    assert _payment(client, auth, link["id"])["status"] == "settled"


def test_webhooks_of_another_psp_or_unsigned_are_refused(world: dict[str, Any]) -> None:
    client = world["app"].test_client()
    # Braintree is not this app's PSP: its route answers 404, nothing is stored.
    resp = client.post("/pay/webhooks/braintree", data={"bt_signature": "x", "bt_payload": "y"})
    assert resp.status_code == 404
    # The fake PSP's notice with a wrong signature is stored as rejected and refused.
    resp = client.post(
        "/pay/webhooks/fake",
        data=json.dumps({"kind": "transaction_settled", "subject_id": "fk1"}),
        headers={"X-Fake-Signature": "0" * 64, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400


def test_the_pay_page_policy_follows_the_psps_card_entry(world: dict[str, Any]) -> None:
    client, auth = world["app"].test_client(), world["auth"]
    link = _link(client, auth, "12.00")
    token = link["pay_url"].rsplit("/p/", 1)[1]
    resp = client.get(f"/pay/p/{token}")
    assert resp.status_code == 200
    policy = resp.headers["Content-Security-Policy"]
    # The fake PSP declares no hosted-fields origins: nothing of Braintree's is allowed.
    assert "braintree" not in policy
    assert "frame-src;" in policy and "connect-src 'self';" in policy
    # ... and no scripts: the page loads only ours, and script-src is our origin alone.
    assert "script-src 'self';" in policy
    assert _script_srcs(resp.get_data(as_text=True)) == [PAY_JS]


def test_the_pay_page_scripts_are_the_ones_the_psp_declares(world: dict[str, Any]) -> None:
    # A PSP whose hosted fields need a script: its adapter's CardEntry declares it with
    # its pin; the page, its CSP, the admin's inventory and the check follow, no code
    # of crm-pay's changes.
    app, gateway = world["app"], world["gateway"]
    body = b"/* fake psp fields 1.0 */"
    sdk = CardScript("fields", f"{_SDK}/fields.js", "1.0", sri(body), "Fake fields", "Fake PSP")
    gateway.hosted_fields = CardEntry(scripts=(sdk,), frame_origins=(_SDK,))
    client, auth = app.test_client(), world["auth"]
    token = _link(client, auth, "12.00")["pay_url"].rsplit("/p/", 1)[1]
    resp = client.get(f"/pay/p/{token}")
    assert resp.status_code == 200
    assert _script_srcs(resp.get_data(as_text=True)) == [
        f"{_SDK}/fields.js",
        PAY_JS,
    ]
    assert f"script-src 'self' {_SDK};" in resp.headers["Content-Security-Policy"]
    inventory = pay_page_scripts(get_context(app))
    assert inventory is not None
    with responses.RequestsMock() as rsps:
        rsps.get(f"{_SDK}/fields.js", body=body)
        assert {r.name: r.status for r in inventory.check(get_context(app))} == {
            "fields": "ok",
            "pay.js": "ok",
            "pay_wallets.js": "ok",  # ours, loaded only on a page offering a wallet
        }
    # Not pinned: card entry is refused, in the adapter's words.
    gateway.hosted_fields = CardEntry(
        scripts=(dataclasses.replace(sdk, integrity=""),), pin_advice="pin the fake fields"
    )
    refused = client.get(f"/pay/p/{token}")
    assert refused.status_code == 503 and b"fields.js" not in refused.data


_SDK = "https://js.fake-psp.example"


def _script_srcs(html: str) -> list[str]:
    return re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
