"""The console's take-payment form (agent_ui.console_forms): what the agent ticked and
typed becomes the allocations the payment will make, by the domain's own rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from agent_ui.console_forms import FormError, parse_take_payment
from crm_pay.domain.ledger import OpenInvoice, plan_allocation
from crm_pay.domain.money import Money


def _invoice(number: str, total: str, paid: str, due_on: str) -> dict[str, Any]:
    owed = Money.parse(total, "USD") - Money.parse(paid, "USD")
    return {
        "number": number,
        "currency": "USD",
        "total": total,
        "paid": paid,
        "outstanding": owed.to_decimal_str() if owed.is_positive() else "0.00",
        "due_on": due_on,
    }


CUSTOMER: dict[str, Any] = {
    "crm_ref": "C-1",
    "currency": "USD",
    "email": "pat@example.com",
    "phone": None,
    # the panel lists invoices due first, as invoice_views does
    "invoices": [
        _invoice("INV-1", "100.00", "40.00", "2026-01-10"),
        _invoice("INV-2", "50.00", "0.00", "2026-01-10"),
        _invoice("INV-3", "80.00", "0.00", "2026-02-01"),
        _invoice("INV-0", "30.00", "30.00", "2025-12-01"),  # paid: not open
    ],
}


def _form(**fields: Any) -> MultiDict[str, str]:
    form: MultiDict[str, str] = MultiDict({"idempotency_key": "k-1", "channel": "email"})
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(name, item)
    return form


def _d(month: int) -> date:
    return date(2026, month, 10 if month == 1 else 1)


def test_ticked_invoices_without_an_amount_are_paid_in_full() -> None:
    taken = parse_take_payment(CUSTOMER, _form(invoice=["INV-3", "INV-1"]))
    assert taken.command.amount == "140.00"
    assert taken.command.allocations == {"INV-3": "80.00", "INV-1": "60.00"}
    assert taken.send_by == "email"


def test_an_amount_is_spread_oldest_due_first_as_the_domain_would() -> None:
    taken = parse_take_payment(
        CUSTOMER, _form(invoice=["INV-3", "INV-2", "INV-1"], amount="100.00")
    )
    # INV-1 and INV-2 are due the same day: ties go by reference, as in plan_allocation
    assert taken.command.allocations == {"INV-1": "60.00", "INV-2": "40.00"}
    plan = plan_allocation(
        Money.parse("100.00", "USD"),
        [
            OpenInvoice("INV-1", Money.parse("100.00", "USD"), Money.parse("40.00", "USD"), _d(1)),
            OpenInvoice("INV-2", Money.parse("50.00", "USD"), Money.zero("USD"), _d(1)),
            OpenInvoice("INV-3", Money.parse("80.00", "USD"), Money.zero("USD"), _d(2)),
        ],
    )
    assert {a.invoice_ref: a.amount.to_decimal_str() for a in plan.allocations} == (
        taken.command.allocations
    )


def test_more_than_the_ticked_invoices_owe_is_refused_next_to_the_amount() -> None:
    with pytest.raises(FormError) as refused:
        parse_take_payment(CUSTOMER, _form(invoice=["INV-2"], amount="60.00"))
    assert refused.value.field == "amount"
    assert "more than the ticked invoices owe (USD 50.00)" in refused.value.message


def test_a_paid_invoice_cannot_be_ticked() -> None:
    with pytest.raises(FormError) as refused:
        parse_take_payment(CUSTOMER, _form(invoice=["INV-0"]))
    assert refused.value.field == "invoice"


def test_an_amount_without_invoices_goes_to_the_balance() -> None:
    taken = parse_take_payment(CUSTOMER, _form(amount="25"))
    assert taken.command.amount == "25.00" and taken.command.allocations is None
