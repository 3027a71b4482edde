"""Pay links by email and SMS (and resends), the failure notice with a retry link, and
customer text that renders inert."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import Message, OutboxMessage
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay, token_of

DECLINE_NONCE = "fake-processor-declined-visa-nonce"


def _send(client: FlaskClient, auth: dict[str, str], payment_id: str, channel: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/pay/api/v1/payments/{payment_id}/send-link", json={"channel": channel}, headers=auth
    )


def test_pay_link_by_email_then_again_by_email_and_by_sms(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    events: list[tuple[str, dict]] = []
    ctx.live = lambda pid, event: events.append((pid, event))
    _, p = create_link(client, auth, amount="55.00", allocations={"INV-1001": "55.00"})
    first = _send(client, auth, p["id"], "email")
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["message_id"] == f"paylink.email.{p['id']}@example.com"
    assert first.get_json()["status"] == "queued"
    second = _send(client, auth, p["id"], "email").get_json()
    assert second["message_id"] == f"paylink.email.{p['id']}.2@example.com"
    sms = _send(client, auth, p["id"], "sms").get_json()
    assert sms["recipient"] == "+12125550101"

    # The link itself is in neither the message rows nor the outbox payloads.
    token = token_of(p["pay_url"])
    with ctx.db.transaction() as s:
        stored = [json.dumps(m.payload) for m in s.scalars(select(OutboxMessage))]
        stored += [m.message_id + m.recipient for m in s.scalars(select(Message))]
    assert not any(token in text for text in stored)

    make_dispatcher(ctx).drain()
    emails = ctx.email.list_messages()  # type: ignore[union-attr]
    assert len(emails) == 2
    assert {e.subject for e in emails} == {"Demo Merchant Inc.: payment request for USD 55.00"}
    mail = ctx.email.read(first.get_json()["message_id"])  # type: ignore[union-attr]
    assert p["pay_url"] in mail.text and p["pay_url"] in mail.html
    assert "INV-1001" in mail.text and "USD 55.00" in mail.text
    [text] = ctx.sms.list_messages()  # type: ignore[union-attr]
    assert text["to"] == "+12125550101" and p["pay_url"] in text["body"]
    assert "USD 55.00" in text["body"]

    views = client.get(f"/pay/api/v1/payments/{p['id']}/messages", headers=auth).get_json()
    assert [m["status"] for m in views["messages"]] == ["sent", "sent", "sent"]
    assert (p["id"], {"status": "awaiting_customer", "link": "sent", "channel": "sms"}) in events


def test_a_closed_link_or_a_missing_address_is_refused_clearly(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    crm.add_customer(dataclasses.replace(crm.find_customer("CUST-0006"), phone=None))
    _, p = create_link(client, auth, amount="5.00", customer="CUST-0006")
    no_phone = _send(client, auth, p["id"], "sms")
    assert no_phone.status_code == 422
    assert no_phone.get_json()["error"]["code"] == "no_phone"
    assert "send the link by email" in no_phone.get_json()["error"]["message"]
    bad = _send(client, auth, p["id"], "fax")
    assert bad.status_code == 422
    client.post(f"/pay/api/v1/payments/{p['id']}/cancel", headers=auth)
    closed = _send(client, auth, p["id"], "email")
    assert closed.status_code == 409
    assert closed.get_json()["error"]["code"] == "link_not_open"
    assert _send(client, auth, "pay_nope", "email").status_code == 404
    with ctx.db.transaction() as s:
        assert list(s.scalars(select(Message))) == []


def test_a_link_cancelled_before_delivery_is_not_sent(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="6.00")
    assert _send(client, auth, p["id"], "email").status_code == 202
    client.post(f"/pay/api/v1/payments/{p['id']}/cancel", headers=auth)
    make_dispatcher(ctx).drain()
    assert ctx.email.list_messages() == []  # type: ignore[union-attr]
    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert msg.status == "skipped" and "cancelled" in (msg.last_error or "")


def test_a_decline_sends_a_failure_notice_with_a_retry_link(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="60.00")
    declined = pay(client, p["pay_url"], nonce=DECLINE_NONCE).get_json()
    assert declined["status"] == "declined"
    make_dispatcher(ctx).drain()
    # the customer may still be on the page, trying again: nothing yet
    assert ctx.email.list_messages() == []  # type: ignore[union-attr]
    _later(ctx, seconds=601)  # CRM_PAY_FAILURE_NOTICE_DELAY is 600 s
    make_dispatcher(ctx).drain()
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    assert entry.message_id == f"payment-failed.{p['id']}.1@example.com"
    assert entry.subject == "Your payment to Demo Merchant Inc. did not go through"
    mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
    decline = declined["decline"]
    for body in (mail.text, mail.html):
        assert p["pay_url"] in body  # the retry link
        assert "USD 60.00" in body
    assert decline["message"] in mail.text and decline["next_step"] in mail.text

    # a retry that succeeds gets its receipt; the notice is not sent twice
    assert pay(client, p["pay_url"]).get_json()["status"] == "submitted_for_settlement"
    make_dispatcher(ctx).drain()
    subjects = sorted(e.subject for e in ctx.email.list_messages())  # type: ignore[union-attr]
    assert len(subjects) == 2 and subjects[0].startswith("Your payment to")


def _later(ctx: Context, *, seconds: int) -> None:
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(seconds=seconds)


def test_declines_in_a_row_make_one_notice_sent_when_the_link_closes(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    """Five declines while the customer is on the call: one e-mail, not five; it goes out
    when the last attempt closes the link, without waiting."""
    _, p = create_link(client, auth, amount="63.00")
    for attempt in range(1, 6):
        answer = pay(client, p["pay_url"], nonce=DECLINE_NONCE).get_json()
        assert answer["status"] == "declined", answer
        make_dispatcher(ctx).drain()
        if attempt < 5:
            assert ctx.email.list_messages() == [], attempt  # type: ignore[union-attr]
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    assert entry.message_id == f"payment-failed.{p['id']}.1@example.com"
    mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
    assert p["pay_url"] not in mail.text  # the link is used up: no retry link
    with ctx.db.transaction() as s:
        notices = s.scalars(select(Message).where(Message.kind == "payment_failed")).all()
        assert [n.status for n in notices] == ["sent"]


def test_a_retry_restarts_the_wait_and_a_later_run_gets_its_own_notice(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="64.00")
    pay(client, p["pay_url"], nonce=DECLINE_NONCE)
    _later(ctx, seconds=300)
    pay(client, p["pay_url"], nonce=DECLINE_NONCE)  # 5 minutes on: the wait starts again
    _later(ctx, seconds=400)  # 700 s after the first decline, 400 s after the second
    make_dispatcher(ctx).drain()
    assert ctx.email.list_messages() == []  # type: ignore[union-attr]
    _later(ctx, seconds=201)  # 601 s after the second
    make_dispatcher(ctx).drain()
    assert len(ctx.email.list_messages()) == 1  # type: ignore[union-attr]


def test_a_notice_for_a_link_that_is_used_up_has_no_retry_link(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    ctx.settings = dataclasses.replace(ctx.settings, pay_link_max_attempts=1)
    _, p = create_link(client, auth, amount="61.00")
    pay(client, p["pay_url"], nonce=DECLINE_NONCE)
    make_dispatcher(ctx).drain()
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
    assert p["pay_url"] not in mail.text and "/p/" not in mail.html
    assert "we will send you a new link" in mail.text


def test_a_notice_overtaken_by_a_successful_retry_is_not_sent(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="62.00")
    pay(client, p["pay_url"], nonce=DECLINE_NONCE)
    pay(client, p["pay_url"])
    _later(ctx, seconds=601)  # the notice's time comes: the payment succeeded meanwhile
    make_dispatcher(ctx).drain()
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    assert entry.message_id.startswith("receipt.")
    with ctx.db.transaction() as s:
        notice = s.scalars(select(Message).where(Message.kind == "payment_failed")).one()
        assert notice.status == "skipped"


def test_receipt_resend_from_the_api(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="70.00")
    number = pay(client, p["pay_url"]).get_json()["receipt_number"]
    resend = client.post(f"/pay/api/v1/receipts/{number}/resend", headers=auth)
    assert resend.status_code == 202, resend.get_json()
    assert resend.get_json()["message_id"] == f"receipt.{number}.2@example.com"
    other = client.post(
        f"/pay/api/v1/receipts/{number}/resend", json={"to": "accounts@example.org"}, headers=auth
    ).get_json()
    assert other["message_id"] == f"receipt.{number}.3@example.com"
    assert other["recipient"] == "accounts@example.org"
    bad = client.post(
        f"/pay/api/v1/receipts/{number}/resend", json={"to": "x\r\nBcc: a@b.c"}, headers=auth
    )
    assert bad.status_code == 422
    assert client.post("/pay/api/v1/receipts/R-2026-999999/resend", headers=auth).status_code == 404
    make_dispatcher(ctx).drain()
    ids = sorted(e.message_id for e in ctx.email.list_messages())  # type: ignore[union-attr]
    assert ids == sorted(f"receipt.{number}{sfx}@example.com" for sfx in ("", ".2", ".3"))


def test_a_script_in_a_customer_name_is_inert_in_the_email(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    evil = "<script>alert(1)</script>"
    crm.add_customer(dataclasses.replace(crm.find_customer("CUST-0002"), name=f"Mal {evil}"))
    _, p = create_link(client, auth, amount="8.00", customer="CUST-0002")
    _send(client, auth, p["id"], "email")
    make_dispatcher(ctx).drain()
    pay(client, p["pay_url"])
    make_dispatcher(ctx).drain()
    entries = ctx.email.list_messages()  # type: ignore[union-attr]
    assert len(entries) == 2
    for entry in entries:
        mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
        assert evil not in mail.html
        assert "Mal &lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
        assert evil in mail.text  # plain text is not HTML: shown as typed
        assert not re.search(r"<script", mail.html, re.IGNORECASE)
