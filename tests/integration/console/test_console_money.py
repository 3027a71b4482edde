"""Money operations in the console: an agent's refund above the limit goes to the
supervisor's approvals page and moves nothing until approved; an agent records a manual
payment that a supervisor approves (then it is on the balance, with a receipt, once);
"my payments today"; refunds with their reason and receipt on the payment and customer
pages; nobody approves their own request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from crm_pay.persistence.models import Payment
from crm_pay.services import mfa
from crm_pay.services.context import Context
from crm_pay.testing import Clock
from paytest import balance, csrf_of, login, paid

TEST_PAN = "4111111111111111"  # Braintree's published Visa test number


def _notices(client: FlaskClient, location: str) -> str:
    html = client.get(location).text
    found = re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', html)
    return " ".join(found).replace("&#39;", "'")


def _agents_payment(
    app: Flask, ctx: Context, supervisor: dict[str, str], users: dict[str, int], sandbox: Any
) -> dict[str, Any]:
    payment = paid(app.test_client(), supervisor, "60.00")
    sandbox.settle(payment["psp_reference"])
    with ctx.db.transaction() as s:  # as if the agent had taken it in the console
        s.get(Payment, payment["id"]).created_by = f"user:{users['agent']}:agent@example.com"
    return payment


def _approve_first(boss: FlaskClient, note: str = "") -> Any:
    page = boss.get("/pay/supervisor/approvals").text
    action = re.search(r'action="(/pay/supervisor/approvals/[^"/]+/approve)"', page)
    key = re.search(r'name="approval_key" value="([^"]+)"', page)
    assert action and key, page
    return boss.post(
        action.group(1),
        data={"csrf_token": csrf_of(page), "approval_key": key.group(1), "note": note},
    )


def _refund_form(client: FlaskClient, payment_id: str) -> dict[str, str]:
    html = client.get(f"/pay/agent/payments/{payment_id}").text
    key = re.search(r'name="refund_key" value="([^"]+)"', html)
    assert key, html
    return {"csrf_token": csrf_of(html), "refund_key": key.group(1)}


def test_an_agents_refund_above_the_limit_waits_for_the_supervisors_approval(
    app: Flask,
    ctx: Context,
    agent: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    users: dict[str, int],
    supervisor: dict[str, str],
    sandbox: Any,
) -> None:
    payment = _agents_payment(app, ctx, supervisor, users, sandbox)
    api = app.test_client()
    before = balance(api, supervisor)
    data = {**_refund_form(agent, payment["id"]), "scope": "full", "reason": "Order cancelled"}

    resp = agent.post(f"/pay/agent/payments/{payment['id']}/refund", data=data)

    assert "sent to a supervisor for approval. Nothing was refunded yet" in _notices(
        agent, resp.location
    )
    assert balance(api, supervisor) == before
    assert not [
        t
        for t in sandbox.transactions
        if t["type"] == "credit" and t.get("refunded_transaction_id") == payment["psp_reference"]
    ]
    page = agent.get(f"/pay/agent/payments/{payment['id']}").text
    assert "Refund waiting for a supervisor" in page and "Order cancelled" in page
    assert agent.get("/pay/supervisor/approvals").status_code == 403

    boss = signed_in("supervisor")
    listed = boss.get("/pay/supervisor/approvals").text
    assert "Order cancelled" in listed and "agent@example.com" in listed and "USD 60.00" in listed
    done = _approve_first(boss, "checked")

    assert "approved and booked" in _notices(boss, done.location)
    view = api.get(f"/pay/api/v1/payments/{payment['id']}", headers=supervisor).get_json()
    assert view["refunded"] == "60.00"
    [receipt] = view["refund_receipts"]
    page = agent.get(f"/pay/agent/payments/{payment['id']}").text
    assert "Refunded" in page and "Order cancelled" in page and receipt in page
    customer = agent.get("/pay/agent/customers/CUST-0001").text
    assert 'id="money-history"' in customer and receipt in customer


def test_a_supervisor_cannot_approve_their_own_request(
    app: Flask, ctx: Context, users: dict[str, int], signed_in: Callable[[str], FlaskClient]
) -> None:
    boss = signed_in("supervisor")
    form = boss.get("/pay/agent/customers/CUST-0001/manual-payment").text
    key = re.search(r'name="manual_key" value="([^"]+)"', form)
    assert key
    boss.post(
        "/pay/agent/customers/CUST-0001/manual-payment",
        data={
            "csrf_token": csrf_of(form),
            "manual_key": key.group(1),
            "amount": "10.00",
            "currency": "USD",
            "method": "cash",
            "reference": "till 2",
        },
    )

    resp = _approve_first(boss)

    assert "Not approved: you made this request yourself" in _notices(boss, resp.location)


def test_an_agent_records_a_manual_payment_and_a_supervisor_approves_it(
    app: Flask,
    agent: FlaskClient,
    signed_in: Callable[[str], FlaskClient],
    supervisor: dict[str, str],
) -> None:
    api = app.test_client()
    before = balance(api, supervisor)
    form = agent.get("/pay/agent/customers/CUST-0001/manual-payment").text
    key = re.search(r'name="manual_key" value="([^"]+)"', form)
    assert key and "INV-" in form
    data = {
        "csrf_token": csrf_of(form),
        "manual_key": key.group(1),
        "amount": "30.00",
        "currency": "USD",
        "method": "cheque",
        "reference": "CHQ 000123",
        "note": "Cheque in the post",
    }

    for _ in range(2):  # a double click records it once
        resp = agent.post("/pay/agent/customers/CUST-0001/manual-payment", data=data)
        assert resp.status_code == 302, resp.text
    mine = agent.get(resp.location).text
    assert "a supervisor must approve it" in mine
    assert mine.count('data-kind="manual_payment"') == 1
    assert balance(api, supervisor) == before

    boss = signed_in("supervisor")
    done = _approve_first(boss)

    notice = _notices(boss, done.location)
    assert "Manual payment of USD 30.00 for CUST-0001 approved and booked" in notice
    number = re.search(r"Receipt (R-\d{4}-\d{6})", notice)
    assert number
    today = agent.get("/pay/agent/payments").text
    assert 'data-channel="manual"' in today and number.group(1) in today
    assert float(balance(api, supervisor)) == float(before) - 30


def test_bad_manual_payment_input_is_shown_next_to_the_form_and_nothing_is_kept(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    form = agent.get("/pay/agent/customers/CUST-0001/manual-payment").text
    key = re.search(r'name="manual_key" value="([^"]+)"', form)
    assert key
    base = {
        "csrf_token": csrf_of(form),
        "manual_key": key.group(1),
        "currency": "USD",
        "method": "cheque",
        "reference": "CHQ 9",
    }
    for amount, words in (("", "Type the amount"), ("12,50", "not valid"), ("0", "more than zero")):
        resp = agent.post(
            "/pay/agent/customers/CUST-0001/manual-payment", data={**base, "amount": amount}
        )
        assert resp.status_code == 422 and words in resp.text
    no_ref = agent.post(
        "/pay/agent/customers/CUST-0001/manual-payment",
        data={**base, "amount": "5.00", "reference": ""},
    )
    assert no_ref.status_code == 422 and "reference is required" in no_ref.text
    assert 'id="no-approvals"' in signed_in("supervisor").get("/pay/supervisor/approvals").text


def test_a_card_number_typed_in_a_manual_payment_never_reaches_a_page(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    form = agent.get("/pay/agent/customers/CUST-0001/manual-payment").text
    key = re.search(r'name="manual_key" value="([^"]+)"', form)
    assert key
    agent.post(
        "/pay/agent/customers/CUST-0001/manual-payment",
        data={
            "csrf_token": csrf_of(form),
            "manual_key": key.group(1),
            "amount": "5.00",
            "currency": "USD",
            "method": "card_terminal",
            "reference": f"slip {TEST_PAN}",
            "note": f"card {TEST_PAN}",
        },
    )
    boss = signed_in("supervisor")
    assert TEST_PAN not in boss.get("/pay/supervisor/approvals").text
    _approve_first(boss)
    assert TEST_PAN not in agent.get("/pay/agent/payments").text
    assert TEST_PAN not in boss.get("/pay/supervisor/approvals?state=approved").text


def test_a_supervisor_with_mfa_confirms_a_code_before_approving(
    app: Flask,
    ctx: Context,
    agent: FlaskClient,
    users: dict[str, int],
    clock: Clock,
    supervisor: dict[str, str],
) -> None:
    seed = mfa.start_enrolment(ctx, users["supervisor"])
    mfa.confirm_enrolment(ctx, users["supervisor"], pyotp.TOTP(seed).at(clock.now))
    form = agent.get("/pay/agent/customers/CUST-0001/manual-payment").text
    key = re.search(r'name="manual_key" value="([^"]+)"', form)
    assert key
    agent.post(
        "/pay/agent/customers/CUST-0001/manual-payment",
        data={
            "csrf_token": csrf_of(form),
            "manual_key": key.group(1),
            "amount": "8.00",
            "currency": "USD",
            "method": "cash",
            "reference": "till 1",
        },
    )
    before = balance(app.test_client(), supervisor)
    boss = app.test_client()
    code_page = login(boss, "supervisor@example.com")
    pending = re.search(r'name="pending" value="([^"]+)"', code_page.text)
    assert pending, code_page.text
    clock.advance(31)
    signed = boss.post(
        "/pay/agent/mfa/code",
        data={"pending": pending.group(1), "code": pyotp.TOTP(seed).at(clock.now)},
    )
    assert signed.status_code == 302
    clock.advance(int(app.config["CRM_PAY_MFA_STEP_UP_SECONDS"]) + 31)

    resp = _approve_first(boss)

    assert resp.status_code == 302 and "/agent/security/verify" in resp.location
    assert "Nothing was approved" in boss.get(resp.location).text
    assert balance(app.test_client(), supervisor) == before
