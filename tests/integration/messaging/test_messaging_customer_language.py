"""On the sandbox app, a customer whose CRM record says Spanish (Sofia Delgado in the
builtin CRM) gets her pay link by e-mail and SMS in Spanish, from the file mailbox and
the SMS outbox, and a customer whose record names no language gets them in English."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from crm_pay.services.context import Context
from crm_pay.services.notifications import send_pay_link
from crm_pay.worker import make_dispatcher
from paytest import create_link
from vault import pan

SOFIA = "CUST-0005"  # her record in the builtin CRM says "es"


def test_sofia_s_pay_link_email_and_sms_are_in_spanish(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    status, created = create_link(client, auth, amount="1234.56", customer=SOFIA)
    assert status == 201, created
    for channel in ("email", "sms"):
        send_pay_link(ctx, created["id"], channel=channel, actor="user:agent")
    make_dispatcher(ctx).drain()
    mailbox: Any = ctx.email
    [listed] = mailbox.list_messages()
    assert listed.subject.endswith(": solicitud de pago de 1.234,56\xa0US$")
    email = mailbox.read(listed.message_id)
    assert "Hola, Sofia Delgado:" in email.text and "El enlace es válido hasta el " in email.text
    assert not pan.contains_pan(listed.subject + email.text + email.html)
    texts: Any = ctx.sms
    [text] = texts.list_messages()
    assert "pague 1.234,56\xa0US$ de forma segura en" in text["body"]
    assert not pan.contains_pan(text["body"])


def test_a_customer_whose_record_names_no_language_gets_english(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    status, created = create_link(client, auth, amount="1234.56")
    assert status == 201, created
    send_pay_link(ctx, created["id"], channel="email", actor="user:agent")
    make_dispatcher(ctx).drain()
    mailbox: Any = ctx.email
    [listed] = mailbox.list_messages()
    assert listed.subject.endswith(": payment request for USD 1,234.56")
    assert 'lang="en"' in mailbox.read(listed.message_id).html
