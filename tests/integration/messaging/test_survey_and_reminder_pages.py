"""The customer's pages behind the links in our emails (satisfaction survey, a
reminder's "pay now", the reminders opt-out) and the admin's customer-messages pages,
through HTTP on the sandbox app."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from crm_pay.services.context import Context
from crm_pay.services.customers import sync_customer
from crm_pay.services.reminders import RuleForm, run_due_reminders, save_rule
from crm_pay.worker import make_dispatcher
from paytest import csrf_of, paid, pay
from vault import pan


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"CRM_PAY_CSAT": True}


def _emails(ctx: Context, words: str) -> list[str]:
    make_dispatcher(ctx).drain()
    mailbox: Any = ctx.email
    found = []
    for entry in mailbox.list_messages():
        message = mailbox.read(entry.message_id)
        if words in entry.subject:
            found.append(message.text)
    return found


def _path(text: str, what: str) -> str:
    [url] = re.findall(rf"http://shop\.test(/pay/{what}/\S+)", text)
    return url


def _no_script_headers(page: Any) -> None:
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" not in page.get_data(as_text=True)


def test_a_customer_answers_the_survey_once_and_a_second_answer_is_refused_kindly(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    paid(client, auth, "25.00")
    [receipt] = _emails(ctx, "Your receipt")
    url = _path(receipt, "survey")

    form = client.get(url)
    assert form.status_code == 200 and "How did we do?" in form.text
    _no_script_headers(form)
    bad = client.post(url, data={"score": "9", "comment": "keep me"})
    assert bad.status_code == 422
    assert "choose a score from 1 to 5" in bad.text and "keep me" in bad.text

    done = client.post(url, data={"score": "5", "comment": "Easy 4111 1111 1111 1111"})
    assert done.status_code == 200 and "Your answer has reached" in done.text
    again = client.post(url, data={"score": "1", "comment": ""})
    assert again.status_code == 409 and "answered already" in again.text
    assert "answered already" in client.get(url).text
    assert not pan.contains_pan(done.text + again.text)


def test_a_forged_or_expired_survey_link_says_what_happened(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    paid(client, auth, "26.00")
    url = _path(_emails(ctx, "Your receipt")[0], "survey")
    forged = client.get(url[:-3] + "abc")
    assert forged.status_code == 404 and "not valid" in forged.text
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(days=31)
    closed = client.post(url, data={"score": "4"})
    assert closed.status_code == 410 and "closed" in closed.text


def _reminder(ctx: Context) -> str:
    # INV-1001 of CUST-0001 in the demo CRM fell due 15 days ago.
    save_rule(
        ctx, RuleForm(name="Overdue", offset_days="1", max_reminders="1"), actor="admin:tests"
    )
    sync_customer(ctx, "CUST-0001")
    assert run_due_reminders(ctx)["sent"] >= 1  # INV-1001 and any other overdue one
    [text] = _emails(ctx, "Overdue: invoice INV-1001")
    return text


def test_a_reminder_s_pay_now_page_opens_a_pay_link_only_when_the_customer_continues(
    client: FlaskClient, ctx: Context
) -> None:
    text = _reminder(ctx)
    url = _path(text, "reminders/pay")
    page = client.get(url)
    assert page.status_code == 200 and "INV-1001" in page.text
    _no_script_headers(page)
    again = client.get(url)  # a GET creates nothing: a mail scanner pays nobody's invoice
    assert again.text == page.text

    go = client.post(url)
    assert go.status_code == 303 and "/pay/p/" in go.location
    assert client.post(url).location == go.location  # the same link while it is open
    assert pay(client, go.location).get_json()["status"] in ("submitted_for_settlement", "settled")
    assert "Nothing is left to pay" in client.get(url).text
    assert "Nothing is left to pay" in client.post(url).text


def test_the_opt_out_link_asks_first_then_records_once(client: FlaskClient, ctx: Context) -> None:
    url = _path(_reminder(ctx), "reminders/opt-out")
    ask = client.get(url)
    assert ask.status_code == 200 and "Stop payment reminders" in ask.text
    _no_script_headers(ask)
    assert "Done: we will send you no more payment reminders." in client.post(url).text
    assert "already asked" in client.post(url).text
    assert client.get(url.replace("opt-out/", "opt-out/x")).status_code == 404


def test_the_admin_creates_edits_and_disables_a_rule_and_previews_messages(
    admin: FlaskClient, agent: FlaskClient
) -> None:
    page = admin.get("/pay/admin/notifications/")
    assert page.status_code == 200 and "No reminder rules yet" in page.text
    assert "Surveys are <strong>on</strong>" in page.text
    new = admin.get("/pay/admin/notifications/rules/new")
    token = csrf_of(new.text)
    fields = {
        "csrf_token": token,
        "name": "Three days late",
        "offset_days": "3",
        "repeat_every_days": "7",
        "max_reminders": "3",
        "channel": "email",
        "timezone": "Europe/Paris",
        "quiet_start": "20:00",
        "quiet_end": "09:00",
        "enabled": "on",
    }
    refused = admin.post(
        "/pay/admin/notifications/rules/new", data={**fields, "timezone": "Nowhere"}
    )
    assert refused.status_code == 422
    assert "is not a timezone" in refused.text and "Three days late" in refused.text
    made = admin.post("/pay/admin/notifications/rules/new", data=fields)
    assert made.status_code == 303
    listing = admin.get("/pay/admin/notifications/").text
    [rule_id] = re.findall(r'data-rule="(\d+)"', listing)
    assert "3 day(s) after due, then every 7 day(s)" in listing
    assert "20:00–09:00 Europe/Paris" in listing

    edited = admin.post(
        f"/pay/admin/notifications/rules/{rule_id}", data={**fields, "max_reminders": "2"}
    )
    assert edited.status_code == 303
    admin.post(f"/pay/admin/notifications/rules/{rule_id}/disable", data={"csrf_token": token})
    assert 'data-enabled="no"' in admin.get("/pay/admin/notifications/").text
    assert admin.get("/pay/admin/notifications/rules/999999").status_code == 404

    preview = admin.get("/pay/admin/notifications/templates/reminder")
    assert preview.status_code == 200
    assert "Overdue: invoice INV-1001" in preview.text and "Stop them here" in preview.text
    assert 'data-channel="sms"' in preview.text
    assert admin.get("/pay/admin/notifications/templates/nope").status_code == 404
    assert agent.get("/pay/admin/notifications/").status_code == 403
