"""Payment reminders with a fake clock, CRM and mailer: when a rule sends, how often,
never in quiet hours, never after payment, never after an opt-out; the "pay now" link;
the figures the dashboard shows."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.persistence.models import Message, ReminderSend
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.customers import sync_customer
from crm_pay.services.reminder_links import record_opt_out, reminder_pay_url
from crm_pay.services.reminder_payments import open_reminder_payment
from crm_pay.services.reminders import (
    RuleForm,
    reminder_figures,
    rule_views,
    run_due_reminders,
    save_rule,
    set_rule_enabled,
)
from crm_pay.testing import FakeWorld, OutboxRunner
from crm_pay.worker import BackgroundWorkers
from vault import pan

# INV-1001 (100.00) of CUST-0001 is due on 31 March 2026 (FakeCrm.with_customer).
DAY_AFTER_DUE_NOON = datetime(2026, 4, 1, 11, 0, tzinfo=UTC)  # 12:00 in London (BST)


def _setup(world: FakeWorld, **rule: str) -> int:
    world.clock.now = DAY_AFTER_DUE_NOON
    sync_customer(world.ctx, "CUST-0001")
    form = RuleForm(
        name="After due",
        offset_days=rule.get("offset_days", "1"),
        repeat_every_days=rule.get("repeat_every_days", "3"),
        max_reminders=rule.get("max_reminders", "2"),
        channel=rule.get("channel", "email"),
        timezone="Europe/London",
        quiet_start=rule.get("quiet_start", "21:00"),
        quiet_end=rule.get("quiet_end", "08:00"),
    )
    return int(save_rule(world.ctx, form, actor="admin:ada")["id"])


def _links(text: str, path: str) -> list[str]:
    return [w for w in text.split() if f"{path}/" in w]


def test_a_rule_sends_on_its_days_at_most_n_times_and_a_pass_run_again_sends_nothing(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _setup(world)

    assert run_due_reminders(world.ctx)["sent"] == 1
    assert run_due_reminders(world.ctx)["sent"] == 0  # the same pass again: claimed
    outbox.drain()
    first = world.email.to("ada@example.com")
    assert len(first) == 1
    assert "Overdue: invoice INV-1001" in first[0].subject
    assert "100.00" in first[0].text and "1 day ago" in first[0].text
    assert _links(first[0].text, "/reminders/pay") and _links(first[0].text, "/reminders/opt-out")

    world.clock.advance(days=2)  # repeat every 3 days: not yet
    assert run_due_reminders(world.ctx)["sent"] == 0
    world.clock.advance(days=1)
    assert run_due_reminders(world.ctx)["sent"] == 1
    world.clock.advance(days=30)  # at most 2 per invoice
    assert run_due_reminders(world.ctx)["sent"] == 0
    outbox.drain()
    assert len(world.email.to("ada@example.com")) == 2


def test_nothing_is_sent_before_the_rule_s_first_day(world: FakeWorld) -> None:
    _setup(world, offset_days="5")
    assert run_due_reminders(world.ctx)["sent"] == 0
    world.clock.advance(days=4)
    assert run_due_reminders(world.ctx)["sent"] == 1


def test_quiet_hours_are_kept_in_the_rule_s_timezone(world: FakeWorld) -> None:
    _setup(world)
    world.clock.now = datetime(2026, 4, 1, 20, 30, tzinfo=UTC)  # 21:30 in London
    report = run_due_reminders(world.ctx)
    assert report == {"sent": 0, "quiet": 1}
    world.clock.now = datetime(2026, 4, 2, 6, 59, tzinfo=UTC)  # 07:59 in London
    assert run_due_reminders(world.ctx)["sent"] == 0
    world.clock.now = datetime(2026, 4, 2, 7, 0, tzinfo=UTC)  # 08:00 in London
    assert run_due_reminders(world.ctx)["sent"] == 1


def test_a_paid_invoice_is_never_reminded_and_a_queued_reminder_is_not_sent(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _setup(world)
    assert run_due_reminders(world.ctx)["sent"] == 1
    # Paid through the reminder's own link before the message went out.
    with world.ctx.db.transaction() as s:
        send = s.scalars(select(ReminderSend)).one()
        send_id = send.id
    from_link = open_reminder_payment(world.ctx, _signed_pay(world, send_id))
    assert from_link["state"] == "pay"
    pay_with_nonce(world.ctx, from_link["url"].rsplit("/p/", 1)[1], "fake-valid-nonce")

    outbox.drain()
    reminders = [m for m in world.email.to("ada@example.com") if "INV-1001" in m.subject]
    assert [m for m in reminders if "Overdue" in m.subject] == []
    with world.ctx.db.transaction() as s:
        msg = s.scalars(select(Message).where(Message.kind == "reminder")).one()
        assert msg.status == "skipped" and "paid" in (msg.last_error or "")
    world.clock.advance(days=10)
    assert run_due_reminders(world.ctx)["sent"] == 0
    assert open_reminder_payment(world.ctx, _signed_pay(world, send_id))["state"] == "paid"


def _signed_pay(world: FakeWorld, send_id: int) -> str:
    return reminder_pay_url(world.ctx, send_id).rsplit("/", 1)[1]


def test_the_pay_now_link_gives_the_same_open_pay_link_while_it_is_open(
    world: FakeWorld,
) -> None:
    _setup(world)
    run_due_reminders(world.ctx)
    with world.ctx.db.transaction() as s:
        send_id = s.scalars(select(ReminderSend.id)).one()
    first = open_reminder_payment(world.ctx, _signed_pay(world, send_id))
    again = open_reminder_payment(world.ctx, _signed_pay(world, send_id))
    assert first["url"] == again["url"]
    world.clock.advance(hours=1)  # the pay link expired: a new one
    later = open_reminder_payment(world.ctx, _signed_pay(world, send_id))
    assert later["state"] == "pay" and later["url"] != first["url"]


def test_an_opt_out_stops_every_later_reminder_and_the_queued_one(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _setup(world, max_reminders="5", repeat_every_days="1")
    run_due_reminders(world.ctx)
    outbox.drain()
    email = world.email.to("ada@example.com")[0]
    opt_out = _links(email.text, "/reminders/opt-out")[0].rsplit("/", 1)[1]

    world.clock.advance(days=1)
    run_due_reminders(world.ctx)  # queued, not delivered yet
    assert record_opt_out(world.ctx, opt_out) == {"customer_ref": "CUST-0001", "already": False}
    assert record_opt_out(world.ctx, opt_out)["already"] is True
    outbox.drain()
    assert len(world.email.to("ada@example.com")) == 1
    world.clock.advance(days=3)
    assert run_due_reminders(world.ctx)["sent"] == 0


def test_a_disabled_rule_sends_nothing(world: FakeWorld) -> None:
    rule_id = _setup(world)
    set_rule_enabled(world.ctx, rule_id, False, actor="admin:ada")
    assert run_due_reminders(world.ctx)["sent"] == 0
    assert rule_views(world.ctx)[0]["enabled"] is False


def test_sms_reminders_go_to_the_phone_without_a_card_number(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _setup(world, channel="sms")
    run_due_reminders(world.ctx)
    outbox.drain()
    (sms,) = world.sms.to("+15555550101")
    assert "INV-1001" in sms.body and "/reminders/pay/" in sms.body
    assert not pan.contains_pan(sms.body)


def test_no_reminder_ever_holds_a_card_number(world: FakeWorld, outbox: OutboxRunner) -> None:
    # A customer whose CRM name holds a card number: the guard redacts it on the way in,
    # and the message is redacted again on the way out.
    world.crm.customers["CUST-0001"] = world.crm.customers["CUST-0001"].__class__(
        "CUST-0001", "Ada 4111 1111 1111 1111", email="ada@example.com", currency="USD"
    )
    _setup(world)
    run_due_reminders(world.ctx)
    outbox.drain()
    (email,) = world.email.to("ada@example.com")
    for part in (email.subject, email.text, email.html):
        assert not pan.contains_pan(part)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("offset_days", "soon", "whole number"),
        ("max_reminders", "0", "from 1 to 10"),
        ("channel", "fax", "email or SMS"),
        ("timezone", "Mars/Olympus", "not a timezone"),
        ("quiet_start", "25:00", "such as 21:00"),
    ],
)
def test_a_bad_rule_is_refused_with_words_that_say_how_to_fix_it(
    world: FakeWorld, field: str, value: str, words: str
) -> None:
    values = {"name": "R", "offset_days": "1", "quiet_start": "21:00", "quiet_end": "08:00"}
    values[field] = value
    with pytest.raises(ValidationError, match=words):
        save_rule(world.ctx, RuleForm(**values), actor="admin:ada")  # type: ignore[arg-type]
    assert rule_views(world.ctx) == []


def test_the_claim_is_unique_per_invoice_rule_and_sequence(world: FakeWorld) -> None:
    _setup(world)
    run_due_reminders(world.ctx)
    with pytest.raises(IntegrityError), world.ctx.db.transaction() as s:
        first = s.scalars(select(ReminderSend)).one()
        s.add(
            ReminderSend(
                invoice_id=first.invoice_id,
                rule_id=first.rule_id,
                sequence=first.sequence,
                message_id="another",
                created_at=world.clock.now,
            )
        )


def test_reminder_figures_count_sent_reminded_and_paid_within_seven_days(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _setup(world)
    run_due_reminders(world.ctx)
    outbox.drain()
    with world.ctx.db.transaction() as s:
        send_id = s.scalars(select(ReminderSend.id)).one()
    world.clock.advance(days=2)
    url = open_reminder_payment(world.ctx, _signed_pay(world, send_id))["url"]
    pay_with_nonce(world.ctx, url.rsplit("/p/", 1)[1], "fake-valid-nonce")

    start, end = DAY_AFTER_DUE_NOON - timedelta(days=1), DAY_AFTER_DUE_NOON + timedelta(days=1)
    with world.ctx.db.transaction() as s:
        figures = reminder_figures(s, start=start, end=end)
        before = reminder_figures(s, start=start - timedelta(days=9), end=start)
    assert figures == {
        "sent": 1,
        "queued": 1,
        "invoices_reminded": 1,
        "converted": 1,
        "conversion": 1.0,
    }
    assert before["queued"] == 0 and before["conversion"] is None


def test_the_worker_sends_due_reminders_on_its_own(world: FakeWorld) -> None:
    _setup(world)
    world.ctx.config = dataclasses.replace(world.ctx.config, reminder_interval=1)
    workers = BackgroundWorkers(world.ctx, outbox_interval=0.1)
    workers.start()
    try:
        deadline = time.monotonic() + 10
        while not world.email.to("ada@example.com") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        workers.stop()
    assert [m.subject for m in world.email.to("ada@example.com")] == [
        "Overdue: invoice INV-1001 from Demo Merchant Inc."
    ]


@pytest.mark.parametrize("key", ["CRM_PAY_REMINDER_INTERVAL", "CRM_PAY_CSAT_LINK_TTL_DAYS"])
def test_a_reminder_interval_or_survey_life_below_one_is_refused_at_start(key: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        CrmPayConfig.from_mapping({key: "0"})
