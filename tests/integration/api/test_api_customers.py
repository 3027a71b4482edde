"""GET /customers/<ref> and the phone / email search, including a CRM read outage."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from crm_pay.services.context import Context

BASE = "/pay/api/v1/customers"


def test_customer_panel_shows_balance_invoices_and_cards(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    resp = client.get(f"{BASE}/CUST-0001", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    c = resp.get_json()
    assert c["crm_ref"] == "CUST-0001"
    assert c["name"] == "Eleanor Whitfield"
    assert c["currency"] == "USD"
    assert c["balance"] == "628.39"
    assert c["credit"] == "0.00"
    invoices = {i["number"]: i for i in c["invoices"]}
    assert set(invoices) == {"INV-1001", "INV-1004"}
    inv = invoices["INV-1001"]
    assert (inv["total"], inv["paid"], inv["outstanding"], inv["status"]) == (
        "541.30",
        "0.00",
        "541.30",
        "open",
    )
    assert inv["shipping"] == "35.00"
    assert inv["tax"] == "41.30"
    assert inv["tax_label"] == "NY sales tax 8.88%"
    assert [(x["description"], x["quantity"], x["unit_price"], x["tax"]) for x in inv["lines"]] == [
        ("Cedar raised garden bed, 4 x 8 ft", 2, "189.00", "33.57"),
        ("Organic potting soil, 40 qt", 6, "14.50", "7.73"),
    ]
    # Lines + tax + shipping add up to the invoice total.
    net = sum(int(x["unit_price"].replace(".", "")) * x["quantity"] for x in inv["lines"])
    assert net + 4130 + 3500 == 54130
    assert invoices["INV-1004"]["shipping"] == "0.00"
    # Oldest due first.
    assert [i["number"] for i in c["invoices"]] == ["INV-1001", "INV-1004"]

    cards = c["cards_on_file"]
    assert [(k["brand"], k["last4"]) for k in cards] == [("Visa", "1111"), ("MasterCard", "4444")]
    assert cards[0]["default"] is True
    for card in cards:
        # "method" is how a receipt names it, "consent" the customer's consent when they
        # saved it on the pay page (None for a card the CRM lists)
        assert set(card) <= {"id", "brand", "last4", "expiry", "default", "method", "consent"}
        assert card["method"] == f"{card['brand']} ending {card['last4']}"
        assert not {"bin", "number", "pan", "cvv"} & set(card)
    # Nothing that could be a card number anywhere in the answer.
    assert not re.search(r"\d{13,}", resp.get_data(as_text=True))
    assert not re.search(r"\d{13,}", json.dumps(c))


def test_customer_without_invoices_has_zero_balance(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    c = client.get(f"{BASE}/CUST-0005", headers=auth).get_json()
    assert (c["balance"], c["credit"], c["invoices"], c["cards_on_file"]) == (
        "0.00",
        "0.00",
        [],
        [],
    )


def test_paid_invoices_in_the_crm_are_not_open(client: FlaskClient, auth: dict[str, str]) -> None:
    c = client.get(f"{BASE}/CUST-0006", headers=auth).get_json()
    assert [i["number"] for i in c["invoices"]] == ["INV-1008"]  # INV-1009 is paid


def test_unknown_customer_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.get(f"{BASE}/CUST-9999", headers=auth)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
    assert "CUST-9999" in resp.get_json()["error"]["message"]


def _refs(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.get_json()
    return sorted(c["crm_ref"] for c in resp.get_json()["customers"])


def test_phone_search_returns_everyone_on_that_line(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    resp = client.get(BASE, query_string={"phone": "+14155550142"}, headers=auth)
    assert _refs(resp) == ["CUST-0003", "CUST-0004"]
    found = resp.get_json()["customers"]
    assert {c["name"] for c in found} == {"Priya Raman", "Arjun Raman"}
    assert _refs(client.get(BASE, query_string={"phone": "+19995550000"}, headers=auth)) == []


@pytest.mark.parametrize("phone", ["5551234", "4155550142", "(415) 555-0142", "+0123456789"])
def test_phone_not_in_e164_is_422_explaining_the_form(
    client: FlaskClient, auth: dict[str, str], phone: str
) -> None:
    resp = client.get(BASE, query_string={"phone": phone}, headers=auth)
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "invalid_request"
    assert "E.164" in err["message"] and "+1555" in err["message"]


def test_email_search_is_case_insensitive(client: FlaskClient, auth: dict[str, str]) -> None:
    for email in (
        "priya.raman@example.com",
        "Priya.Raman@EXAMPLE.com",
        " PRIYA.RAMAN@example.COM ",
    ):
        resp = client.get(BASE, query_string={"email": email}, headers=auth)
        assert _refs(resp) == ["CUST-0003"], email
    assert _refs(client.get(BASE, query_string={"email": "nobody@example.com"}, headers=auth)) == []


def test_bad_email_is_422(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.get(BASE, query_string={"email": "not-an-email"}, headers=auth)
    assert resp.status_code == 422


@pytest.mark.parametrize(
    "query",
    [{}, {"phone": "", "email": ""}, {"phone": "+14155550142", "email": "priya.raman@example.com"}],
)
def test_search_needs_exactly_one_of_phone_or_email(
    client: FlaskClient, auth: dict[str, str], query: dict[str, str]
) -> None:
    resp = client.get(BASE, query_string=query, headers=auth)
    assert resp.status_code == 422
    msg = resp.get_json()["error"]["message"]
    assert "phone" in msg and "email" in msg


def _crm_reads_down(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: Any, **__: Any) -> Any:
        raise ConnectionError("crm.example.test: connection refused")

    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    for name in ("find_customer", "open_invoices", "find_customers_by_phone"):
        monkeypatch.setattr(crm, name, down)


def test_crm_outage_for_a_customer_never_seen_is_503(
    client: FlaskClient, ctx: Context, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _crm_reads_down(ctx, monkeypatch)
    resp = client.get(f"{BASE}/CUST-0002", headers=auth)
    assert resp.status_code == 503
    err = resp.get_json()["error"]
    assert err["code"] == "crm_unavailable"
    assert "CRM" in err["message"] and "try again" in err["message"].lower()
    assert "connection refused" not in err["message"]  # no internals
    # Phone search has no stored copy to fall back to: also a clear 503.
    resp = client.get(BASE, query_string={"phone": "+14155550142"}, headers=auth)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "crm_unavailable"


def test_crm_outage_for_a_known_customer_serves_our_copy(
    client: FlaskClient, ctx: Context, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = client.get(f"{BASE}/CUST-0001", headers=auth).get_json()
    _crm_reads_down(ctx, monkeypatch)
    resp = client.get(f"{BASE}/CUST-0001", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    after = resp.get_json()
    assert after["balance"] == before["balance"] == "628.39"
    assert [i["number"] for i in after["invoices"]] == ["INV-1001", "INV-1004"]
    assert after["name"] == "Eleanor Whitfield"
    # A pay link can still be sent from our copy.
    pay = client.post(
        "/pay/api/v1/payments",
        json={"customer": "CUST-0001", "amount": "10.00", "currency": "USD"},
        headers={**auth, "Idempotency-Key": "outage-1"},
    )
    assert pay.status_code == 201, pay.get_json()
