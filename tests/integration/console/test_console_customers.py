"""Screen-pop by CRM id, phone and email; the customer panel; escaping; agent-keyed."""

from __future__ import annotations

from flask.testing import FlaskClient

from crm_pay.ports import CrmCustomer
from crm_pay.services.context import Context
from paytest import login


def test_screen_pop_by_crm_id_shows_the_customer_panel(agent: FlaskClient):
    page = agent.get("/pay/agent/customers/CUST-0001")
    assert page.status_code == 200
    html = page.text
    assert "Eleanor Whitfield" in html
    assert 'id="balance"' in html and 'id="credit"' in html
    assert 'data-invoice="INV-1001"' in html and 'data-invoice="INV-1004"' in html
    assert "Cedar raised garden bed" in html  # invoice lines
    assert "NY sales tax 8.88%" in html and "Shipping" in html
    assert "Visa ending 1111" in html and "exp 12/2030" in html  # cards: brand + last 4 only
    assert "411111" not in html  # not even the BIN


def test_an_unknown_crm_id_says_so(agent: FlaskClient):
    page = agent.get("/pay/agent/customers/CUST-9999")
    assert page.status_code == 404
    assert "no customer" in page.text


def test_phone_lookup_with_one_match_opens_the_customer(agent: FlaskClient):
    resp = agent.get("/pay/agent/lookup?phone=%2B12125550101")
    assert resp.status_code == 302
    assert resp.location.endswith("/pay/agent/customers/CUST-0001")
    # an unencoded "+" arrives as a space; separators are forgiven
    assert agent.get("/pay/agent/lookup?phone=+12125550101").status_code == 302
    # a national number is read as North American (+1), as the builtin CRM reads them
    assert agent.get("/pay/agent/lookup?q=(212) 555-0101").location.endswith("/CUST-0001")


def test_phone_lookup_with_several_matches_offers_a_pick_list(agent: FlaskClient):
    page = agent.get("/pay/agent/lookup?phone=%2B14155550142")
    assert page.status_code == 200
    assert 'id="pick-list"' in page.text
    assert 'data-crm-ref="CUST-0003"' in page.text and 'data-crm-ref="CUST-0004"' in page.text


def test_lookup_without_a_match_or_with_a_bad_number_explains(agent: FlaskClient):
    none = agent.get("/pay/agent/lookup?phone=%2B19995550000")
    assert none.status_code == 404 and 'id="no-match"' in none.text
    bad = agent.get("/pay/agent/lookup?phone=hello")
    assert bad.status_code == 422 and "E.164" in bad.text


def test_search_box_takes_ids_phones_and_emails(agent: FlaskClient):
    assert agent.get("/pay/agent/lookup?q=CUST-0002").location.endswith("/customers/CUST-0002")
    by_mail = agent.get("/pay/agent/lookup?q=marcus.oyelaran@example.com")
    assert by_mail.location.endswith("/customers/CUST-0002")
    assert agent.get("/pay/agent/lookup?q=%2B14155550142").status_code == 200


def test_customer_data_is_escaped(agent: FlaskClient, ctx: Context):
    evil = "<script>alert(1)</script>"
    ctx.crm.add_customer(
        CrmCustomer("CUST-EVIL", evil, email="evil@example.com", phone="+15550001111")
    )
    page = agent.get("/pay/agent/customers/CUST-EVIL")
    assert page.status_code == 200
    assert evil not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    picks = agent.get("/pay/agent/lookup?q=%3Cscript%3E%40example.com")
    assert "<script>" not in picks.text


def test_agent_keyed_entry_is_hidden_unless_turned_on(agent: FlaskClient, make_app, users):
    assert 'id="agent-keyed"' not in agent.get("/pay/agent/customers/CUST-0001").text

    on = make_app(CRM_PAY_ALLOW_AGENT_KEYED=True).test_client()
    login(on, "agent@example.com")
    html = on.get("/pay/agent/customers/CUST-0001").text
    assert 'id="agent-keyed"' in html and "PCI scope" in html
    assert 'name="card_number"' not in html


def test_console_pages_need_a_signed_in_user(client: FlaskClient):
    for path in ("/pay/agent/", "/pay/agent/customers/CUST-0001", "/pay/agent/lookup?q=x"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/pay/agent/login" in resp.location
    with client.get("/pay/agent/static/crm_pay/console.css") as css:
        assert css.status_code == 200
