"""Must hold (issue 8): no card number, however it is written, reaches the database, the
logs, emails, PDFs, CRM payloads, socket frames or HTTP answers in a full flow fed with
card numbers in CRM data and in every free-text field an agent can type into.

The flow: a builtin-CRM customer whose name, company, invoice lines and tax label hold
Braintree test card numbers (spaces, dashes, dots, slashes, underscores, no-break and
zero-width spaces, full-width digits), an invoice numbered with a card number and a
"card on file" whose token is one; an agent signed in with a card number in the
User-Agent, watching live status; a pay link made through the API with card numbers in
the description and headers; the customer paying; the receipt (PDF) emailed and resent;
a refund; CRM sync through the outbox; a signed PSP notification with a card number in
its body. Then everything is scanned with the same detector (:mod:`vault.pan`), and the
test numbers are looked for again with the separators taken out.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import json
import logging
import re
import unicodedata
import uuid
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import LargeBinary, String, Text, select
from sqlalchemy.types import JSON

from connectors.psp.braintree_sandbox import SandboxServer
from connectors.psp.braintree_sandbox.webhooks import sign_notification
from crm_pay.domain.money import Money
from crm_pay.persistence.models import (
    Base,
    ConsoleSession,
    IdempotencyRecord,
    Message,
    Payment,
    WebhookEvent,
)
from crm_pay.ports import CardSummary, CrmCustomer, CrmInvoice, CrmInvoiceLine, StoredCard
from crm_pay.services import cases, webhooks
from crm_pay.services.access import Principal, create_user
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.worker import make_dispatcher
from paytest import SANDBOX, live_socket, pay, token_of
from vault.pan import find_pans

# Braintree's published test card numbers only.
CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]
SEPARATORS = [" ", "-", ".", "/", "_", "\u00a0", "\u200b", "  ", " - ", "\t"]


def spelled(card: str, sep: str, *, full_width: bool = False) -> str:
    """``card`` in groups of four joined by ``sep`` (full-width digits on request)."""
    groups = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    if full_width:
        groups = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in groups)
    return groups


def _ways() -> list[str]:
    ways = [spelled(card, sep) for card in CARDS for sep in SEPARATORS]
    ways += [spelled(CARDS[0], " ", full_width=True), spelled(CARDS[1], "-", full_width=True)]
    return ways + CARDS


WAYS = _ways()
# What may separate digits in WAYS, taken out to look for the test numbers once more.
_STRIP = re.compile(r"[\s\u200b\-./_]")
# Hex digests (session, token and key hashes, audit chain, PDF file ids, webhook
# signatures) hold decimal runs that pass the Luhn check now and then; they are not cards.
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")


def leaks(text: str) -> list[str]:
    """What in ``text`` looks like a card number (empty: nothing)."""
    text = _HEX_RUN.sub("#", unicodedata.normalize("NFKC", text))
    found = [text[m.start : m.end] for m in find_pans(text)]
    flat = _STRIP.sub("", text)
    return found + [card for card in CARDS if card in flat]


def assert_clean(where: str, text: str) -> None:
    found = leaks(text)
    assert not found, f"card number in {where}: {found[:3]}"


def _pdf_text(content: bytes) -> str:
    """The text of an fpdf2 PDF: the file and each of its inflated streams."""
    parts = [content.decode("latin-1")]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(parts)


def _email_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw)
    parts = [str(message.items())]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        if part.get_content_type() == "application/pdf":
            assert payload.startswith(b"%PDF")
            parts.append(_pdf_text(payload))
        else:
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def _db_dump(ctx: Context) -> dict[str, str]:
    """Every text, JSON and blob column of every table, as text (base64 decoded too)."""
    dump: dict[str, str] = {}
    with ctx.db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            columns = [
                c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)
            ]
            texts = []
            if not columns:  # nothing a card number could be written into
                dump[table.name] = ""
                continue
            for row in s.execute(select(*columns)):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    texts.append(value if isinstance(value, str) else json.dumps(value))
            dump[table.name] = "\n".join(texts)
        for payload in s.scalars(select(WebhookEvent.payload)):
            dump["webhook_events (decoded)"] = base64.b64decode(payload).decode("utf-8", "replace")
    return dump


def _seed_crm(ctx: Context) -> Any:
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]  # the builtin CRM's test hooks
    usd = Money.zero("USD")
    crm.add_customer(
        CrmCustomer(
            crm_ref="CUST-PAN",
            name=f"Ann Lee {WAYS[0]}",
            email="ann.lee@example.com",
            phone="+15550100199",
            company=f"Lee Ltd {WAYS[13]}",
        )
    )
    lines = tuple(
        CrmInvoiceLine(
            description=f"Widget {way} (as the customer read it out)",
            quantity=1,
            unit_price=Money(1000, "USD"),
            tax=usd,
            sku=f"SKU-{index}",
        )
        for index, way in enumerate(WAYS[1:11] + WAYS[-6:-4])
    )
    crm.add_invoice(
        CrmInvoice(
            crm_ref="INV-PAN-1",
            customer_ref="CUST-PAN",
            currency="USD",
            issued_on=date(2026, 11, 1),
            due_on=date(2026, 12, 1),
            lines=(*lines, dataclasses.replace(lines[0], sku=WAYS[20])),
            shipping=usd,
            tax_label=f"VAT {WAYS[21]}",
        )
    )
    crm.add_invoice(
        CrmInvoice(
            crm_ref=CARDS[3],
            customer_ref="CUST-PAN",
            currency="USD",
            issued_on=date(2026, 11, 1),
            due_on=date(2026, 12, 1),
            lines=(CrmInvoiceLine("Gadget", 1, Money(500, "USD"), usd),),
            shipping=usd,
        )
    )
    crm.add_card("CUST-PAN", StoredCard(token=CARDS[0], card=CardSummary("Visa", "1111")))
    return crm


def _sign_in(app: Flask, ctx: Context) -> tuple[FlaskClient, Principal]:
    user_id = create_user(ctx, email="agent@example.com", role="agent", password="a-long-password")
    http = app.test_client()
    http.environ_base["HTTP_USER_AGENT"] = f"Mozilla/5.0 {WAYS[5]}"
    form = http.get("/pay/agent/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    signed_in = http.post(
        "/pay/agent/login",
        data={
            "email": "agent@example.com",
            "password": "a-long-password",
            "csrf_token": csrf.group(1),
        },
    )
    assert signed_in.status_code == 302
    return http, Principal("user", user_id, "agent@example.com", "agent")


def test_card_numbers_fed_everywhere_come_out_nowhere(
    app: Flask,
    client: FlaskClient,
    auth: dict[str, str],
    supervisor: dict[str, str],
    sandbox: SandboxServer,
    ctx: Context,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    crm = _seed_crm(ctx)
    answers: list[tuple[str, bytes]] = []
    headers = {**auth, "User-Agent": f"agent-desktop {WAYS[7]}", "X-Request-Id": WAYS[8]}

    def call(method: str, url: str, **kw: Any) -> Any:
        resp = client.open(url, method=method, headers={**headers, **kw.pop("headers", {})}, **kw)
        answers.append((f"{method} {url}", resp.data))
        return resp

    # The agent signs in (a card number in the User-Agent) and watches live status.
    console, agent = _sign_in(app, ctx)
    with ctx.db.transaction() as s:
        assert [r.user_agent for r in s.scalars(select(ConsoleSession))] == [
            "Mozilla/5.0 [REDACTED PAN]"
        ]
    answers.append(("console", console.get("/pay/agent/customers/CUST-PAN").data))
    # What an agent types into the search box is echoed back on the results page.
    for typed in (WAYS[0], WAYS[13]):
        found_page = console.get(
            "/pay/agent/lookup", query_string={"q": typed}, follow_redirects=True
        )
        answers.append((f"lookup {typed!r}", found_page.data))
    watched, _ = create_payment(
        ctx,
        CreatePayment(
            crm_ref="CUST-PAN", amount="3.00", currency="USD", description=f"note {WAYS[10]}"
        ),
        actor=agent.actor,
        idempotency_scope=agent.actor,
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
    )
    socket = live_socket(console)
    assert socket.is_connected("/live")
    assert socket.emit("watch", {"payment_id": watched["id"]}, namespace="/live", callback=True)[
        "ok"
    ]

    # The customer as the API shows it: CRM data redacted, the bad invoice and card out.
    view = call("GET", "/pay/api/v1/customers/CUST-PAN").get_json()
    assert view["name"].startswith("Ann Lee [REDACTED PAN]")
    assert [i["number"] for i in view["invoices"]] == ["INV-PAN-1"]
    assert "Widget [REDACTED PAN] (as the customer read it out)" in {
        line["description"] for line in view["invoices"][0]["lines"]
    }
    assert view["cards_on_file"] == []
    found = call("GET", "/pay/api/v1/customers", query_string={"email": "ann.lee@example.com"})
    assert found.get_json()["customers"][0]["name"].startswith("Ann Lee [REDACTED PAN]")

    # An Idempotency-Key holding a card number: refused, nothing stored or charged.
    with ctx.db.transaction() as s:
        before = (
            len(s.scalars(select(Payment.id)).all()),
            len(s.scalars(select(IdempotencyRecord.id)).all()),
        )
    body = {"customer": "CUST-PAN", "amount": "25.00", "currency": "USD"}
    for way in (WAYS[0], WAYS[12], CARDS[2]):
        refused = call("POST", "/pay/api/v1/payments", json=body, headers={"Idempotency-Key": way})
        assert refused.status_code == 400
        assert refused.get_json()["error"]["code"] == "card_number_in_idempotency_key"
        assert "nothing was stored or charged" in refused.get_json()["error"]["message"]
    with ctx.db.transaction() as s:
        after = (
            len(s.scalars(select(Payment.id)).all()),
            len(s.scalars(select(IdempotencyRecord.id)).all()),
        )
    assert after == before

    # The pay link, with card numbers in every free-text field the API takes.
    created = call(
        "POST",
        "/pay/api/v1/payments",
        json={**body, "description": f"read out {WAYS[14]} exp 12/30"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status_code == 201, created.get_json()
    payment = created.get_json()
    sent = call(
        "POST", f"/pay/api/v1/payments/{payment['id']}/send-link", json={"channel": "email"}
    )
    assert sent.status_code == 202
    make_dispatcher(ctx).drain()
    answers.append(("pay page", client.get(f"/pay/p/{token_of(payment['pay_url'])}").data))
    for pay_url in (payment["pay_url"], watched["pay_url"]):
        paid = pay(client, pay_url)
        answers.append(("pay", paid.data))
        assert paid.status_code == 200, paid.get_json()
    make_dispatcher(ctx).drain()
    number = call("GET", f"/pay/api/v1/payments/{payment['id']}").get_json()["receipt_number"]
    receipt = call("GET", f"/pay/api/v1/receipts/{number}")
    assert "[REDACTED PAN]" in receipt.get_data(as_text=True)
    pdf = call("GET", f"/pay/api/v1/receipts/{number}.pdf")
    assert pdf.data.startswith(b"%PDF")
    assert_clean("receipt PDF", _pdf_text(pdf.data))

    # Resends: to an address holding a card number refused, nothing queued; then a real one.
    with ctx.db.transaction() as s:
        messages_before = len(s.scalars(select(Message.id)).all())
    for to in (f"{CARDS[0]}@example.com", f"{WAYS[3]}@example.com"):
        bad = call("POST", f"/pay/api/v1/receipts/{number}/resend", json={"to": to})
        assert bad.status_code == 422, bad.get_json()
        assert bad.get_json()["error"]["code"] in ("card_number_in_recipient", "invalid_email")
    with ctx.db.transaction() as s:
        assert len(s.scalars(select(Message.id)).all()) == messages_before
    resent = call("POST", f"/pay/api/v1/receipts/{number}/resend", json={"to": "books@example.org"})
    assert resent.status_code == 202

    # A refund (a void while unsettled): a card number as its key is refused; then a real one.
    refused = call(
        "POST",
        f"/pay/api/v1/payments/{payment['id']}/refund",
        json={"amount": "5.00"},
        headers={"Idempotency-Key": WAYS[2]},
    )
    assert refused.status_code == 400
    refunded = call(
        "POST",
        f"/pay/api/v1/payments/{payment['id']}/refund",
        json={},
        headers={**supervisor, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert refunded.status_code == 201, refunded.get_json()

    # A signed PSP notification with a card number in its body: refused before it is
    # processed, kept only redacted, never retried.
    form = sign_notification(
        "check",
        {"check": True, "note": f"card {WAYS[4]}"},
        public_key=SANDBOX["public_key"],
        private_key=SANDBOX["private_key"],
    )
    hook = client.post("/pay/webhooks/braintree", data=form)
    answers.append(("webhook", hook.data))
    assert hook.status_code == 400
    assert hook.get_json()["error"]["code"] == "webhook_card_number"
    assert "never sends" in hook.get_json()["error"]["message"]
    with ctx.db.transaction() as s:
        row = s.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc())).first()
        assert row is not None and row.status == "rejected" and row.kind is None
        assert "[REDACTED PAN]" in base64.b64decode(row.payload).decode()
        hook_id = row.id
    with pytest.raises(webhooks.WebhookRejected):
        webhooks.replay_webhook(ctx, hook_id)
    assert webhooks.retry_pending_webhooks(ctx) == {}
    make_dispatcher(ctx).drain()
    frames = socket.get_received("/live")
    socket.disconnect(namespace="/live")
    assert any(f["name"] == "payment_status" for f in frames)

    # The case and the admin alert from the CRM data, naming field and record only.
    alerts = cases.open_cases(ctx, kinds=cases.ALERT_KINDS, limit=500)
    crm_alerts = [a for a in alerts if a["kind"] == "crm_data_card_number"]
    fields = {(a["detail"]["record"], a["detail"]["field"]) for a in crm_alerts}
    assert ("customer CUST-PAN", "name") in fields
    assert ("customer CUST-PAN", "company") in fields
    assert ("invoice INV-PAN-1 of CUST-PAN", "tax_label") in fields
    assert ("invoice INV-PAN-1 of CUST-PAN", "lines[0].description") in fields
    assert ("invoice [REDACTED PAN] of CUST-PAN", "crm_ref") in fields
    assert ("card on file of CUST-PAN", "token") in fields
    assert len(crm_alerts) == len(fields)  # one case per record and field, however often read
    assert any(a["kind"] == "webhook_card_number" for a in alerts)
    assert_clean("alerts", json.dumps(alerts))

    # Nothing anywhere.
    for where, data in answers:
        assert_clean(f"HTTP answer {where}", data.decode("utf-8", "replace"))
    assert_clean("socket frames", json.dumps(frames, ensure_ascii=False))
    assert_clean("logs", "\n".join(r.getMessage() for r in caplog.records))
    for table, text in _db_dump(ctx).items():
        assert_clean(f"table {table}", text)
    mails = list((tmp_path / "instance" / "mailbox").rglob("*.eml")) or [
        p for p in (tmp_path / "instance").rglob("*") if p.is_file() and "mailbox" in str(p)
    ]
    assert len(mails) >= 3  # the pay link, the receipt and its resend
    for path in mails:
        assert_clean(f"email {path.name}", _email_text(path.read_bytes()))
    assert crm.payments_for("CUST-PAN") and crm.receipts_for("CUST-PAN")
    written = {k: v for k, v in crm._data.items() if k not in ("customers", "invoices", "cards")}
    assert_clean("CRM payloads", json.dumps(written, ensure_ascii=False, default=str))
    for receipt_number in crm.receipts_for("CUST-PAN"):
        assert_clean(f"CRM receipt {receipt_number}", _pdf_text(crm.receipt_pdf(receipt_number)))
