"""A payment by secure link, end to end through the JSON API, the pay endpoint and the
Braintree development sandbox."""

from __future__ import annotations

from flask.testing import FlaskClient

from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay, token_of


def test_partial_invoice_payment_updates_balance_invoice_and_receipt(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer, ctx: Context
) -> None:
    before = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()
    assert before["balance"] == "628.39"  # INV-1001 541.30 + INV-1004 87.09
    status, payment = create_link(
        client, auth, amount="100.00", allocations={"INV-1004": "50.00", "INV-1001": "50.00"}
    )
    assert status == 201, payment
    assert payment["status"] == "awaiting_customer"
    assert payment["pay_url"].startswith("http://shop.test/pay/p/")

    page = client.get(f"/pay/p/{token_of(payment['pay_url'])}")
    assert page.status_code == 200
    assert b"USD 100.00" in page.data and b"Eleanor Whitfield" in page.data

    resp = pay(client, payment["pay_url"])
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()
    assert result["status"] == "submitted_for_settlement"
    assert result["receipt_number"].startswith("R-")
    assert sandbox.sales_count(f"{payment['id']}-1") == 1

    after = client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()
    assert after["balance"] == "528.39"
    status_by_invoice = {i["number"]: (i["status"], i["paid"]) for i in after["invoices"]}
    assert status_by_invoice == {
        "INV-1001": ("partially_paid", "50.00"),
        "INV-1004": ("partially_paid", "50.00"),
    }

    receipt = client.get(f"/pay/api/v1/receipts/{result['receipt_number']}", headers=auth)
    assert receipt.status_code == 200
    body = receipt.get_json()
    assert body["amount_paid"] == "100.00"
    assert body["method"] == "Visa ending 1881"  # fake-valid-nonce is Braintree's Visa 1881
    pdf = client.get(f"/pay/api/v1/receipts/{result['receipt_number']}.pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # The CRM learns about it through the outbox.
    report = make_dispatcher(ctx).drain()
    assert report.sent >= 3
    crm = ctx.crm
    pushed = crm.payments_for("CUST-0001")
    assert [p["status"] for p in pushed] == ["submitted_for_settlement"]
    balance, credit = crm.balance_of("CUST-0001")
    assert (balance.to_decimal_str(), credit.to_decimal_str()) == ("528.39", "0.00")
    assert crm.receipts_for("CUST-0001") == [result["receipt_number"]]


def test_used_link_answers_clearly_and_charges_nothing_more(
    client: FlaskClient, auth: dict[str, str], sandbox: SandboxServer
) -> None:
    _, payment = create_link(client, auth, amount="10.00")
    assert pay(client, payment["pay_url"]).status_code == 200
    again = pay(client, payment["pay_url"])
    assert again.status_code == 410
    assert again.get_json()["error"]["code"] == "link_used"
    page = client.get(f"/pay/p/{token_of(payment['pay_url'])}")
    assert b"already been made" in page.data
    assert sandbox.sales_count(f"{payment['id']}-1") == 1
    assert sandbox.sales_count(f"{payment['id']}-2") == 0
