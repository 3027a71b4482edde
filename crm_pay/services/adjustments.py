"""Write-offs and adjustments of a customer's balance, booked only after a second person
approves them (:mod:`.approvals`).

Layer: use cases beside charging (the ledger records, audit and outbox below it).

Both are ledger entries of the domain's own ``adjustment`` kind, never payments: no money
moved, so no receipt is issued. A **write-off** lowers an invoice's total by what it
still owes (or part of it): the invoice is then paid (or partly), and the memo starts
with "Write-off". An **adjustment** changes the account's balance, or an invoice's
total when one is named: a ``credit`` (the customer owes less, e.g. goodwill) or a
``debit`` (the customer owes more, e.g. a fee). :func:`check_adjustment` validates a
request (nothing is stored); :func:`book_adjustment` books it in the approval's
transaction, checking it again against the ledger as it is then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound, ValidationError
from crm_pay.domain.ledger import Ledger
from crm_pay.domain.money import Money
from crm_pay.persistence.models import Customer

from . import audit
from .context import Context
from .customers import load_ledger, persist_entries, sync_customer
from .outbox import enqueue
from .payment_records import crm_timeline_note

__all__ = ["DIRECTIONS", "check_adjustment", "book_adjustment", "WRITE_OFF_MEMO"]

DIRECTIONS = ("credit", "debit")
WRITE_OFF_MEMO = "Write-off"


def _signed(kind: str, direction: str, amount: Money) -> Money:
    """Ledger sign: positive = the customer owes more."""
    return amount if kind == "adjustment" and direction == "debit" else -amount


def _check_against(
    ledger: Ledger, kind: str, direction: str, amount: Money, invoice: str | None
) -> None:
    if invoice is None:
        return
    try:
        total = ledger.invoice_total(invoice)
        paid = ledger.paid_on(invoice)
    except NotFound:
        raise ValidationError(
            f"invoice {invoice} is not on this customer's account", code="invoice_not_found"
        ) from None
    owed = total - paid if paid < total else Money.zero(total.currency)
    lowering = _signed(kind, direction, amount).minor < 0
    if kind == "write_off" and amount > owed:
        raise ValidationError(
            f"invoice {invoice} owes {owed.format()}; write off at most that",
            code="write_off_too_large",
        )
    if lowering and amount > owed:
        raise ValidationError(
            f"invoice {invoice} owes {owed.format()}; its total cannot go below what is paid "
            "on it (credit the account instead)",
            code="adjustment_too_large",
        )


def check_adjustment(
    ctx: Context,
    *,
    kind: str,
    crm_ref: str,
    amount: str,
    direction: str = "credit",
    invoice: str | None = None,
) -> dict[str, Any]:
    """Validate a write-off (``invoice`` required) or adjustment and return the payload its
    approval request keeps."""
    if kind not in ("write_off", "adjustment"):
        raise ValidationError("kind must be write_off or adjustment")
    if kind == "write_off":
        direction = "credit"
        if not invoice:
            raise ValidationError("name the invoice to write off", code="invoice_required")
    if direction not in DIRECTIONS:
        raise ValidationError(
            "direction must be credit (the customer owes less) or debit (owes more)"
        )
    customer_id = sync_customer(ctx, crm_ref)
    with ctx.db.transaction() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        money = Money.parse(amount, customer.currency)
        if not money.is_positive():
            raise ValidationError("the amount must be more than zero")
        _check_against(load_ledger(s, customer), kind, direction, money, invoice or None)
        return {
            "crm_ref": customer.crm_ref,
            "amount": money.to_decimal_str(),
            "amount_minor": money.minor,
            "currency": customer.currency,
            "direction": direction,
            "invoice": invoice or None,
        }


def book_adjustment(
    session: Session,
    ctx: Context,
    kind: str,
    payload: dict[str, Any],
    *,
    approval_id: str,
    reason: str,
    approved_by: str,
) -> dict[str, Any]:
    """Book an approved write-off or adjustment in the caller's transaction (the
    approval's, under its row lock). Returns ``{"balance"}`` after it."""
    customer = session.scalars(
        select(Customer).where(Customer.crm_ref == payload["crm_ref"]).with_for_update()
    ).first()
    if customer is None:
        raise NotFound(f"no customer {payload['crm_ref']!r}")
    amount = Money(int(payload["amount_minor"]), payload["currency"])
    invoice = payload.get("invoice")
    ledger = load_ledger(session, customer)
    # Checked again: the invoice may have been paid since the request was made.
    _check_against(ledger, kind, payload["direction"], amount, invoice)
    what = WRITE_OFF_MEMO if kind == "write_off" else f"Adjustment ({payload['direction']})"
    memo = f"{what}: {reason}"[:260] + f" [{approval_id}]"  # the column holds 300
    entry = ledger.record_adjustment(
        _signed(kind, payload["direction"], amount), memo, invoice_ref=invoice
    )
    now = ctx.now()
    persist_entries(session, customer, [entry], now)
    audit.record(
        session,
        ctx,
        actor=approved_by,
        action=f"ledger.{kind}",
        subject=customer.crm_ref,
        data={
            "amount": amount.to_decimal_str(),
            "direction": payload["direction"],
            "invoice": invoice or "",
            "approval": approval_id,
        },
    )
    # The CRM learns the new balance (the handler reads it) and why, on the timeline.
    enqueue(
        session,
        topic="crm.update_balance",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.balance:{customer.crm_ref}:{approval_id}",
        payload={"crm_ref": customer.crm_ref},
        now=now,
    )
    target = f" on invoice {invoice}" if invoice else ""
    crm_timeline_note(
        session,
        ctx,
        customer,
        key=f"{kind}:{approval_id}",
        text=f"{what} of {amount.format()}{target}: {reason}",
    )
    return {"balance": ledger.balance().to_decimal_str(), "invoice": invoice}
