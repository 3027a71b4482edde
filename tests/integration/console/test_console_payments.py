"""Take payment from the console: links, cards on file, validation, idempotency, CSRF,
who may see a payment, cancel, the live panel's markup and the receipt PDF."""

from __future__ import annotations

import re
from collections.abc import Callable

from console_helpers import form_of
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import AuditEntry, Payment
from crm_pay.services.context import Context


def _payments(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def _take(client: FlaskClient, crm_ref: str = "CUST-0001", **fields: object):
    data = {**form_of(client, crm_ref), "channel": "email", **fields}
    return client.post(f"/pay/agent/customers/{crm_ref}/payments", data=data), data


def test_pay_link_for_ticked_invoices_opens_the_live_panel(agent: FlaskClient, ctx: Context):
    resp, _ = _take(agent, invoice=["INV-1001", "INV-1004"])
    assert resp.status_code == 302
    payment_id = resp.location.rsplit("/", 1)[1]
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        assert payment.channel == "link" and payment.status == "awaiting_customer"
        assert set(payment.requested_allocations) == {"INV-1001", "INV-1004"}
        assert payment.created_by.startswith("user:")
    page = agent.get(resp.location)
    assert page.status_code == 200
    html = page.text
    for step in ("sent", "opened", "number", "expirationDate", "cvv", "postalCode", "result"):
        assert f'data-step="{step}"' in html
    assert 'id="payment-status"' in html and 'id="link-expiry"' in html
    assert 'data-socket-path="/pay/socket.io"' in html and 'data-namespace="/live"' in html
    assert "<script>" not in html.split("<body>")[1].replace("<script src=", "")  # no inline
    assert "socket.io.min.js" in html and "console.js" in html


def test_double_submit_creates_one_payment(agent: FlaskClient, ctx: Context):
    first, data = _take(agent, amount="25.00")
    again = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    assert _payments(ctx) == 1


def test_a_partial_amount_over_ticked_invoices_is_spread_oldest_first(
    agent: FlaskClient, ctx: Context
):
    resp, _ = _take(agent, invoice=["INV-1001", "INV-1004"], amount="10.00")
    payment_id = resp.location.rsplit("/", 1)[1]
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None and payment.amount_minor == 1000
        assert payment.requested_allocations == {"INV-1001": 1000}


def test_bad_amounts_are_explained_next_to_the_form_and_values_kept(
    agent: FlaskClient, ctx: Context
):
    cases = {
        "12.345": "more decimals than USD allows",
        "-5": "the amount is not valid",
        "0": "more than zero",
        "": "Tick the invoices",
    }
    for amount, message in cases.items():
        resp, _ = _take(agent, amount=amount)
        assert resp.status_code == 422, amount
        assert 'id="error-amount"' in resp.text and message in resp.text, amount
        assert f'value="{amount}"' in resp.text
    too_much, _ = _take(agent, invoice=["INV-1004"], amount="99999.00")
    assert too_much.status_code == 422 and "more than the ticked invoices owe" in too_much.text
    assert re.search(r'value="INV-1004"\s+checked', too_much.text)  # the ticks are kept
    assert _payments(ctx) == 0


def test_a_card_on_file_needs_the_customers_consent(agent: FlaskClient, ctx: Context):
    resp, data = _take(agent, channel="card", card="demo-token-visa-1111", amount="15.00")
    assert resp.status_code == 422 and 'id="error-consent"' in resp.text
    assert _payments(ctx) == 0
    ok = agent.post("/pay/agent/customers/CUST-0001/payments", data={**data, "consent": "yes"})
    assert ok.status_code == 302
    page = agent.get(ok.location)
    assert 'id="receipt-number"' in page.text and "Payment method: Visa ending 1111" in page.text
    with ctx.db.transaction() as s:
        payment = s.scalars(select(Payment)).one()
        assert payment.channel == "vaulted" and payment.card_last4 == "1111"
        consent = s.scalars(select(AuditEntry).where(AuditEntry.subject == payment.id)).all()
        assert consent  # the attempt is on the audit trail with its actor
    number = page.text.split('id="receipt-number">')[1].split("<")[0]
    pdf = agent.get(f"/pay/agent/receipts/{number}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert agent.get("/pay/agent/receipts/R-0000-000000.pdf").status_code == 404


def test_without_or_with_a_wrong_csrf_token_nothing_is_created(agent: FlaskClient, ctx: Context):
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "5.00"}
    missing = {k: v for k, v in data.items() if k != "csrf_token"}
    assert agent.post("/pay/agent/customers/CUST-0001/payments", data=missing).status_code == 400
    forged = {**data, "csrf_token": "forged"}
    assert agent.post("/pay/agent/customers/CUST-0001/payments", data=forged).status_code == 400
    fetch = agent.post(
        "/pay/agent/customers/CUST-0001/payments",
        data=missing,
        headers={"X-CSRF-Token": "forged"},
    )
    assert fetch.status_code == 400 and fetch.get_json()["error"]["code"] == "csrf_failed"
    assert _payments(ctx) == 0
    with_header = agent.post(
        "/pay/agent/customers/CUST-0001/payments",
        data=missing,
        headers={"X-CSRF-Token": data["csrf_token"]},
    )
    assert with_header.status_code == 302 and _payments(ctx) == 1


def test_only_the_creator_and_supervisors_see_a_payment(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
):
    resp, _ = _take(agent, amount="5.00")
    url = resp.location
    other = signed_in("agent2")
    assert other.get(url).status_code == 403
    assert other.get(url + "/status").status_code == 403
    token = form_of(other, "CUST-0001")["csrf_token"]
    assert other.post(url + "/cancel", data={"csrf_token": token}).status_code == 403
    assert signed_in("supervisor").get(url).status_code == 200
    assert signed_in("admin").get(url).status_code == 200
    assert agent.get(url + "/status").get_json()["status"] == "awaiting_customer"


def test_cancel_from_the_console(agent: FlaskClient, ctx: Context):
    resp, data = _take(agent, amount="5.00")
    url = resp.location
    asked = agent.post(url + "/cancel", data={"csrf_token": data["csrf_token"]})
    assert asked.status_code == 200 and 'id="cancel-confirm-form"' in asked.text
    assert 'data-status="awaiting_customer"' in agent.get(url).text  # one POST cancels nothing
    done = agent.post(url + "/cancel", data={"csrf_token": data["csrf_token"], "confirm": "yes"})
    assert done.status_code == 302
    page = agent.get(url)
    assert "Payment cancelled" in page.text
    assert 'data-status="cancelled"' in page.text
    assert 'id="cancel-form"' not in page.text


def test_resend_without_a_messaging_service_says_so(agent: FlaskClient):
    resp, data = _take(agent, amount="5.00")
    reply = agent.post(
        resp.location + "/resend", data={"csrf_token": data["csrf_token"], "channel": "sms"}
    )
    assert reply.status_code == 302
    page = agent.get(resp.location)
    assert 'class="flash' in page.text  # sent again, or why not: never silent
