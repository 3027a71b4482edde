"""Console safeguards an agent notices: a card on file charged twice, an amount above
the balance, cancelling by one click, search by the ways people type, notices that say
what the message table says, and "new link, same details"."""

from __future__ import annotations

import re
from typing import Any

from console_helpers import form_of
from flask.testing import FlaskClient
from sqlalchemy import func, select

from agent_ui.console_sending import sent_notice
from crm_pay.persistence.models import Customer, Payment
from crm_pay.ports import CrmCustomer
from crm_pay.services.context import Context
from crm_pay.services.pay_links import pay_url_of
from paytest import csrf_of, pay, token_of

CARD = "demo-token-visa-1111"


def _payments(ctx: Context, **where: Any) -> int:
    stmt = select(func.count()).select_from(Payment)
    for name, value in where.items():
        stmt = stmt.where(getattr(Payment, name) == value)
    with ctx.db.transaction() as s:
        return int(s.scalar(stmt) or 0)


def _charge(agent: FlaskClient, amount: str = "15.00", **extra: Any) -> Any:
    data = {
        **form_of(agent, "CUST-0001"),
        "channel": "card",
        "card": CARD,
        "consent": "yes",
        "amount": amount,
        **extra,
    }
    return agent.post("/pay/agent/customers/CUST-0001/payments", data=data), data


def test_a_second_charge_of_the_same_card_and_amount_needs_a_confirmation(
    agent: FlaskClient, ctx: Context
) -> None:
    first, data = _charge(agent)
    assert first.status_code == 302
    assert _payments(ctx, channel="vaulted") == 1

    # the same form sent again is the same payment (idempotency), not a duplicate
    again = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert again.status_code == 302 and again.location == first.location

    # a new form (Back, then Take payment again): a warning, and nothing is charged
    second, data2 = _charge(agent)
    assert second.status_code == 409
    assert 'id="confirm-duplicate"' in second.text
    assert "charged USD 15.00" in second.text and "a second time" in second.text
    assert _payments(ctx, channel="vaulted") == 1
    # the consent is not carried into the confirmation: asked again
    assert not re.search(r'name="consent" value="yes"[^>]*checked', second.text)

    # a different amount is no duplicate
    other, _ = _charge(agent, amount="16.00")
    assert other.status_code == 302
    assert _payments(ctx, channel="vaulted") == 2

    confirmed = agent.post(
        "/pay/agent/customers/CUST-0001/payments", data={**data2, "confirm": "duplicate"}
    )
    assert confirmed.status_code == 302
    assert _payments(ctx, channel="vaulted") == 3


def test_a_duplicate_is_only_within_the_window(agent: FlaskClient, ctx: Context, clock) -> None:
    assert _charge(agent)[0].status_code == 302
    clock.advance(11 * 60)
    assert _charge(agent)[0].status_code == 302
    assert _payments(ctx, channel="vaulted") == 2


def test_an_amount_above_the_open_balance_needs_a_confirmation(
    agent: FlaskClient, ctx: Context
) -> None:
    page = agent.get("/pay/agent/customers/CUST-0001").text
    balance = re.search(r'id="balance">USD ([\d,.]+)<', page)
    assert balance
    too_much = f"{float(balance.group(1).replace(',', '')) + 500:.2f}"
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": too_much}
    resp = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert resp.status_code == 409
    assert 'id="confirm-over_balance"' in resp.text and "would become credit" in resp.text
    assert f'value="{too_much}"' in resp.text  # nothing the agent typed is lost
    assert _payments(ctx) == 0
    ok = agent.post(
        "/pay/agent/customers/CUST-0001/payments", data={**data, "confirm": "over_balance"}
    )
    assert ok.status_code == 302 and _payments(ctx) == 1
    # at or below the balance: no question
    small = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "1.00"}
    assert agent.post("/pay/agent/customers/CUST-0001/payments", data=small).status_code == 302


def test_the_form_never_brings_back_a_consent(agent: FlaskClient) -> None:
    html = agent.get("/pay/agent/customers/CUST-0001").text
    assert re.search(r'id="take-payment" autocomplete="off"', html)
    assert re.search(r'name="consent" value="yes" autocomplete="off"', html)
    assert "console.js" in html  # clears the tick on a page brought back by Back


