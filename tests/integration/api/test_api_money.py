"""The money-operations API against the Braintree development sandbox: refunds with a
reason, an agent's refund above the limit held for a supervisor (the sandbox sees no
refund and the ledger does not move until it is approved), manual payments booked once
after approval however the approve is retried, and clear refusals of bad input."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from crm_pay.testing import OutboxRunner
from paytest import balance, paid

API = "/pay/api/v1"
TEST_PAN = "4111111111111111"  # Braintree's published Visa test number


def _post(client: FlaskClient, path: str, headers: dict[str, str], body: Any, key: str = "") -> Any:
    return client.post(
        f"{API}{path}", json=body, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )


def _credits_of(sandbox: Any, sale_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in sandbox.transactions
        if t["type"] == "credit" and t.get("refunded_transaction_id") == sale_id
    ]


def _second_supervisor(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(ctx, name='sup2', role='supervisor')}"}


def test_a_supervisor_refunds_with_a_reason_and_gets_a_refund_receipt(
    client: FlaskClient, supervisor: dict[str, str], sandbox: Any
) -> None:
    payment = paid(client, supervisor, "60.00")
    sandbox.settle(payment["psp_reference"])

    resp = _post(
        client,
        "/refunds",
        supervisor,
        {"payment_id": payment["id"], "amount": "15.00", "reason": "Item arrived damaged"},
    )

    assert resp.status_code == 201, resp.get_json()
    answer = resp.get_json()
    assert answer["outcome"] == "refunded" and answer["payment"]["refunded"] == "15.00"
    [number] = answer["payment"]["refund_receipts"]
    listed = client.get(f"{API}/refunds?payment_id={payment['id']}", headers=supervisor).get_json()
    [row] = listed["refunds"]
    assert (row["amount"], row["reason"], row["receipt_number"]) == (
        "15.00",
        "Item arrived damaged",
        number,
    )
    receipt = client.get(f"{API}/receipts/{number}", headers=supervisor).get_json()
    assert receipt["kind"] == "refund" and receipt["amount_refunded"] == "15.00"


def test_the_payment_refund_route_now_takes_a_reason(
    client: FlaskClient, supervisor: dict[str, str], sandbox: Any
) -> None:
    payment = paid(client, supervisor, "20.00")
    sandbox.settle(payment["psp_reference"])

    resp = _post(client, f"/payments/{payment['id']}/refund", supervisor, {"reason": "Goodwill"})

    assert resp.status_code == 201, resp.get_json()
    [row] = client.get(f"{API}/refunds", headers=supervisor).get_json()["refunds"]
    assert row["reason"] == "Goodwill"


def test_an_agents_refund_above_the_limit_waits_for_a_supervisor(
    app: Flask, client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str], sandbox: Any
) -> None:
    payment = paid(client, auth, "60.00")  # the agent key's own payment
    sandbox.settle(payment["psp_reference"])
    before = balance(client, auth)

    resp = _post(
        client,
        "/refunds",
        auth,
        {"payment_id": payment["id"], "amount": "40.00", "reason": "Cancelled order"},
    )

    assert resp.status_code == 202, resp.get_json()
    request = resp.get_json()["approval"]
    assert request["state"] == "pending" and request["amount"] == "40.00"
    assert _credits_of(sandbox, payment["psp_reference"]) == []
    assert balance(client, auth) == before
    assert client.get(f"{API}/payments/{payment['id']}", headers=auth).get_json()["refunded"] == (
        "0.00"
    )
    [pending] = client.get(f"{API}/refunds", headers=auth).get_json()["requests"]
    assert pending["id"] == request["id"]

    own = _post(client, f"/approvals/{request['id']}/approve", auth, {})
    assert own.status_code == 403  # agents never decide

    key = uuid.uuid4().hex
    first = _post(client, f"/approvals/{request['id']}/approve", supervisor, {"note": "ok"}, key)
    again = _post(client, f"/approvals/{request['id']}/approve", supervisor, {"note": "ok"}, key)

    assert first.status_code == 200, first.get_json()
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert [c["amount"] for c in _credits_of(sandbox, payment["psp_reference"])] == ["40.00"]
    assert client.get(f"{API}/payments/{payment['id']}", headers=auth).get_json()["refunded"] == (
        "40.00"
    )
    assert balance(client, auth) != before


def test_the_same_approve_key_with_another_body_is_refused(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    request = _post(
        client,
        "/manual-payments",
        auth,
        {
            "customer": "CUST-0001",
            "amount": "10.00",
            "currency": "USD",
            "method": "cash",
            "reference": "till 4",
        },
    ).get_json()
    key = uuid.uuid4().hex
    assert (
        _post(client, f"/approvals/{request['id']}/approve", supervisor, {}, key).status_code == 200
    )
    other = _post(client, f"/approvals/{request['id']}/approve", supervisor, {"note": "x"}, key)
    assert other.status_code == 422


def test_a_manual_payment_is_booked_once_after_approval(
    ctx: Context, client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    before = balance(client, auth)
    body = {
        "customer": "CUST-0001",
        "amount": "25.00",
        "currency": "USD",
        "method": "bank_transfer",
        "reference": "BACS 20260301-17",
        "note": "paid on the phone call",
    }
    key = uuid.uuid4().hex
    resp = _post(client, "/manual-payments", auth, body, key)
    retry = _post(client, "/manual-payments", auth, body, key)

    assert resp.status_code == 202, resp.get_json()
    assert retry.status_code == 200 and retry.get_json()["id"] == resp.get_json()["id"]
    request = resp.get_json()
    assert balance(client, auth) == before
    OutboxRunner(ctx).drain()

    for who in (supervisor, supervisor, _second_supervisor(ctx)):
        answer = _post(client, f"/approvals/{request['id']}/approve", who, {})
        assert answer.status_code == 200, answer.get_json()
    OutboxRunner(ctx).drain()

    result = answer.get_json()["result"]
    payment = client.get(f"{API}/payments/{result['payment_id']}", headers=auth).get_json()
    assert (payment["channel"], payment["status"], payment["amount"]) == (
        "manual",
        "settled",
        "25.00",
    )
    assert payment["receipt_number"] == result["receipt_number"]
    receipt = client.get(f"{API}/receipts/{result['receipt_number']}", headers=auth).get_json()
    assert receipt["method"] == "Bank transfer" and receipt["amount_paid"] == "25.00"
    listed = client.get(f"{API}/manual-payments", headers=auth).get_json()["manual_payments"]
    assert [m["state"] for m in listed] == ["approved"]
    assert float(balance(client, auth)) == float(before) - 25


def test_bad_money_requests_are_refused_clearly_and_nothing_is_kept(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    manual = {
        "customer": "CUST-0001",
        "amount": "10.00",
        "currency": "USD",
        "method": "cash",
        "reference": "till 4",
    }
    cases = [
        ("/manual-payments", {**manual, "amount": "-1"}, 422),
        ("/manual-payments", {**manual, "method": "barter"}, 422),
        ("/manual-payments", {**manual, "surprise": True}, 422),
        ("/manual-payments", {**manual, "invoices": "INV-1001"}, 422),
        ("/refunds", {"payment_id": "pay_nope", "reason": "x"}, 404),
        (
            "/adjustments",
            {"customer": "CUST-0001", "kind": "write_off", "amount": "5.00", "reason": "old"},
            422,
        ),
        ("/approvals/apr_nope/approve", {}, 404),
    ]
    for path, body, status in cases:
        who = supervisor if "approve" in path else auth
        resp = _post(client, path, who, body)
        assert resp.status_code == status, (path, body, resp.get_json())
        assert resp.get_json()["error"]["message"]
    no_key = client.post(f"{API}/manual-payments", json=manual, headers=auth)
    assert no_key.status_code == 400
    assert no_key.get_json()["error"]["code"] == "idempotency_key_required"
    assert client.get(f"{API}/approvals", headers=supervisor).get_json()["approvals"] == []


def test_no_card_number_reaches_an_approval_or_its_answer(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    body = {
        "customer": "CUST-0001",
        "amount": "10.00",
        "currency": "USD",
        "method": "card_terminal",
        "reference": f"slip {TEST_PAN}",
        "note": TEST_PAN,
    }
    resp = _post(client, "/manual-payments", auth, body)
    assert resp.status_code == 202
    approved = _post(client, f"/approvals/{resp.get_json()['id']}/approve", supervisor, {})
    listed = client.get(f"{API}/approvals", headers=supervisor)
    for answer in (resp, approved, listed):
        assert TEST_PAN not in answer.get_data(as_text=True)


def test_write_off_after_approval_shows_on_the_customer(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    customer = client.get(f"{API}/customers/CUST-0001", headers=auth).get_json()
    invoice = customer["invoices"][0]
    resp = _post(
        client,
        "/adjustments",
        auth,
        {
            "customer": "CUST-0001",
            "kind": "write_off",
            "amount": invoice["outstanding"],
            "invoice": invoice["number"],
            "reason": "Uncollectable",
        },
    )
    assert resp.status_code == 202, resp.get_json()
    assert balance(client, auth) == customer["balance"]

    assert (
        _post(client, f"/approvals/{resp.get_json()['id']}/approve", supervisor, {}).status_code
        == 200
    )

    after = client.get(f"{API}/customers/CUST-0001", headers=auth).get_json()
    written = next(i for i in after["invoices"] if i["number"] == invoice["number"])
    assert written["status"] == "paid"


def test_concurrent_approvals_of_a_manual_payment_book_it_once(
    app: Flask, ctx: Context, client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    body = {
        "customer": "CUST-0001",
        "amount": "12.00",
        "currency": "USD",
        "method": "cash",
        "reference": "till 7",
    }
    request = _post(client, "/manual-payments", auth, body).get_json()
    others = [_second_supervisor(ctx) for _ in range(3)]
    answers: list[int] = []

    def approve(who: dict[str, str]) -> None:
        answers.append(
            _post(app.test_client(), f"/approvals/{request['id']}/approve", who, {}).status_code
        )

    threads = [threading.Thread(target=approve, args=(w,)) for w in (supervisor, *others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert answers == [200] * 4
    with ctx.db.transaction() as s:
        manual = s.scalar(
            select(func.count()).select_from(Payment).where(Payment.channel == "manual")
        )
        receipts = s.scalar(select(func.count()).select_from(ReceiptRow))
    assert (manual, receipts) == (1, 1)


def test_a_supervisor_key_cannot_approve_its_own_request(
    client: FlaskClient, supervisor: dict[str, str]
) -> None:
    body = {
        "customer": "CUST-0001",
        "amount": "9.00",
        "currency": "USD",
        "method": "cash",
        "reference": "till 9",
    }
    request = _post(client, "/manual-payments", supervisor, body).get_json()

    resp = _post(client, f"/approvals/{request['id']}/approve", supervisor, {})

    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "own_request"
    still = client.get(f"{API}/approvals/{request['id']}", headers=supervisor).get_json()
    assert still["state"] == "pending"
