"""Fraud rules on the charge path, through the real braintree SDK against the sandbox:
velocity holds the payment after N, a hold settles nothing until a supervisor releases
it (once) or declines it (voided), an agent's amount limit refuses before the PSP, a
CVV mismatch is voided, an AVS mismatch held, and a screening cut short by a crash is
held by the janitor, never booked."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import Case, Payment, Receipt
from crm_pay.services import charging, fraud_rules, janitor
from crm_pay.services.context import Context
from paytest import balance, create_link, pay

VISA = "4111111111111111"  # Braintree's published test Visa


def _rules(ctx: Context, rules: list[dict[str, Any]]) -> None:
    based_on = fraud_rules.current_version(ctx)["version"]
    fraud_rules.save_rules(ctx, rules, actor="user:1:admin@example.com", note="", based_on=based_on)


def _pay_link(
    client: FlaskClient,
    auth: dict[str, str],
    amount: str = "10.00",
    nonce: str = "fake-valid-nonce",
) -> dict[str, Any]:
    status, created = create_link(client, auth, amount=amount)
    assert status == 201, created
    answer = pay(client, created["pay_url"], nonce)
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json(), id=created["id"], pay_url=created["pay_url"])


def _nonce(ctx: Context, sandbox: Any, *, cvv: str = "123", postal_code: str = "94107") -> str:
    token = json.loads(base64.b64decode(ctx.psp.client_token()))
    card = {"number": VISA, "expirationDate": "12/39", "cvv": cvv, "postalCode": postal_code}
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={"authorizationFingerprint": token["authorizationFingerprint"], **card},
        timeout=5,
    ) as response:
        assert response.status_code == 201, response.text
        return str(response.json()["nonce"])


def _psp_status(ctx: Context, payment_id: str) -> str:
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None and payment.psp_transaction_id
        txn_id = payment.psp_transaction_id
    found = ctx.psp.find(txn_id)
    assert found is not None
    return found.status.value


def _receipts(ctx: Context, payment_id: str) -> int:
    with ctx.db.transaction() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Receipt).where(Receipt.payment_id == payment_id)
            )
            or 0
        )


def _case(ctx: Context, payment_id: str) -> Case | None:
    with ctx.db.transaction() as s:
        case = s.scalars(
            select(Case).where(Case.kind == "fraud_review", Case.subject == payment_id)
        ).first()
        if case is not None:
            s.expunge(case)
        return case


def _decide(
    client: FlaskClient, headers: dict[str, str], payment_id: str, action: str, key: str
) -> Any:
    return client.post(
        f"/pay/api/v1/payments/{payment_id}/{action}",
        json={"note": "called the customer back on the number on file"},
        headers={**headers, "Idempotency-Key": key},
    )


def test_without_rules_a_payment_is_one_sale_as_before(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    paid = _pay_link(client, auth)
    assert paid["status"] == "submitted_for_settlement"
    assert paid["receipt_number"].startswith("R-")


def test_a_velocity_rule_holds_the_payment_after_n_until_a_supervisor_releases_it(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], ctx: Context
) -> None:
    _rules(
        ctx,
        [
            {
                "id": "cust-2h",
                "kind": "velocity",
                "scope": "customer",
                "max_payments": 2,
                "window_minutes": 120,
                "action": "review",
            }
        ],
    )
    before = balance(client, auth)
    for _ in range(2):
        assert _pay_link(client, auth)["status"] == "submitted_for_settlement"
    after_two = balance(client, auth)

    held = _pay_link(client, auth)

    assert held["status"] == "held"
    assert held.get("receipt_number") is None
    assert _psp_status(ctx, held["id"]) == "authorized"  # nothing submitted for settlement
    assert balance(client, auth) == after_two != before  # nothing booked for the third
    case = _case(ctx, held["id"])
    assert case is not None and case.status == "open"
    assert "2 earlier payment(s) for this customer" in case.detail["reasons"]
    # the janitor and the settlement sweep leave it as it is
    janitor.run_janitor(ctx)
    assert _psp_status(ctx, held["id"]) == "authorized"
    # the customer cannot pay it again while it is held
    again = pay(client, held["pay_url"])
    assert again.status_code == 409
    assert again.get_json()["error"]["message"] == (
        "Your payment is being confirmed. Please do not pay again."
    )

    key = uuid.uuid4().hex
    released = _decide(client, supervisor, held["id"], "release", key)
    assert released.status_code == 200, released.get_json()
    assert released.get_json()["status"] == "submitted_for_settlement"
    assert released.get_json()["receipt_number"].startswith("R-")
    again = _decide(client, supervisor, held["id"], "release", key)
    assert again.status_code == 200
    assert again.get_json()["receipt_number"] == released.get_json()["receipt_number"]
    assert _receipts(ctx, held["id"]) == 1
    assert _psp_status(ctx, held["id"]) == "submitted_for_settlement"
    case = _case(ctx, held["id"])
    assert case is not None and case.resolution_code == "released"
    # the same key for another decision is refused, nothing changes
    other = _decide(client, supervisor, held["id"], "decline", key)
    assert other.status_code == 422


def test_a_supervisor_declines_a_held_payment_and_its_authorization_is_voided(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], ctx: Context
) -> None:
    _rules(
        ctx,
        [
            {
                "id": "cust",
                "kind": "velocity",
                "scope": "customer",
                "max_payments": 0,
                "window_minutes": 60,
                "action": "review",
            }
        ],
    )
    held = _pay_link(client, auth)
    assert held["status"] == "held"
    owed = balance(client, auth)

    answer = _decide(client, supervisor, held["id"], "decline", uuid.uuid4().hex)

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "declined"
    assert body["decline"]["message"] == "The payment could not be approved."
    assert _psp_status(ctx, held["id"]) == "voided"
    assert balance(client, auth) == owed
    assert _receipts(ctx, held["id"]) == 0
    # an agent's key may not decide
    refused = _decide(client, auth, held["id"], "release", uuid.uuid4().hex)
    assert refused.status_code == 403


def test_an_amount_limit_for_one_agent_refuses_before_the_psp_is_called(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _rules(
        ctx,
        [
            {
                "id": "tests-50",
                "kind": "amount_limit",
                "agent": "tests",
                "max_amount": "50.00",
                "currency": "USD",
                "action": "decline",
            }
        ],
    )
    small = _pay_link(client, auth, amount="40.00")
    assert small["status"] == "submitted_for_settlement"

    big = _pay_link(client, auth, amount="60.00")

    assert big["status"] == "declined"
    assert big["decline"]["message"] == "The payment could not be approved."
    with ctx.db.transaction() as s:
        payment = s.get(Payment, big["id"])
        assert payment is not None
        assert payment.psp_transaction_id is None  # the PSP was never asked
    assert ctx.psp.find_by_order_id(f"{big['id']}-1") == []


def test_a_cvv_mismatch_is_declined_and_its_authorization_voided(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: Any
) -> None:
    _rules(ctx, [{"id": "cvv", "kind": "cvv", "responses": {"N": "decline"}}])

    declined = _pay_link(client, auth, nonce=_nonce(ctx, sandbox, cvv="200"))

    assert declined["status"] == "declined"
    assert declined["decline"]["message"] == "The payment could not be approved."
    assert _psp_status(ctx, declined["id"]) == "voided"
    assert _receipts(ctx, declined["id"]) == 0
    # a matching CVV goes through: authorized, then submitted after the decision
    fine = _pay_link(client, auth, nonce=_nonce(ctx, sandbox, cvv="123"))
    assert fine["status"] == "submitted_for_settlement"
    assert _psp_status(ctx, fine["id"]) == "submitted_for_settlement"


def test_an_avs_postal_code_mismatch_is_held_for_review(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: Any
) -> None:
    _rules(ctx, [{"id": "avs", "kind": "avs_postal_code", "responses": {"N": "review"}}])

    held = _pay_link(client, auth, nonce=_nonce(ctx, sandbox, postal_code="20000"))

    assert held["status"] == "held"
    case = _case(ctx, held["id"])
    assert case is not None
    assert "postal code check answered 'N'" in case.detail["reasons"]


def test_the_same_card_is_counted_by_its_fingerprint(
    client: FlaskClient, auth: dict[str, str], ctx: Context, sandbox: Any
) -> None:
    _rules(
        ctx,
        [
            {
                "id": "card",
                "kind": "velocity",
                "scope": "card",
                "max_payments": 1,
                "window_minutes": 60,
                "action": "review",
            }
        ],
    )
    first = _pay_link(client, auth, nonce=_nonce(ctx, sandbox))
    assert first["status"] == "submitted_for_settlement"
    second = _pay_link(client, auth, nonce=_nonce(ctx, sandbox))
    assert second["status"] == "held"
    case = _case(ctx, second["id"])
    assert case is not None
    with ctx.db.transaction() as s:
        payment = s.get(Payment, second["id"])
        assert payment is not None and payment.card_fingerprint
        assert payment.card_fingerprint not in json.dumps(case.detail)  # shown shortened


def test_a_screening_cut_short_after_the_authorization_is_held_by_the_janitor(
    client: FlaskClient, auth: dict[str, str], ctx: Context, monkeypatch: Any
) -> None:
    _rules(ctx, [{"id": "cvv", "kind": "cvv", "responses": {"N": "decline"}}])

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("the process died after the authorization")

    monkeypatch.setattr(charging, "_decide", crash)
    status, created = create_link(client, auth, amount="10.00")
    assert status == 201
    with pytest.raises(SystemExit):
        pay(client, created["pay_url"])
    monkeypatch.undo()
    later = ctx.now() + timedelta(minutes=5)
    monkeypatch.setattr(ctx, "clock", lambda: later)

    janitor.run_janitor(ctx)

    with ctx.db.transaction() as s:
        payment = s.get(Payment, created["id"])
        assert payment is not None
        assert payment.status == "held"
    assert _receipts(ctx, created["id"]) == 0
    case = _case(ctx, created["id"])
    assert case is not None and "stopped after the card was authorized" in case.detail["reasons"]
