"""Refunds from the console's payment page: the agent limit, step-up MFA for a
supervisor above it, one refund per form however often it is sent, clear refusals."""

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


def _refund_form(client: FlaskClient, payment_id: str) -> dict[str, str]:
    html = client.get(f"/pay/agent/payments/{payment_id}").text
    assert 'id="refund-form"' in html, "the payment page offers no refund"
    key = re.search(r'name="refund_key" value="([^"]+)"', html)
    assert key
    return {"csrf_token": csrf_of(html), "refund_key": key.group(1)}


def _refund(client: FlaskClient, payment_id: str, **fields: str) -> str:
    """Send the refund form; returns the notice of the page it lands on."""
    data = {**_refund_form(client, payment_id), **fields}
    resp = client.post(f"/pay/agent/payments/{payment_id}/refund", data=data)
    assert resp.status_code == 302, resp.text
    notices = re.findall(
        r'<p class="flash [a-z]+" role="status">([^<]*)</p>', client.get(resp.location).text
    )
    assert notices, "no notice shown"
    return " ".join(notices).replace("&#39;", "'")


def _refunded(client: FlaskClient, auth: dict[str, str], payment_id: str) -> str:
    return client.get(f"/pay/api/v1/payments/{payment_id}", headers=auth).get_json()["refunded"]


def test_an_unsettled_payment_is_voided_in_full(
    app: Flask, signed_in: Callable[[str], FlaskClient], supervisor: dict[str, str]
) -> None:
    api = app.test_client()
    payment = paid(api, supervisor, "60.00")
    boss = signed_in("supervisor")
    page = _refund(boss, payment["id"], scope="part", amount="20.00")
    assert "Nothing was refunded" in page and "can only be voided in full" in page
    assert _refunded(api, supervisor, payment["id"]) == "0.00"
    page = _refund(boss, payment["id"], scope="full")
    assert "Payment voided: the charge of USD 60.00 is cancelled" in page


def test_a_supervisor_refunds_part_then_the_rest(
    app: Flask, signed_in: Callable[[str], FlaskClient], supervisor: dict[str, str], sandbox: Any
) -> None:
    api = app.test_client()
    payment = paid(api, supervisor, "60.00")
    sandbox.settle(payment["psp_reference"])
    before = balance(api, supervisor)
    boss = signed_in("supervisor")
    page = _refund(boss, payment["id"], scope="part", amount="20.00")
    assert "Payment refunded: USD 20.00" in page
    assert _refunded(api, supervisor, payment["id"]) == "20.00"
    page = _refund(boss, payment["id"], scope="full")
    assert "Payment refunded: USD 60.00 back to the customer's card in all" in page
    assert _refunded(api, supervisor, payment["id"]) == "60.00"
    assert balance(api, supervisor) != before
    assert 'id="refund-form"' not in boss.get(f"/pay/agent/payments/{payment['id']}").text


def test_the_same_form_sent_twice_refunds_once(
    app: Flask, signed_in: Callable[[str], FlaskClient], supervisor: dict[str, str], sandbox: Any
) -> None:
    api = app.test_client()
    payment = paid(api, supervisor, "60.00")
    sandbox.settle(payment["psp_reference"])
    boss = signed_in("supervisor")
    data = {**_refund_form(boss, payment["id"]), "scope": "part", "amount": "10.00"}
    for _ in range(2):  # a double click, or a reload that re-sends the form
        resp = boss.post(f"/pay/agent/payments/{payment['id']}/refund", data=data)
        assert resp.status_code == 302
    assert _refunded(api, supervisor, payment["id"]) == "10.00"


def test_an_agent_above_the_limit_is_told_and_nothing_is_refunded(
    app: Flask, ctx: Context, agent: FlaskClient, users: dict[str, int], supervisor: dict[str, str]
) -> None:
    api = app.test_client()
    payment_id = paid(api, supervisor, "30.00")["id"]
    with ctx.db.transaction() as s:  # as if the agent had taken it in the console
        s.get(Payment, payment_id).created_by = f"user:{users['agent']}:agent@example.com"
    before = balance(api, supervisor)
    page = _refund(agent, payment_id, scope="full")
    assert "Nothing was refunded" in page and "need a supervisor" in page
    assert _refunded(api, supervisor, payment_id) == "0.00"
    assert balance(api, supervisor) == before


def test_bad_refund_input_is_refused_clearly(
    app: Flask, signed_in: Callable[[str], FlaskClient], supervisor: dict[str, str]
) -> None:
    api = app.test_client()
    payment = paid(api, supervisor, "60.00")
    boss = signed_in("supervisor")
    assert "Type the amount to refund" in _refund(boss, payment["id"], scope="part", amount="")
    assert "Nothing was refunded" in _refund(boss, payment["id"], scope="part", amount="12,50")
    assert "Nothing was refunded" in _refund(boss, payment["id"], scope="part", amount="61.00")
    assert _refunded(api, supervisor, payment["id"]) == "0.00"


def test_a_supervisor_confirms_mfa_before_a_refund_above_the_agent_limit(
    app: Flask, ctx: Context, users: dict[str, int], supervisor: dict[str, str], clock: Clock
) -> None:
    seed = mfa.start_enrolment(ctx, users["supervisor"])
    mfa.confirm_enrolment(ctx, users["supervisor"], pyotp.TOTP(seed).at(clock.now))
    api = app.test_client()
    payment = paid(api, supervisor, "60.00")
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

    data = {**_refund_form(boss, payment["id"]), "scope": "full"}
    resp = boss.post(f"/pay/agent/payments/{payment['id']}/refund", data=data)
    assert resp.status_code == 302 and "/agent/security/verify" in resp.location
    verify = boss.get(resp.location)
    assert "Nothing was refunded" in verify.text
    assert _refunded(api, supervisor, payment["id"]) == "0.00"

    confirmed = boss.post(
        "/pay/agent/security/verify",
        data={
            "csrf_token": csrf_of(verify.text),
            "next": f"/pay/agent/payments/{payment['id']}",
            "code": pyotp.TOTP(seed).at(clock.now),
        },
    )
    assert confirmed.status_code == 302
    page = _refund(boss, payment["id"], scope="full")
    assert "Payment voided: the charge of USD 60.00 is cancelled" in page
    view = api.get(f"/pay/api/v1/payments/{payment['id']}", headers=supervisor).get_json()
    assert view["status"] == "voided"
