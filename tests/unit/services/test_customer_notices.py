"""Customer messages for the states that concern them, besides the receipt (which is the
confirmation, and also tells of a refund or a settlement reversal): a part payment, a
payment still being checked, a resolved case. Each once, with its delivery status, and
never with a card number."""

from __future__ import annotations

from sqlalchemy import select

from crm_pay.persistence.models import Customer, Message
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.janitor import run_janitor
from crm_pay.services.notifications import CASE_UPDATE_TOPIC
from crm_pay.services.outbox import enqueue
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import link, paid, token_of
from vault import pan


def _case_update(world: FakeWorld, payload: dict) -> None:
    with world.ctx.db.transaction() as s:
        enqueue(
            s,
            topic=CASE_UPDATE_TOPIC,
            ordering_key=f"case:{payload['case_id']}",
            dedupe_key=f"case-update:{payload['case_id']}:{payload['resolution_code']}",
            payload=payload,
            now=world.ctx.now(),
        )


def test_a_resolved_case_is_told_to_the_customer_once_in_plain_words(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    payment = paid(world.ctx)
    outbox.drain()
    with world.ctx.db.transaction() as s:
        customer_id = s.scalars(select(Customer.id)).one()
    payload = {
        "case_id": 7,
        "payment_id": payment["id"],
        "customer_id": customer_id,
        "resolution_code": "refunded",
    }
    _case_update(world, payload)
    outbox.drain()
    # The same update again (a retried outbox message, a second enqueue): no second email.
    with world.ctx.db.transaction() as s:
        enqueue(
            s,
            topic=CASE_UPDATE_TOPIC,
            ordering_key="case:7",
            dedupe_key="case-update:7:refunded:again",
            payload=payload,
            now=world.ctx.now(),
        )
    outbox.drain()

    updates = [m for m in world.email.to("ada@example.com") if "update" in m.subject]
    assert len(updates) == 1
    assert "We have refunded the payment" in updates[0].text
    assert payment["id"] in updates[0].text and "7" in updates[0].text
    assert "refunded" not in updates[0].subject
    with world.ctx.db.transaction() as s:
        row = s.scalars(select(Message).where(Message.kind == "case_update")).one()
        assert row.status == "sent"


def test_an_unknown_resolution_code_gets_the_general_words(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    payment = paid(world.ctx)
    _case_update(
        world,
        {
            "case_id": 8,
            "payment_id": payment["id"],
            "customer_id": "CUST-0001",
            "resolution_code": "Weird Code <b>",
        },
    )
    outbox.drain()
    (update,) = [m for m in world.email.to("ada@example.com") if "update" in m.subject]
    assert "We have looked into it and closed the matter." in update.text
    assert "<b>" not in update.html


def test_a_payment_still_in_doubt_after_several_checks_tells_the_customer_to_wait(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    view = link(world.ctx, "100.00")
    world.psp.fail_next("down")
    assert pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")["status"] == "unknown"
    for _ in range(world.ctx.settings.janitor_case_after_checks + 1):
        world.clock.advance(3601)
        world.psp.fail_next("down", count=5)
        run_janitor(world.ctx)
    outbox.drain()
    notices = [m for m in world.email.to("ada@example.com") if "checking" in m.subject]
    assert len(notices) == 1  # once per attempt, however many checks
    assert "do not pay again" in notices[0].text
    assert not pan.contains_pan(notices[0].text)


def test_an_in_review_notice_resolved_before_delivery_is_not_sent(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    view = link(world.ctx, "100.00")
    world.psp.fail_next("timeout")  # the PSP took it; we only do not know yet
    pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")
    for _ in range(world.ctx.settings.janitor_case_after_checks):
        world.clock.advance(3601)
        world.psp.fail_next("down")  # the PSP cannot be asked: still in doubt
        run_janitor(world.ctx)
    world.clock.advance(3601)
    run_janitor(world.ctx)  # the PSP answers again: the janitor finds the sale
    outbox.drain()
    with world.ctx.db.transaction() as s:
        rows = list(s.scalars(select(Message).where(Message.kind == "payment_in_review")))
    assert [r.status for r in rows] == ["skipped"]
    assert not [m for m in world.email.to("ada@example.com") if "checking" in m.subject]


def test_a_part_payment_receipt_says_what_is_still_to_pay(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(world.ctx, "40.00")  # INV-1001 is 100.00
    outbox.drain()
    (receipt,) = world.email.to("ada@example.com")
    assert "This was a part payment: USD 60.00 is still to pay on invoice INV-1001." in " ".join(
        receipt.text.split()
    )
    assert "still to pay" in receipt.html


def test_a_full_payment_receipt_does_not_speak_of_a_part_payment(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    paid(world.ctx, "100.00")
    outbox.drain()
    (receipt,) = world.email.to("ada@example.com")
    assert "part payment" not in receipt.text
