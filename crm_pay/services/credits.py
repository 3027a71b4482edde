"""An overpayment's credit applied to one of the customer's invoices, from its case.

Layer: use case beside charging (customers' ledger, cases, audit and outbox below it).

A payment larger than what the customer owed leaves the rest as credit on the account
and opens an ``overpaid`` case. The supervisor either keeps it as credit, refunds it
(the refund panel: a refund takes the credit first), or applies it to an invoice here.
Applying moves no money at the PSP: it is a balanced pair of ``credit_applied`` ledger
entries (the domain's ``Ledger.apply_credit``), booked in the same transaction that
resolves the case with ``credit_applied`` — so a second click finds the case resolved
and books nothing twice. The CRM learns the new balance and gets a timeline note, and
the customer is told (the case-update notice).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.models import Customer, Payment

from . import audit
from .cases import locked_case, require_unresolved, resolve_in
from .context import Context
from .customers import load_ledger, persist_entries
from .outbox import enqueue
from .payment_records import crm_timeline_note

__all__ = ["apply_case_credit", "CREDIT_APPLIED"]

CREDIT_APPLIED = "credit_applied"


def apply_case_credit(
    ctx: Context,
    case_id: int,
    *,
    invoice: str,
    amount: str | None,
    actor: str,
    note: str,
) -> dict[str, Any]:
    """Apply the credit of an ``overpaid`` case's customer to ``invoice`` (``amount``, or
    as much as both allow) and resolve the case. Returns the case and the new balance."""
    invoice = (invoice or "").strip()
    if not invoice:
        raise ValidationError("name the invoice the credit pays", code="invoice_required")
    with ctx.db.transaction() as s:
        case = locked_case(s, ctx, case_id)
        require_unresolved(case, "given a credit")  # a second click books nothing
        if case.kind != "overpaid" or case.payment_id is None:
            raise ValidationError(
                f"case {case_id} is a {case.kind} case: only an overpaid payment's credit "
                "is applied from its case",
                code="not_an_overpayment",
            )
        payment = s.get(Payment, case.payment_id)
        if payment is None:
            raise NotFound(f"case {case_id} names no payment on record")
        customer = s.scalars(
            select(Customer).where(Customer.id == payment.customer_id).with_for_update()
        ).first()
        assert customer is not None
        money = None
        if amount is not None and str(amount).strip():
            money = Money.parse(str(amount).strip(), customer.currency)
        ledger = load_ledger(s, customer)
        try:
            entries = ledger.apply_credit(
                invoice, money, memo=f"Credit from payment {payment.id} (case {case_id})"
            )
        except NotFound:
            raise ValidationError(
                f"invoice {invoice} is not on {customer.crm_ref}'s account; nothing was applied",
                code="invoice_not_found",
            ) from None
        if not entries:
            raise ValidationError(
                f"there is nothing to apply: the account has {ledger.credit().format()} "
                f"credit and invoice {invoice} owes nothing, or the other way round",
                code="nothing_to_apply",
            )
        applied = Money(
            sum(e.amount.minor for e in entries if e.amount.minor > 0), customer.currency
        )
        # The case first: a case already resolved refuses before anything is booked.
        summary = resolve_in(
            s,
            ctx,
            case_id,
            actor=actor,
            code=CREDIT_APPLIED,
            note=note or f"{applied.format()} credit applied to invoice {invoice}",
        )
        now = ctx.now()
        persist_entries(s, customer, entries, now)
        audit.record(
            s,
            ctx,
            actor=actor,
            action="ledger.credit_applied",
            subject=customer.crm_ref,
            data={"amount": applied.to_decimal_str(), "invoice": invoice, "case": case_id},
        )
        enqueue(
            s,
            topic="crm.update_balance",
            ordering_key=f"crm:{customer.crm_ref}",
            dedupe_key=f"crm.balance:{customer.crm_ref}:credit:{case_id}",
            payload={"crm_ref": customer.crm_ref},
            now=now,
        )
        crm_timeline_note(
            s,
            ctx,
            customer,
            key=f"credit_applied:{case_id}",
            text=f"{applied.format()} of credit from payment {payment.id} applied to invoice "
            f"{invoice}",
        )
        return {
            "case": summary,
            "applied": applied.to_decimal_str(),
            "invoice": invoice,
            "balance": ledger.balance().to_decimal_str(),
            "credit": ledger.credit().to_decimal_str(),
        }