def test_search_finds_the_ways_agents_type_a_customer(agent: FlaskClient, ctx: Context) -> None:
    def opens(query: str) -> str:
        resp = agent.get("/pay/agent/lookup", query_string={"q": query})
        assert resp.status_code == 302, (query, resp.status_code)
        return resp.location.rsplit("/", 1)[1]

    for typed in ("(212) 555-0101", "+1 212-555-0101", "212.555.0101", "cust-0001"):
        assert opens(typed) == "CUST-0001", typed
    assert opens("Whitfield") == "CUST-0001"
    assert opens("marcus oye") == "CUST-0002"
    ctx.crm.add_customer(CrmCustomer("CUST-0100", "Ana Rivera", email="ana@example.com"))
    assert opens("Rivera") == "CUST-0100"
    several = agent.get("/pay/agent/lookup", query_string={"q": "raman"})
    assert several.status_code == 200 and 'id="pick-list"' in several.text
    none = agent.get("/pay/agent/lookup", query_string={"q": "Nobody Here"})
    assert none.status_code == 404 and 'id="no-match"' in none.text
    bad = agent.get("/pay/agent/lookup", query_string={"phone": "555"})
    assert bad.status_code == 422 and "country code" in bad.text


def test_search_by_name_falls_back_to_customers_seen_when_the_crm_is_down(
    agent: FlaskClient, ctx: Context, monkeypatch
) -> None:
    agent.get("/pay/agent/customers/CUST-0002")  # seen once: crm-pay keeps a copy
    with ctx.db.transaction() as s:
        assert s.scalar(select(Customer.name).where(Customer.crm_ref == "CUST-0002"))

    def down(*_: Any) -> Any:
        raise ConnectionError("CRM down")

    monkeypatch.setattr(ctx.crm, "find_customer", down)
    monkeypatch.setattr(ctx.crm, "find_customers_by_text", down)
    resp = agent.get("/pay/agent/lookup", query_string={"q": "Oyelaran"})
    assert resp.status_code == 302 and resp.location.endswith("/CUST-0002")
    unseen = agent.get("/pay/agent/lookup", query_string={"q": "Nguyen"})
    assert unseen.status_code == 503 and "not answering" in unseen.text


def test_the_notice_says_queued_while_the_table_says_queued(agent: FlaskClient) -> None:
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "5.00"}
    resp = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    page = agent.get(resp.location).text
    statuses = re.findall(r'<tr data-status="(\w+)" data-kind="pay_link"', page)
    assert statuses == ["queued"]  # no dispatcher runs in these tests
    assert "Email with the pay link queued to send" in page
    assert "Email with the pay link sent." not in page
    # once delivered, the words say so (the live panel turns the row to "sent")
    assert sent_notice("sms", "sent", first=False) == "SMS with the pay link sent again."


def test_cancel_asks_first_and_one_post_cancels_nothing(agent: FlaskClient, ctx: Context) -> None:
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "5.00"}
    url = agent.post("/pay/agent/customers/CUST-0001/payments", data=data).location
    token = data["csrf_token"]
    asked = agent.post(url + "/cancel", data={"csrf_token": token})
    assert asked.status_code == 200 and "Yes, cancel the payment" in asked.text
    assert _payments(ctx, status="awaiting_customer") == 1
    assert agent.post(url + "/cancel", data={"csrf_token": token, "confirm": "no"}).status_code
    assert _payments(ctx, status="awaiting_customer") == 1
    agent.post(url + "/cancel", data={"csrf_token": token, "confirm": "yes"})
    assert _payments(ctx, status="cancelled") == 1


