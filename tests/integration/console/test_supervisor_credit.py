"""A supervisor applies an overpayment's credit to an invoice from the overpaid case's
page (and through the API): the invoice is paid in the ledger, the credit is gone, the
case is resolved and the customer told; a second try books nothing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from agent_ui.console_session import console_cookie, flash
from crm_pay.current import get_context
from crm_pay.persistence.models import Case, OutboxMessage
from paytest import csrf_of, paid


def _overpaid_case(client: FlaskClient, auth: dict[str, str]) -> tuple[int, dict]:
    """30.00 paid with only 10.00 asked for INV-1004: 20.00 credit, INV-1001 still open."""
    payment = paid(client, auth, "30.00", allocations={"INV-1004": "10.00"})
    with get_context(client.application).db.transaction() as s:
        case_id = s.scalars(
            select(Case.id).where(Case.kind == "overpaid", Case.payment_id == payment["id"])
        ).one()
    return int(case_id), payment


def _customer(client: FlaskClient, auth: dict[str, str]) -> dict:
    return client.get("/pay/api/v1/customers/CUST-0001", headers=auth).get_json()


def _owed(customer: dict, ref: str) -> Decimal:
    return next(Decimal(i["outstanding"]) for i in customer["invoices"] if i["number"] == ref)


def test_the_credit_pays_an_invoice_from_the_case_page(
    client: FlaskClient, auth: dict[str, str], signed_in: Callable[..., FlaskClient]
) -> None:
    case_id, _ = _overpaid_case(client, auth)
    before = _customer(client, auth)
    sup = signed_in("supervisor")
    page = sup.get(f"/pay/supervisor/cases/{case_id}")
    assert 'id="apply-credit-form"' in page.text
    assert "20.00 USD of credit" in page.text
    # the generic resolve offers no "credit applied" without booking it
    assert 'value="credit_applied"' not in page.text

    resp = sup.post(
        f"/pay/supervisor/cases/{case_id}/apply-credit",
        data={"csrf_token": csrf_of(page.text), "invoice": "INV-1001", "amount": "", "note": ""},
    )
    assert resp.status_code == 302
    after = sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert "Credit applied to the invoice" in after
    assert 'id="case-done"' in after

    customer = _customer(client, auth)
    assert _owed(customer, "INV-1001") == _owed(before, "INV-1001") - Decimal("20.00")
    assert Decimal(customer["balance"]) == Decimal(before["balance"])  # credit was owed to them
    with get_context(client.application).db.transaction() as s:
        topics = list(s.scalars(select(OutboxMessage.topic)))
    assert "customer.case_update" in topics

    again = sup.post(
        f"/pay/supervisor/cases/{case_id}/apply-credit",
        data={"csrf_token": csrf_of(page.text), "invoice": "INV-1001"},
    )
    assert again.status_code == 302
    assert "Not done" in sup.get(f"/pay/supervisor/cases/{case_id}").text
    assert _owed(_customer(client, auth), "INV-1001") == _owed(customer, "INV-1001")


def test_the_api_applies_the_credit_and_refuses_bad_input_clearly(
    client: FlaskClient, auth: dict[str, str], supervisor: dict[str, str]
) -> None:
    case_id, _ = _overpaid_case(client, auth)
    before = _customer(client, auth)
    url = f"/pay/api/v1/cases/{case_id}/apply-credit"

    too_much = client.post(url, json={"invoice": "INV-1001", "amount": "25.00"}, headers=supervisor)
    unknown = client.post(url, json={"invoice": "INV-0000"}, headers=supervisor)
    as_agent = client.post(url, json={"invoice": "INV-1001"}, headers=auth)
    assert too_much.status_code == 422 and "credit" in too_much.get_json()["error"]["message"]
    assert unknown.get_json()["error"]["code"] == "invoice_not_found"
    assert as_agent.status_code == 403
    assert _customer(client, auth)["invoices"] == before["invoices"]  # nothing booked

    done = client.post(url, json={"invoice": "INV-1001", "amount": "5.00"}, headers=supervisor)
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["applied"], body["credit"], body["case"]["resolution_code"]) == (
        "5.00",
        "15.00",
        "credit_applied",
    )
    twice = client.post(url, json={"invoice": "INV-1001"}, headers=supervisor)
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "case_resolved"


def test_a_card_number_in_a_console_notice_is_redacted_before_the_cookie_keeps_it(
    app: Flask,
) -> None:
    """Refusals repeat what was typed (an invoice field holding a card number); the
    notice lives in crm-pay's cookie, so it is redacted when it is kept. Braintree's
    published Visa test number."""
    with app.test_request_context("/pay/agent/"):
        flash("Not done: invoice 4111 1111 1111 1111 is not on the account", "warning")
        kept = console_cookie()["notices"]
    assert kept == [["warning", "Not done: invoice [REDACTED PAN] is not on the account"]]
