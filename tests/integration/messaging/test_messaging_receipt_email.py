"""The receipt email: queued with the receipt, delivered through the outbox into the
mailbox with its PDF and a working portal link; never lost, never sent twice."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import Case, Message, OutboxMessage
from crm_pay.services.context import Context
from crm_pay.services.notifications import deliver_message
from crm_pay.services.outbox import replay
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay
from vault.pan import find_pans


def _advance(ctx: Context, **delta: float) -> None:
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(**delta)


def _paid(client: FlaskClient, auth: dict[str, str], amount: str = "25.00") -> dict:
    _, p = create_link(client, auth, amount=amount)
    result = pay(client, p["pay_url"]).get_json()
    assert result["status"] == "submitted_for_settlement", result
    return result


def _mailbox_dir(ctx: Context) -> Path:
    return Path(ctx.email.path)  # type: ignore[union-attr]


def test_receipt_email_lands_in_the_mailbox_with_pdf_and_portal_link(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    result = _paid(client, auth, "25.00")
    number = result["receipt_number"]
    assert ctx.email.list_messages() == []  # type: ignore[union-attr]  # queued, not sent
    make_dispatcher(ctx).drain()

    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    assert entry.message_id == f"receipt.{number}@example.com"
    assert entry.to == "eleanor.whitfield@example.com"
    assert entry.subject == f"Your receipt {number} from Demo Merchant Inc."
    assert entry.attachments == (f"{number}.pdf",)
    mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
    assert mail.attachments[0].content.startswith(b"%PDF")
    for body in (mail.text, mail.html):  # fake-valid-nonce pays with a Visa ending 1881
        assert number in body and "USD 25.00" in body and "Visa ending 1881" in body
    [url] = re.findall(r"http://shop\.test(/pay/r/[A-Za-z0-9_.-]+)", mail.text)
    assert url in mail.html

    page = client.get(url)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    assert f'class="current" aria-current="true" data-receipt="{number}"' in html
    pdf = client.get(f"{url}/{number}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert (msg.kind, msg.channel, msg.status, msg.attempts) == ("receipt", "email", "sent", 1)
        assert msg.sent_at is not None and msg.receipt_number == number


def test_the_portal_link_opens_only_its_customers_receipts(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    mine = _paid(client, auth, "11.00")["receipt_number"]
    _, other = create_link(client, auth, amount="12.00", customer="CUST-0002")
    theirs = pay(client, other["pay_url"]).get_json()["receipt_number"]
    make_dispatcher(ctx).drain()
    mail = ctx.email.read(f"receipt.{mine}@example.com")  # type: ignore[union-attr]
    [url] = re.findall(r"http://shop\.test(/pay/r/\S+)", mail.text)
    assert theirs not in client.get(url).get_data(as_text=True)
    assert client.get(f"{url}/{theirs}.pdf").status_code == 404
    assert client.get(f"{url}/{mine}.pdf").status_code == 200


def test_paying_twice_with_one_key_and_replaying_the_outbox_sends_one_email(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, first = create_link(client, auth, amount="30.00", key="same-key")
    _, again = create_link(client, auth, amount="30.00", key="same-key")
    assert first["id"] == again["id"]
    pay(client, first["pay_url"])
    pay(client, first["pay_url"])  # the used link refuses a second payment
    dispatcher = make_dispatcher(ctx)
    dispatcher.drain()
    with ctx.db.transaction() as s:
        ids = list(s.scalars(select(OutboxMessage.id)))
    for _ in range(2):
        replay(ctx, ids)
        dispatcher.drain()
    assert len(list(_mailbox_dir(ctx).glob("*.eml"))) == 1
    assert ctx.email.duplicates == 0  # type: ignore[union-attr]  # never even attempted twice
    with ctx.db.transaction() as s:
        assert len(list(s.scalars(select(Message)))) == 1


def test_a_dispatcher_killed_after_sending_sends_again_with_the_same_message_id(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    number = _paid(client, auth, "40.00")["receipt_number"]
    crashed = make_dispatcher(ctx)
    claimed = [m for m in crashed._claim() if m.topic == "message.deliver"]
    assert len(claimed) == 1
    # The email goes out, then the process dies before anything is marked.
    mailbox = ctx.email.wrapped_adapter  # type: ignore[union-attr]
    real_finish_send = mailbox.send

    def send_then_die(email):  # type: ignore[no-untyped-def]
        real_finish_send(email)
        raise SystemExit("killed")

    mailbox.send = send_then_die
    try:
        deliver_message(ctx, dict(claimed[0].payload))
    except SystemExit:
        pass
    finally:
        del mailbox.send
    with ctx.db.transaction() as s:
        assert s.scalars(select(Message.status)).one() == "queued"

    restarted = make_dispatcher(ctx)
    restarted.drain()  # the lease is still held: nobody delivers it twice at once
    with ctx.db.transaction() as s:
        assert s.scalars(select(Message.status)).one() == "queued"
    _advance(ctx, minutes=5)  # lease expired
    restarted.drain()

    assert mailbox.duplicates == 1  # delivered again, recognised by its Message-ID
    [entry] = ctx.email.list_messages()  # type: ignore[union-attr]
    assert entry.message_id == f"receipt.{number}@example.com"
    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert msg.status == "sent" and msg.message_id == entry.message_id
        pending = list(s.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent")))
    assert pending == []


def test_a_sender_outage_is_retried_and_recorded(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _paid(client, auth, "41.00")
    mailbox = ctx.email.wrapped_adapter  # type: ignore[union-attr]

    def down(email):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("mail server down")

    mailbox.send = down
    dispatcher = make_dispatcher(ctx)
    dispatcher.drain()
    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert (msg.status, msg.attempts) == ("queued", 1)
        assert "mail server down" in (msg.last_error or "")
    del mailbox.send
    _advance(ctx, hours=1)
    dispatcher.drain()
    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert (msg.status, msg.attempts, msg.last_error) == ("sent", 2, None)
    assert len(ctx.email.list_messages()) == 1  # type: ignore[union-attr]


def test_a_permanent_refusal_fails_the_message_and_opens_a_case(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    from crm_pay.ports import DeliveryFailed

    number = _paid(client, auth, "42.00")["receipt_number"]
    mailbox = ctx.email.wrapped_adapter  # type: ignore[union-attr]

    def refused(email):  # type: ignore[no-untyped-def]
        raise DeliveryFailed("the mail server refused the recipient: 550 no such mailbox")

    mailbox.send = refused
    report = make_dispatcher(ctx).drain()
    assert report.retried == 0 and report.dead == 0
    with ctx.db.transaction() as s:
        msg = s.scalars(select(Message)).one()
        assert msg.status == "failed" and "550" in (msg.last_error or "")
        case = s.scalars(select(Case).where(Case.kind == "receipt_undeliverable")).one()
        assert case.detail["receipt"] == number


def test_a_customer_without_email_gets_no_message_but_a_case(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    import dataclasses

    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    crm.add_customer(dataclasses.replace(crm.find_customer("CUST-0005"), email=None))
    _, p = create_link(client, auth, amount="9.00", customer="CUST-0005")
    number = pay(client, p["pay_url"]).get_json()["receipt_number"]
    with ctx.db.transaction() as s:
        assert list(s.scalars(select(Message))) == []
        case = s.scalars(select(Case).where(Case.kind == "receipt_undeliverable")).one()
        assert case.subject == f"receipt:{number}"


def test_no_card_number_in_any_mailbox_file(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _paid(client, auth, "43.00")
    _, p = create_link(client, auth, amount="44.00")
    pay(client, p["pay_url"], nonce="fake-processor-declined-visa-nonce")
    base = ctx.clock  # the failure notice waits in case the customer tries again
    ctx.clock = lambda: base() + timedelta(seconds=601)
    make_dispatcher(ctx).drain()
    files = list(_mailbox_dir(ctx).glob("*.eml"))
    assert len(files) == 2  # a receipt and a failure notice
    for file in files:
        assert find_pans(file.read_bytes().decode("ascii", "replace")) == []
    for entry in ctx.email.list_messages():  # type: ignore[union-attr]
        mail = ctx.email.read(entry.message_id)  # type: ignore[union-attr]
        for part in (mail.text, mail.html, entry.subject):
            assert find_pans(part) == []
