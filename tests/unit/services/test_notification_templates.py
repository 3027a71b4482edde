"""An admin's edited message templates with fakes: what Save refuses and why (nothing is
saved), what a saved version changes in the messages customers get, Reset, the history
and the audit entries, and what happens when edited words fail at delivery (the shipped
words go, the log says so without a card number). Also the cache: a save by another
process is seen, and delivering messages reads no template rows."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import Conflict
from crm_pay.domain.money import Money
from crm_pay.persistence.instrumentation import count_queries
from crm_pay.persistence.models import AuditEntry, Message
from crm_pay.rendering.email import PayLinkNotice
from crm_pay.rendering.message_templates import MessageTemplates, default_source
from crm_pay.services import notification_templates as templates
from crm_pay.services.audit import verify
from crm_pay.services.context import Context
from crm_pay.services.customers import sync_customer
from crm_pay.services.message_content import Draft, compose
from crm_pay.services.notification_templates import TemplatesRejected, save_templates
from crm_pay.services.notifications import send_pay_link
from crm_pay.services.reminders import RuleForm, run_due_reminders, save_rule
from crm_pay.services.template_checks import check_templates
from crm_pay.testing import FakeWorld, OutboxRunner, fake_context
from servicetest import link, paid
from vault import pan

ADMIN = "user:admin@example.com"
TEST_PAN = "4111 1111 1111 1111"  # Braintree's published Visa test number


def _shipped(kind: str, *parts: str) -> dict[str, str]:
    return {part: default_source(kind, part) for part in parts}


def _refused(ctx: Context, kind: str, **parts: str) -> list[str]:
    with pytest.raises(TemplatesRejected) as refused:
        save_templates(ctx, kind, parts, actor=ADMIN)
    assert not templates.template_history(ctx, kind)  # nothing was saved
    return list(refused.value.problems)


def test_a_syntax_error_is_refused_with_its_part_and_line(ctx: Context) -> None:
    [problem] = _refused(ctx, "pay_link", text="Hello {{ n.customer_name }},\n\n{% if n.url %}")
    assert problem.startswith("Text body, line 3:")
    assert "endif" in problem


def test_a_variable_the_message_does_not_have_is_refused_and_the_ones_it_has_are_named(
    ctx: Context,
) -> None:
    problems = _refused(
        ctx, "pay_link", sms="Pay {{ amount }} at {{ n.url }}, {{ customer }}, {{ n.cutomer_name }}"
    )
    assert any(
        "unknown variable “customer”" in p
        and "amount, expires, lang, merchant, n, valid_until" in p
        for p in problems
    )
    assert any("“n.cutomer_name” is not a variable" in p and "customer_name" in p for p in problems)


def test_a_branch_the_first_sample_does_not_take_is_checked_too(ctx: Context) -> None:
    # A payment receipt never takes the refund branch; the sample refund receipt does,
    # and it owes nothing, so the first "still owed" row is not there.
    text = "{% if refund %}{{ still_owed[0][0] }}{% endif %}{{ receipt.number }}"
    [problem] = _refused(ctx, "receipt", text=text)
    assert problem.startswith("Text body, line 1:") and "no element 0" in problem


@pytest.mark.parametrize(
    ("kind", "part", "drop", "what"),
    [
        ("pay_link", "html", "{{ n.url }}", "the pay link"),
        ("pay_link", "sms", "{{ n.url }}", "the pay link"),
        ("reminder", "text", "{{ n.opt_out_url }}", "the link to stop reminders"),
        ("reminder", "sms", "{{ n.pay_url }}", "the pay link"),
        ("receipt", "text", "{{ receipt.number }}", "the receipt number"),
    ],
)
def test_words_without_what_the_message_must_show_are_refused(
    ctx: Context, kind: str, part: str, drop: str, what: str
) -> None:
    source = default_source(kind, part).replace(drop, "")
    if kind == "receipt":  # the whole receipt below the summary and the PDF's name show it too
        source = source.replace("{{ receipt_text }}", "").replace("{{ pdf_name }}", "")
    problems = _refused(ctx, kind, **{part: source})
    assert any(what in p for p in problems), problems


def test_a_card_number_is_refused_without_repeating_it(ctx: Context) -> None:
    problems = _refused(ctx, "pay_link", text=f"Hello,\nyour card {TEST_PAN}\n{{{{ n.url }}}}")
    assert problems == [
        "Text body, line 2: this is a card-number-like run of 16 digits. Card numbers never go "
        "into a customer message; remove it."
    ]
    # built by the template: found in what it renders
    built = '{{ "4111 1111" }} {{ "1111 1111" }} {{ n.url }}'
    [problem] = _refused(ctx, "pay_link", sms=built)
    assert problem.startswith("SMS: the message would show a card-number-like run")
    assert not any(pan.contains_pan(p) for p in problems + [problem])


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{{ n.__class__.__mro__ }} {{ n.url }}", "not allowed"),
        ("{{ merchant.name.__class__ }} {{ n.url }}", "not allowed"),
        ("{{ n.customer_name|safe }} {{ n.url }}", "“safe” filter is not allowed"),
        ("{% autoescape false %}{{ n.url }}{% endautoescape %}", "autoescape"),
        ('{% include "email/receipt.html" %}{{ n.url }}', "may use another template"),
    ],
)
def test_python_internals_and_unescaped_html_are_out_of_reach(
    ctx: Context, source: str, words: str
) -> None:
    problems = _refused(ctx, "pay_link", html=source)
    assert any(words in p and p.startswith("HTML body") for p in problems), problems


def test_the_shipped_words_pass_every_check(ctx: Context) -> None:
    for row in templates.template_list(ctx):
        editor = templates.template_editor(ctx, row["kind"])
        assert (
            check_templates(ctx, row["kind"], {p["part"]: p["source"] for p in editor["parts"]})
            == []
        )


def _pay_link_email(world: FakeWorld, outbox: OutboxRunner) -> Any:
    payment = link(world.ctx, "42.00")
    send_pay_link(world.ctx, payment["id"], channel="email", actor="user:agent")
    outbox.drain()
    return world.email.to("ada@example.com")[-1]


def test_saved_words_reach_the_customer_and_reset_brings_the_shipped_ones_back(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    ctx = world.ctx
    html = default_source("pay_link", "html").replace(
        "<p>Hello {{ n.customer_name }},</p>", "<p>Dear {{ n.customer_name }}, thank you.</p>"
    )
    saved = save_templates(
        ctx,
        "pay_link",
        {
            **_shipped("pay_link", "text", "sms"),
            "subject": "Your payment to {{ merchant.name }} ({{ amount }})",
            "html": html,
        },
        actor=ADMIN,
        base_version=0,
    )
    assert saved == {"version": 1, "changed": ["subject", "html"]}
    sent = _pay_link_email(world, outbox)
    assert sent.subject.startswith("Your payment to ") and "(USD 42.00)" in sent.subject
    assert "Dear Ada Lovelace, thank you." in sent.html
    assert "Hello Ada Lovelace," in sent.text  # the text part was left as shipped

    editor = templates.template_editor(ctx, "pay_link")
    assert editor["edited"] and editor["version"] == 1 and editor["saved_by"] == ADMIN
    assert [p["part"] for p in editor["parts"] if p["edited"]] == ["subject", "html"]

    assert templates.reset_templates(ctx, "pay_link", actor=ADMIN)["version"] == 2
    assert templates.reset_templates(ctx, "pay_link", actor=ADMIN)["changed"] == []
    again = _pay_link_email(world, outbox)
    assert again.subject.endswith(": payment request for USD 42.00")
    assert "Hello Ada Lovelace," in again.html

    [reset, first] = templates.template_history(ctx, "pay_link")
    assert (reset["action"], first["action"]) == ("reset", "saved")
    assert [c["part"] for c in first["changes"]] == ["Subject", "HTML body"]
    assert ("add", "<p>Dear {{ n.customer_name }}, thank you.</p>") in first["changes"][1]["diff"]
    assert ("del", "<p>Hello {{ n.customer_name }},</p>") in first["changes"][1]["diff"]
    with ctx.db.transaction() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.subject == "notification_template:pay_link")
        ).all()
        assert [(e.action, e.actor, e.data["changed"]) for e in entries] == [
            ("notification_template.saved", ADMIN, "subject, html"),
            ("notification_template.reset", ADMIN, "subject, html"),
        ]
        assert entries[0].data["text_sha256"] == "shipped"
        assert len(entries[0].data["html_sha256"]) == 64
    assert verify(ctx).ok


def test_an_edited_sms_is_what_the_customer_s_phone_gets(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    save_templates(
        world.ctx,
        "pay_link",
        {"sms": "{{ merchant.name }}: {{ amount }} to pay at {{ n.url }} - thanks!"},
        actor=ADMIN,
    )
    payment = link(world.ctx, "17.00")
    send_pay_link(world.ctx, payment["id"], channel="sms", actor="user:agent")
    outbox.drain()
    [sms] = world.sms.to("+15555550101")
    assert sms.body.endswith(" - thanks!") and ": USD 17.00 to pay at http" in sms.body


def test_a_save_on_top_of_someone_else_s_is_refused_and_nothing_is_lost(ctx: Context) -> None:
    save_templates(ctx, "reminder", {"subject": "Invoice {{ n.invoice_ref }}"}, actor="user:a")
    with pytest.raises(Conflict, match="saved again .version 1, by user:a"):
        save_templates(
            ctx, "reminder", {"subject": "Mine {{ n.invoice_ref }}"}, actor="user:b", base_version=0
        )
    assert templates.template_editor(ctx, "reminder")["parts"][0]["source"] == (
        "Invoice {{ n.invoice_ref }}"
    )


def test_words_that_fail_on_real_data_never_stop_a_receipt(
    world: FakeWorld, outbox: OutboxRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # Passes every sample (whose customer is "Sample Customer"), fails for anyone else.
    text = (
        '{% if receipt.customer_name != "Sample Customer" %}'
        "{{ merchant[receipt.customer_name] }}{% endif %}" + default_source("receipt", "text")
    )
    save_templates(world.ctx, "receipt", {"text": text}, actor=ADMIN)
    with caplog.at_level(logging.WARNING, logger="crm_pay.notifications"):
        paid(world.ctx, "30.00")
        outbox.drain()
    [receipt] = [m for m in world.email.to("ada@example.com") if "receipt" in m.subject]
    assert "Thank you for your payment of USD 30.00" in receipt.text
    assert receipt.attachments and receipt.attachments[0][1] == "application/pdf"
    [warning] = [r for r in caplog.records if "edited receipt templates" in r.getMessage()]
    assert "version 1" in warning.getMessage() and "shipped words were sent" in warning.getMessage()
    with world.ctx.db.transaction() as s:
        assert s.scalars(select(Message.status).where(Message.kind == "receipt")).one() == "sent"


def test_a_reminder_never_goes_without_its_opt_out_link(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    # Shows the link only to the sample customer: saved, then caught at delivery.
    text = default_source("reminder", "text").replace(
        "{{ n.opt_out_url }}",
        '{% if n.customer_name == "Sample Customer" %}{{ n.opt_out_url }}{% endif %}',
    )
    save_templates(world.ctx, "reminder", {"text": text}, actor=ADMIN)
    world.clock.now = world.clock.now.replace(year=2026, month=4, day=1, hour=11)
    sync_customer(world.ctx, "CUST-0001")
    save_rule(world.ctx, RuleForm(name="Due", offset_days="1", timezone="UTC"), actor=ADMIN)
    assert run_due_reminders(world.ctx)["sent"] == 1
    outbox.drain()
    [reminder] = world.email.to("ada@example.com")
    assert "/reminders/opt-out/" in reminder.text


def test_the_fallback_log_line_holds_no_card_number(
    caplog: pytest.LogCaptureFixture, ctx: Context
) -> None:
    notice = PayLinkNotice(
        ctx.settings.merchant,
        f"Card {TEST_PAN}",
        Money(100, "USD"),
        "https://shop.test/pay/p/t",
        ctx.now(),
    )
    draft = Draft(
        "paylink.email.x@test",
        "pay_link",
        "email",
        "ada@example.com",
        pay_link=notice,
        templates=MessageTemplates(text="{{ merchant[n.customer_name] }} {{ n.url }}", version=3),
    )
    with caplog.at_level(logging.WARNING, logger="crm_pay.notifications"):
        email = compose(ctx, draft)
    assert "Hello Card [REDACTED PAN]," in email.text  # the shipped words, redacted
    [record] = caplog.records
    assert "version 3" in record.getMessage()
    assert "[REDACTED PAN]" in record.getMessage()
    assert not pan.contains_pan(record.getMessage())


def test_another_process_s_save_is_seen_and_messages_read_no_template_rows(
    world: FakeWorld, outbox: OutboxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second context on the same database: another process, as far as the cache goes.
    other = fake_context(str(world.ctx.db.url), clock=world.clock, migrate=False)
    try:
        assert _pay_link_email(world, outbox).subject.endswith("payment request for USD 42.00")
        save_templates(other.ctx, "pay_link", {"subject": "Pay {{ amount }}"}, actor=ADMIN)
        # Within RECHECK_SECONDS this process may still send the words it had, and its
        # deliveries read neither the stamp nor the templates.
        payment = link(world.ctx, "42.00")
        send_pay_link(world.ctx, payment["id"], channel="email", actor="user:agent")
        with count_queries(world.ctx.db.engine) as counter:
            outbox.drain()
        assert not [s.sql for s in counter.statements if "notification_templates" in s.sql]
        assert not [s.sql for s in counter.statements if s.shape == "SELECT sequences"]
        # ...and once it looks again, it sends the new ones.
        monkeypatch.setattr(templates, "RECHECK_SECONDS", 0.0)
        assert _pay_link_email(world, outbox).subject == "Pay USD 42.00"
    finally:
        other.close()