def test_a_new_link_with_the_same_details_in_one_click(agent: FlaskClient, ctx: Context) -> None:
    data = {
        **form_of(agent, "CUST-0001"),
        "channel": "email",
        "invoice": ["INV-1004"],
        "amount": "12.00",
    }
    url = agent.post("/pay/agent/customers/CUST-0001/payments", data=data).location
    old_id = url.rsplit("/", 1)[1]
    page = agent.get(url).text
    assert re.search(r'id="new-link-form"\s+hidden', page)  # the link is open: not offered
    refused = agent.post(
        url + "/new-link", data={"csrf_token": csrf_of(page), "idempotency_key": "k1"}
    )
    assert refused.status_code == 302 and _payments(ctx) == 1

    agent.post(url + "/cancel", data={"csrf_token": data["csrf_token"], "confirm": "yes"})
    page = agent.get(url).text
    assert not re.search(r'id="new-link-form"\s+hidden', page)
    assert 'id="next-steps"' in page and "send a new link with the same details" in page
    assert 'id="resend-form"' not in page and 'id="link-expiry"' not in page
    key = re.search(r'new-link.*?name="idempotency_key" value="([0-9a-f]+)"', page, re.S)
    assert key
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1)}
    made = agent.post(url + "/new-link", data=form)
    again = agent.post(url + "/new-link", data=form)  # a double click: one new payment
    assert made.status_code == again.status_code == 302
    assert made.location == again.location and old_id not in made.location
    new_id = made.location.rsplit("/", 1)[1]
    with ctx.db.transaction() as s:
        old, new = s.get(Payment, old_id), s.get(Payment, new_id)
        assert old is not None and new is not None
        assert (new.amount_minor, new.currency, new.channel) == (1200, "USD", "link")
        assert new.requested_allocations == old.requested_allocations == {"INV-1004": 1200}
        assert new.status == "awaiting_customer"
    new_page = agent.get(made.location).text
    assert re.search(r'data-kind="pay_link" data-channel="email"', new_page)  # sent by email


def test_ask_again_from_the_payment_page(agent: FlaskClient, client: FlaskClient) -> None:
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "7.00"}
    url = agent.post("/pay/agent/customers/CUST-0001/payments", data=data).location
    page = agent.get(url).text
    assert 'aria-live="polite"' in page.split('id="live-ticks"')[1][:80]
    assert page.count('class="ask-again"') == 4
    form = {"csrf_token": data["csrf_token"], "field": "expirationDate"}
    done = agent.post(url + "/ask-again", data=form)
    assert done.status_code == 302
    assert "enter the expiry date again" in agent.get(url).text
    as_json = agent.post(url + "/ask-again", data=form, headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.get_json()["ok"] is True
    wrong = agent.post(url + "/ask-again", data={**form, "field": "pan"})
    assert wrong.status_code == 302
    assert "Choose the field" in agent.get(url).text


def test_the_last_attempt_closes_the_agents_link_actions(
    agent: FlaskClient, client: FlaskClient, ctx: Context
) -> None:
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "amount": "9.00"}
    url = agent.post("/pay/agent/customers/CUST-0001/payments", data=data).location
    payment_id = url.rsplit("/", 1)[1]
    with ctx.db.transaction() as s:
        pay_url = pay_url_of(s, ctx, payment_id)
    assert pay_url
    for _ in range(ctx.settings.pay_link_max_attempts):
        pay(client, pay_url, nonce="fake-processor-declined-visa-nonce")
    page = agent.get(url).text
    assert 'data-link-closed="yes"' in page
    assert 'id="resend-form"' not in page and 'id="link-expiry"' not in page
    assert "That was the last attempt this link allows." in page
    assert re.search(r'id="cancel-form"\s+hidden', page)
    assert 'class="ask-again"' not in page
    assert client.get(f"/pay/p/{token_of(pay_url)}/events").status_code == 410


def test_every_crm_connector_is_asked_for_the_normalized_number(
    agent: FlaskClient, ctx: Context, monkeypatch
) -> None:
    asked: list[str] = []

    def by_phone(e164: str) -> list[CrmCustomer]:
        asked.append(e164)
        return []

    monkeypatch.setattr(ctx.crm, "find_customers_by_phone", by_phone)
    for typed in ("(212) 555-0101", "+1 212-555-0101", "1-212-555-0101", "+44 20 7946 0958"):
        agent.get("/pay/agent/lookup", query_string={"q": typed})
    agent.get("/pay/agent/lookup?phone=+12125550101")  # "+" unencoded: a space
    assert asked == ["+12125550101"] * 3 + ["+442079460958", "+12125550101"]
