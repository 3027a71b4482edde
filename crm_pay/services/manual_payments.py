"""Manual payments: money a customer paid outside the PSP (cheque, bank transfer, cash, a
card terminal's slip), recorded by an agent and booked only after a second person
approves it (:mod:`.approvals`).

Layer: use cases beside charging (records, receipts, notifications and cases below it;
:mod:`.approvals` above it asks it to check a request and, once approved, to book it).

Nothing here reaches the ledger at request time: :func:`check_manual_payment` only
validates what the agent typed against the customer's open invoices and returns the
payload the approval request keeps. :func:`book_manual_payment` runs in the approval's
transaction, under its row lock: it creates a ``manual`` payment (``settled`` at once: the
money is already in the bank), books it through the domain ledger's
:func:`~crm_pay.domain.ledger.plan_allocation` (the picked invoices, else oldest due
first; anything above them is credit and opens an ``overpaid`` case), issues the numbered
receipt and writes the same CRM outbox messages as a card payment. The approval moves to
``approved`` in the same transaction, so the booking happens exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.ledger import plan_allocation
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, Payment
from vault import pan

from . import audit
from .cases import open_case
from .context import Context
from .customers import load_ledger, persist_entries, sync_customer
from .notifications import share_receipt
from .payment_records import add_event, crm_sync_messages, new_payment_id, transition
from .receipts import issue_receipt

__all__ = [
    "METHODS",
    "ManualPayment",
    "check_manual_payment",
    "book_manual_payment",
    "method_words",
]

#: How the money came, and the words printed on the receipt.
METHODS: dict[str, str] = {
    "cheque": "Cheque",
    "bank_transfer": "Bank transfer",
    "cash": "Cash",
    "card_terminal": "Card terminal",
}
_REFERENCE_MAX = 100
_NOTE_MAX = 500


def method_words(method: str) -> str:
    return METHODS.get(method, method.replace("_", " ").capitalize())


@dataclass(frozen=True)
class ManualPayment:
    """What the agent records. ``invoices``: the invoices the customer says they paid
    (empty: oldest due first when it is booked)."""

    crm_ref: str
    amount: str
    currency: str
    method: str
    reference: str
    note: str = ""
    invoices: Sequence[str] = field(default_factory=tuple)


def _free_text(value: str, what: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationError(f"the {what} is required", code=f"{what.replace(' ', '_')}_required")
    if len(text) > limit:
        raise ValidationError(f"the {what} is longer than {limit} characters")
    # A terminal slip or bank reference can hold a card number: never kept as typed.
    return pan.redact(text)


def check_manual_payment(ctx: Context, command: ManualPayment) -> dict[str, Any]:
    """Validate a manual payment (the customer is read from the CRM first, no transaction
    open while it answers) and return the payload its approval request keeps. Refusals
    are :class:`ValidationError` or :class:`NotFound` with words for the agent; nothing
    is stored here."""
    if command.method not in METHODS:
        raise ValidationError(
            f"method must be one of {', '.join(METHODS)}", code="invalid_payment_method"
        )
    reference = _free_text(command.reference, "reference", _REFERENCE_MAX, required=True)
    note = _free_text(command.note, "note", _NOTE_MAX, required=False)
    customer_id = sync_customer(ctx, command.crm_ref)
    with ctx.db.transaction() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        currency = command.currency.upper()
        if currency != customer.currency:
            raise ValidationError(
                f"{customer.crm_ref}'s account is in {customer.currency}; a manual payment "
                f"in {currency} cannot be booked on it",
                code="currency_mismatch",
            )
        amount = Money.parse(command.amount, currency)
        if not amount.is_positive():
            raise ValidationError("a payment must be more than zero")
        open_refs = {inv.ref for inv in load_ledger(s, customer).open_invoices()}
        picked = list(dict.fromkeys(command.invoices))
        stray = [ref for ref in picked if ref not in open_refs]
        if stray:
            raise ValidationError(
                f"invoice {stray[0]} is not one of {customer.crm_ref}'s open invoices",
                code="invoice_not_open",
            )
        return {
            "crm_ref": customer.crm_ref,
            "amount": amount.to_decimal_str(),
            "amount_minor": amount.minor,
            "currency": currency,
            "method": command.method,
            "reference": reference,
            "note": note,
            "invoices": picked,
        }


def book_manual_payment(
    session: Session,
    ctx: Context,
    payload: dict[str, Any],
    *,
    approval_id: str,
    requested_by: str,
    approved_by: str,
) -> dict[str, Any]:
    """Book an approved manual payment in the caller's transaction (the approval's, under
    its row lock: called once per approval). Returns ``{"payment_id", "receipt_number"}``."""
    customer = session.scalars(
        select(Customer).where(Customer.crm_ref == payload["crm_ref"]).with_for_update()
    ).first()
    if customer is None:
        raise NotFound(f"no customer {payload['crm_ref']!r}")
    now = ctx.now()
    amount = Money(int(payload["amount_minor"]), payload["currency"])
    ledger = load_ledger(session, customer)
    open_invoices = ledger.open_invoices()
    picked = [inv for inv in open_invoices if inv.ref in set(payload.get("invoices") or ())]
    # The picked invoices that are still open (the rest of the money is credit); none
    # picked, or none of them still open: the domain's oldest-due-first rule.
    plan = plan_allocation(amount, picked or open_invoices)
    words = method_words(payload["method"])
    payment = Payment(
        id=new_payment_id(),
        customer_id=customer.id,
        channel="manual",
        status=PaymentStatus.CREATED.value,
        amount_minor=amount.minor,
        currency=amount.currency,
        requested_allocations={a.invoice_ref: a.amount.minor for a in plan.allocations},
        created_by=requested_by,
        description=f"{words} {payload['reference']}"[:500],
        attempt=0,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    # No PSP moved this money: it is in the bank already (settled), and no janitor,
    # settlement poll or reconciliation looks for it at the PSP (no PSP reference).
    transition(session, ctx, payment, PaymentStatus.PROCESSING)
    transition(session, ctx, payment, PaymentStatus.SETTLED)
    add_event(
        session,
        ctx,
        payment,
        EventKind.SALE_SUCCEEDED,
        detail={
            "manual": payload["method"],
            "reference": payload["reference"],
            "approval": approval_id,
        },
    )
    persist_entries(
        session,
        customer,
        ledger.record_payment(
            payment.id, plan, memo=f"Manual payment, {words.lower()} {payload['reference']}"[:300]
        ),
        now,
    )
    if plan.credit.is_positive():
        open_case(
            session,
            ctx,
            kind="overpaid",
            subject=payment.id,
            payment_id=payment.id,
            detail={"credit": plan.credit.to_decimal_str(), "approval": approval_id},
        )
    receipt = issue_receipt(
        session,
        ctx,
        payment=payment,
        customer=customer,
        allocations=[(a.invoice_ref, a.amount) for a in plan.allocations],
        credit=plan.credit,
        ledger=ledger,
    )
    # Issued in this transaction, not yet sent or attached anywhere: the receipt says how
    # the money came (the card words do not apply) and quotes the agent's reference.
    content = dict(receipt.content)
    content["method"] = words
    content["psp_reference"] = payload["reference"]
    receipt.content, _ = pan.redact_obj(content)
    audit.record(
        session,
        ctx,
        actor=approved_by,
        action="payment.manual_booked",
        subject=payment.id,
        data={
            "amount": amount.to_decimal_str(),
            "method": payload["method"],
            "reference": payload["reference"],
            "receipt": receipt.number,
            "approval": approval_id,
            "requested_by": requested_by,
        },
    )
    crm_sync_messages(session, ctx, payment, customer, "succeeded")
    share_receipt(session, ctx, receipt_row=receipt, customer=customer)
    return {"payment_id": payment.id, "receipt_number": receipt.number}
