"""An overpaid case's credit applied to an invoice (crm_pay.services.credits): the ledger
moves once, the case resolves with it, the CRM and the customer are told; bad input
books nothing and leaves the case open."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import Conflict, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.models import Case, Customer, OutboxMessage
from crm_pay.ports import CrmInvoice, CrmInvoiceLine
from crm_pay.services import cases, credits
from crm_pay.services.customers import load_ledger, sync_customer
from crm_pay.testing import FakeWorld
from servicetest import paid

SUPERVISOR = "user:2:supervisor@example.com"


def _overpaid(world: FakeWorld) -> int:
    """CUST-0001 owes 100.00 on INV-1001 and pays 130.00: 30.00 credit, an overpaid
    case; then the CRM issues INV-2002 for 50.00."""
    payment = paid(world.ctx, "130.00")
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
    with world.ctx.db.transaction() as s:
        case = s.scalars(
            select(Case).where(Case.kind == "overpaid", Case.payment_id == payment["id"])
        ).one()
        return case.id


def _ledger(world: FakeWorld) -> tuple[str, str, str]:
    """(balance, credit, still owed on INV-2002)."""
    with world.ctx.db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.crm_ref == "CUST-0001")).one()
        ledger = load_ledger(s, customer)
        owed = {i.ref: i.outstanding for i in ledger.open_invoices()}
        return (
            ledger.balance().to_decimal_str(),
            ledger.credit().to_decimal_str(),
            owed.get("INV-2002", Money.zero("USD")).to_decimal_str(),
        )


def _topics(world: FakeWorld) -> list[str]:
    with world.ctx.db.transaction() as s:
        return list(s.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))


def test_the_credit_pays_the_invoice_once_and_resolves_the_case(world: FakeWorld) -> None:
    case_id = _overpaid(world)
    assert _ledger(world) == ("20.00", "30.00", "50.00")  # 50 owed - 30 credit
    before = _topics(world)

    result = credits.apply_case_credit(
        world.ctx, case_id, invoice="INV-2002", amount=None, actor=SUPERVISOR, note=""
    )

    assert result["applied"] == "30.00"
    assert _ledger(world) == ("20.00", "0.00", "20.00")  # the balance is unchanged
    summary = cases.case_summary(world.ctx, case_id)
    assert (summary["status"], summary["resolution_code"]) == ("resolved", "credit_applied")
    new = _topics(world)[len(before) :]
    assert sorted(new) == ["crm.timeline_note", "crm.update_balance", "customer.case_update"]

    with pytest.raises(Conflict):  # a second click: the case is resolved, nothing booked
        credits.apply_case_credit(
            world.ctx, case_id, invoice="INV-2002", amount=None, actor=SUPERVISOR, note=""
        )
    assert _ledger(world) == ("20.00", "0.00", "20.00")


@pytest.mark.parametrize(
    ("invoice", "amount", "code"),
    [
        ("INV-9999", None, "invoice_not_found"),
        ("INV-2002", "40.00", None),  # more than the 30.00 credit
        ("INV-1001", None, "nothing_to_apply"),  # paid in full already
        ("", None, "invoice_required"),
    ],
)
def test_bad_input_books_nothing_and_leaves_the_case_open(
    world: FakeWorld, invoice: str, amount: str | None, code: str | None
) -> None:
    case_id = _overpaid(world)
    before = (_ledger(world), _topics(world))

    with pytest.raises(ValidationError) as refused:
        credits.apply_case_credit(
            world.ctx, case_id, invoice=invoice, amount=amount, actor=SUPERVISOR, note=""
        )

    if code is not None:
        assert refused.value.code == code
    assert refused.value.message  # said in words
    assert (_ledger(world), _topics(world)) == before
    assert cases.case_summary(world.ctx, case_id)["status"] == "open"


def test_the_plain_resolve_cannot_claim_the_credit_was_applied(world: FakeWorld) -> None:
    case_id = _overpaid(world)

    with pytest.raises(ValidationError) as refused:
        cases.resolve(world.ctx, case_id, actor=SUPERVISOR, code="credit_applied", note="done")

    assert refused.value.code == "resolution_by_action"
    assert cases.case_summary(world.ctx, case_id)["status"] == "open"
    assert _ledger(world) == ("20.00", "30.00", "50.00")


def test_only_an_overpaid_case_has_a_credit_to_apply(world: FakeWorld) -> None:
    payment = paid(world.ctx, "10.00")
    with world.ctx.db.transaction() as s:
        case = cases.open_case(
            s, world.ctx, kind="receipt_undeliverable", subject="r-1", payment_id=payment["id"]
        )
        s.flush()
        case_id = case.id

    with pytest.raises(ValidationError) as refused:
        credits.apply_case_credit(
            world.ctx, case_id, invoice="INV-1001", amount=None, actor=SUPERVISOR, note=""
        )

    assert refused.value.code == "not_an_overpayment"
