"""Receipt PDFs in the console: the payment's creator and supervisors/admins only.

Receipt numbers are sequential (R-2026-000001, ...), so any agent able to open any
number could read every customer's receipts. Another agent's receipt answers exactly
like a number that does not exist: nothing tells which numbers are real."""

from __future__ import annotations

from collections.abc import Callable

from console_helpers import form_of
from flask import Flask
from flask.testing import FlaskClient


def _receipt_of_a_card_payment(agent: FlaskClient) -> str:
    """A card-on-file payment the agent takes; it is approved at once, with a receipt."""
    data = {
        **form_of(agent, "CUST-0001"),
        "channel": "card",
        "card": "demo-token-visa-1111",
        "amount": "15.00",
        "consent": "yes",
    }
    taken = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert taken.status_code == 302
    page = agent.get(taken.location).text
    return page.split('id="receipt-number">')[1].split("<")[0]


def test_the_agent_who_took_the_payment_downloads_its_receipt(agent: FlaskClient) -> None:
    number = _receipt_of_a_card_payment(agent)
    pdf = agent.get(f"/pay/agent/receipts/{number}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Cache-Control"] == "no-store"


def test_another_agent_gets_the_same_404_as_for_a_number_that_does_not_exist(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    number = _receipt_of_a_card_payment(agent)
    other = signed_in("agent2")
    theirs = other.get(f"/pay/agent/receipts/{number}.pdf")
    missing = other.get("/pay/agent/receipts/R-2099-999999.pdf")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text  # same page: the number is not confirmed
    assert b"%PDF" not in theirs.data
    # ... and the receipt is still there for its owner: nothing was changed by the probe.
    assert agent.get(f"/pay/agent/receipts/{number}.pdf").status_code == 200


def test_supervisors_and_admins_download_any_receipt(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    number = _receipt_of_a_card_payment(agent)
    for role in ("supervisor", "admin"):
        pdf = signed_in(role).get(f"/pay/agent/receipts/{number}.pdf")
        assert pdf.status_code == 200, role
        assert pdf.data.startswith(b"%PDF"), role


def test_signed_out_visitors_are_sent_to_sign_in(agent: FlaskClient, app: Flask) -> None:
    number = _receipt_of_a_card_payment(agent)
    anonymous = app.test_client().get(f"/pay/agent/receipts/{number}.pdf")
    assert anonymous.status_code == 302 and "/pay/agent/login" in anonymous.location


def test_the_customer_page_links_only_the_receipts_the_agent_may_open(
    agent: FlaskClient, signed_in: Callable[[str], FlaskClient]
) -> None:
    number = _receipt_of_a_card_payment(agent)
    mine = agent.get("/pay/agent/customers/CUST-0001").text
    assert f"/receipts/{number}.pdf" in mine
    # Another agent sees the number in the customer's history, without a link that
    # would answer 404; a supervisor gets the link.
    theirs = signed_in("agent2").get("/pay/agent/customers/CUST-0001").text
    assert number in theirs and f"/receipts/{number}.pdf" not in theirs
    assert (
        f"/receipts/{number}.pdf"
        in signed_in("supervisor").get("/pay/agent/customers/CUST-0001").text
    )
