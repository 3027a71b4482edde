"""The ``partial`` case (crm_pay.services.partial_cases): a payment for named invoices that
leaves one of them owed opens it, the customer is told once by the receipt, a later
payment of the rest resolves it by itself, and a supervisor's new link asks for exactly
what is still owed. CUST-0001 owes 100.00 on INV-1001 in the fake CRM."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import Conflict, ValidationError
from crm_pay.domain.ledger import OpenInvoice
from crm_pay.domain.money import Money
from crm_pay.persistence.instrumentation import count_queries
from crm_pay.persistence.models import Case, Customer, Message, OutboxMessage, Payment
from crm_pay.ports import CrmInvoice, CrmInvoiceLine
from crm_pay.services import case_links, case_views, cases, partial_cases
from crm_pay.services.access import Principal
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.customers import load_ledger, sync_customer
from crm_pay.services.pay_links import pay_url_of
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import link, token_of

SUPERVISOR = Principal(kind="user", id=2, name="supervisor@example.com", role="supervisor")


def _pay(world: FakeWorld, amount: str, allocations: dict[str, str] | None = None) -> str:
    view = link(world.ctx, amount, allocations=allocations)
    answer = pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")
    assert answer["status"] == "submitted_for_settlement", answer
    return str(view["id"])


def _partial_cases(world: FakeWorld) -> list[Case]:
    with world.ctx.db.transaction() as s:
        found = list(s.scalars(select(Case).where(Case.kind == "partial").order_by(Case.id)))
        s.expunge_all()
        return found


def _owed(world: FakeWorld, ref: str = "INV-1001") -> str:
    with world.ctx.db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.crm_ref == "CUST-0001")).one()
        owed = {i.ref: i.outstanding for i in load_ledger(s, customer).open_invoices()}
        return owed.get(ref, Money.zero("USD")).to_decimal_str()


def _second_invoice(world: FakeWorld) -> None:
    world.crm.add_invoice(
        CrmInvoice(
            crm_ref="INV-2002",
            customer_ref="CUST-0001",
            currency="USD",
            issued_on=date(2026, 4, 1),
            due_on=date(2026, 4, 30),
            lines=(CrmInvoiceLine("Support", 1, Money.parse("50.00", "USD"), Money.zero("USD")),),
            shipping=Money.zero("USD"),
        )
    )
    sync_customer(world.ctx, "CUST-0001")


def test_a_payment_for_an_invoice_that_leaves_it_owed_opens_one_case_and_one_message(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    payment_id = _pay(world, "40.00", {"INV-1001": "40.00"})
    outbox.drain()

    (case,) = _partial_cases(world)
    assert (case.subject, case.payment_id, case.status) == (payment_id, payment_id, "open")
    assert case.detail == {
        "invoices": ["INV-1001"],
        "paid": "40.00",
        "still_owed": "60.00",
        "currency": "USD",
    }
    assert case.due_at - case.opened_at == timedelta(hours=72)
    # one message: the receipt says what was paid, what is still owed and how to pay it
    (receipt,) = world.email.to("ada@example.com")
    words = " ".join(receipt.text.split())
    assert "Thank you for your payment of USD 40.00" in words
    assert "USD 60.00 is still to pay on invoice INV-1001" in words
    assert "To pay the rest, reply to this email" in words
    assert "To pay the rest" in receipt.html
    with world.ctx.db.transaction() as s:
        assert list(s.scalars(select(Message.kind))) == ["receipt"]


@pytest.mark.parametrize(
    ("amount", "allocations"),
    [
        ("40.00", None),  # on account: oldest due first, no invoice named
        ("100.00", {"INV-1001": "100.00"}),  # the named invoice paid in full
    ],
)
def test_a_payment_on_account_or_in_full_opens_no_partial_case(
    world: FakeWorld, amount: str, allocations: dict[str, str] | None
) -> None:
    _pay(world, amount, allocations)
    assert _partial_cases(world) == []


def test_a_later_payment_of_the_rest_resolves_the_case_by_itself(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    first = _pay(world, "40.00", {"INV-1001": "40.00"})
    outbox.drain()
    world.clock.advance(3600)
    second = _pay(world, "30.00", {"INV-1001": "30.00"})  # still 30.00 owed
    cases_now = _partial_cases(world)
    assert [(c.payment_id, c.status) for c in cases_now] == [(first, "open"), (second, "open")]

    world.clock.advance(1800)
    _pay(world, "30.00")  # on account: pays the rest of INV-1001
    outbox.drain()

    done = _partial_cases(world)
    assert [c.status for c in done] == ["resolved", "resolved"]
    assert {c.resolution_code for c in done} == {"paid_in_full"}
    assert done[0].resolved_by == "system" and done[0].resolution_seconds == 5400
    assert "paid what was still owed on INV-1001" in (done[0].note or "")
    assert _owed(world) == "0.00"
    with world.ctx.db.transaction() as s:  # the receipts only; no case update
        kinds = list(s.scalars(select(Message.kind)))
        topics = list(s.scalars(select(OutboxMessage.topic)))
    assert kinds == ["receipt", "receipt", "receipt"]
    assert "customer.case_update" not in topics


def test_a_case_on_two_invoices_waits_for_both(world: FakeWorld) -> None:
    _second_invoice(world)
    _pay(world, "60.00", {"INV-1001": "40.00", "INV-2002": "20.00"})
    (case,) = _partial_cases(world)
    assert case.detail["invoices"] == ["INV-1001", "INV-2002"]
    assert case.detail["still_owed"] == "90.00"

    _pay(world, "60.00", {"INV-1001": "60.00"})  # INV-2002 still owes 30.00
    assert [c.status for c in _partial_cases(world)] == ["open"]
    _pay(world, "30.00", {"INV-2002": "30.00"})
    assert [c.resolution_code for c in _partial_cases(world)] == ["paid_in_full"]


@pytest.mark.parametrize("code", ["paid_in_full", "new_link_sent"])
def test_what_only_an_action_records_cannot_be_picked_by_hand(world: FakeWorld, code: str) -> None:
    _pay(world, "40.00", {"INV-1001": "40.00"})
    (case,) = _partial_cases(world)

    with pytest.raises(ValidationError) as refused:
        cases.resolve(world.ctx, case.id, actor=SUPERVISOR.actor, code=code, note="done")

    assert refused.value.code == "resolution_by_action"
    assert "not resolved" in refused.value.message
    assert cases.case_summary(world.ctx, case.id)["status"] == "open"
    page = case_views.case_page(world.ctx, case.id)
    assert [r["code"] for r in page["resolutions"]] == ["arranged"]


def test_an_arrangement_is_recorded_in_the_note_and_tells_nobody(world: FakeWorld) -> None:
    _pay(world, "40.00", {"INV-1001": "40.00"})
    (case,) = _partial_cases(world)

    done = cases.resolve(
        world.ctx, case.id, actor=SUPERVISOR.actor, code="arranged", note="pays 30.00 monthly"
    )

    assert (done["status"], done["resolution_code"]) == ("resolved", "arranged")
    with world.ctx.db.transaction() as s:
        topics = list(s.scalars(select(OutboxMessage.topic)))
    assert "customer.case_update" not in topics


def test_the_new_link_asks_for_what_is_still_owed_and_resolves_the_case(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    _pay(world, "40.00", {"INV-1001": "40.00"})
    (case,) = _partial_cases(world)
    assert case_views.case_page(world.ctx, case.id)["rest_to_pay"] == {
        "total": "60.00",
        "currency": "USD",
        "invoices": [{"ref": "INV-1001", "outstanding": "60.00"}],
    }

    sent = case_links.send_case_link(world.ctx, case.id, channel="email", principal=SUPERVISOR)
    outbox.drain()

    assert sent["rest"] == {"total": "60.00", "currency": "USD"}
    with world.ctx.db.transaction() as s:
        new = s.get(Payment, sent["payment_id"])
        assert new is not None
        assert (new.amount_minor, new.requested_allocations) == (6000, {"INV-1001": 6000})
    (link_mail,) = [m for m in world.email.to("ada@example.com") if "payment request" in m.subject]
    assert "USD 60.00" in link_mail.subject
    summary = cases.case_summary(world.ctx, case.id)
    assert (summary["status"], summary["resolution_code"]) == ("resolved", "new_link_sent")
    assert summary["resolution_seconds"] is not None
    assert not [m for m in world.email.to("ada@example.com") if "update" in m.subject]

    # a second click: refused, no second payment, no second link
    with pytest.raises(Conflict) as twice:
        case_links.send_case_link(world.ctx, case.id, channel="email", principal=SUPERVISOR)
    assert twice.value.code == "case_resolved"
    with world.ctx.db.transaction() as s:
        assert len(s.scalars(select(Payment.id)).all()) == 2

    # the customer pays the new link: INV-1001 is paid, no new case
    pay_with_nonce(world.ctx, token_of({"pay_url": _pay_url(world, sent)}), "fake-valid-nonce")
    assert _owed(world) == "0.00"
    assert len(_partial_cases(world)) == 1


def _pay_url(world: FakeWorld, sent: dict[str, Any]) -> str:
    with world.ctx.db.transaction() as s:
        url = pay_url_of(s, world.ctx, sent["payment_id"])
    assert url is not None
    return url


def test_a_bad_channel_sends_nothing_and_leaves_the_case_open(world: FakeWorld) -> None:
    _pay(world, "40.00", {"INV-1001": "40.00"})
    (case,) = _partial_cases(world)

    with pytest.raises(ValidationError):
        case_links.send_case_link(world.ctx, case.id, channel="fax", principal=SUPERVISOR)

    assert cases.case_summary(world.ctx, case.id)["status"] == "open"
    with world.ctx.db.transaction() as s:
        assert len(s.scalars(select(Payment.id)).all()) == 1


def test_checking_a_payment_that_pays_its_invoices_in_full_sends_no_statement(
    world: FakeWorld,
) -> None:
    """The hot path's budget: the check reads the ledger already in memory."""
    payment_id = _pay(world, "100.00", {"INV-1001": "100.00"})
    with world.ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        customer = s.scalars(select(Customer)).one()
        ledger = load_ledger(s, customer)
        before = [OpenInvoice("INV-1001", Money(10000, "USD"), Money.zero("USD"), date.today())]
        with count_queries(world.ctx.db.engine) as counter:
            assert payment is not None
            partial_cases.after_allocation(s, world.ctx, payment, before=before, ledger=ledger)
    assert counter.statement_count == 0
