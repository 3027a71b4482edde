"""Partial payments: the ``partial`` case of a payment that left invoices it named owed.

Definition: a **partial** case opens when a successful payment that was taken *for
specific invoices* (a pay link or console payment whose allocation names invoices:
``Payment.requested_allocations``) leaves at least one of those invoices with an amount
still owed, i.e. the customer paid less than the invoices they were asked to pay. A
payment on account (no invoices named) opens none, whatever it leaves owed; a PSP that
takes another amount than we asked opens ``amount_mismatch`` instead (the payment is not
booked). One case per payment: subject and payment are the payment's id.

Both checks run where the payment's allocation is booked
(:mod:`crm_pay.services.psp_outcome`), in the transaction that books it, from the ledger
already in memory: a payment that pays its invoices in full, or pays no invoice that was
paid in part before, sends no statement here.

- The case opens through :func:`~crm_pay.services.cases.open_case`; its detail names the
  invoices still owed (``invoices``), what this payment paid and what was still owed then.
- It resolves by itself, ``paid_in_full``, when a later payment (of any kind that books
  through the PSP outcome) leaves nothing owed on every invoice the case names.
- A supervisor may instead send the customer a new pay link for what is still owed
  (``new_link_sent``, :func:`record_new_link`, after the console sent the link), or
  record an arrangement in the note (``arranged``).

The customer is told by the payment's own receipt email (what was paid, what is still
owed, how to pay the rest: ``crm_pay/rendering/templates/email/receipt.*``); none of
these resolutions sends a second message (a new link is its own message).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import ValidationError
from crm_pay.domain.ledger import Ledger, OpenInvoice
from crm_pay.domain.money import Money
from crm_pay.persistence.models import Case, Payment

from .cases import UNRESOLVED, locked_case, open_case, resolve_in
from .context import Context

__all__ = ["KIND", "after_allocation", "rest_owed", "record_new_link"]

log = logging.getLogger("crm_pay.partial_cases")

KIND = "partial"


def after_allocation(
    session: Session,
    ctx: Context,
    payment: Payment,
    *,
    before: Sequence[OpenInvoice],
    ledger: Ledger,
) -> None:
    """After ``payment``'s allocation is booked in ``ledger`` (``before``: the open
    invoices just before it): open its ``partial`` case if it left an invoice it named
    owed, and resolve the earlier partial cases of its customer it paid in full."""
    owed_now = {inv.ref: inv.outstanding for inv in ledger.open_invoices()}
    left = [ref for ref in payment.requested_allocations if ref in owed_now]
    if left:
        still_owed = sum((owed_now[ref] for ref in left), Money.zero(payment.currency))
        open_case(
            session,
            ctx,
            kind=KIND,
            subject=payment.id,
            payment_id=payment.id,
            detail={
                "invoices": left,
                "paid": Money(payment.amount_minor, payment.currency).to_decimal_str(),
                "still_owed": still_owed.to_decimal_str(),
                "currency": payment.currency,
            },
        )
    # Only an invoice that was paid in part before can be named by an earlier partial
    # case; one this payment left with nothing owed may end it.
    finished = [inv.ref for inv in before if inv.paid.is_positive() and inv.ref not in owed_now]
    if finished:
        _resolve_paid_in_full(session, ctx, payment, owed_now)


def _resolve_paid_in_full(
    session: Session, ctx: Context, payment: Payment, owed_now: dict[str, Money]
) -> None:
    stmt = (
        select(Case)
        .join(Payment, Payment.id == Case.payment_id)
        .where(
            Case.kind == KIND,
            Case.status.in_(UNRESOLVED),
            Payment.customer_id == payment.customer_id,
            Case.payment_id != payment.id,
        )
        .order_by(Case.id)
    )
    for case in session.scalars(ctx.db.locking(stmt, Case)).all():
        refs = _invoices_of(case)
        if refs and not any(ref in owed_now for ref in refs):
            resolve_in(
                session,
                ctx,
                case.id,
                actor="system",
                code="paid_in_full",
                note=f"Paid in full: payment {payment.id} paid what was still owed on "
                f"{', '.join(refs)}.",
            )
            log.info("case %s: paid in full by payment %s", case.id, payment.id)


def _invoices_of(case: Case) -> list[str]:
    refs = case.detail.get("invoices")
    return [str(ref) for ref in refs] if isinstance(refs, list) else []


def rest_owed(case: Case, ledger: Ledger) -> dict[str, Any]:
    """What is still owed now on the invoices a partial case names, from the customer's
    ``ledger``: ``total`` (what a pay link for the rest asks for), ``currency`` and
    ``invoices`` (each one's ``ref`` and ``outstanding``; none once all are paid)."""
    refs = set(_invoices_of(case))
    owed = [inv for inv in ledger.open_invoices() if inv.ref in refs]
    total = sum((inv.outstanding for inv in owed), Money.zero(ledger.currency))
    return {
        "total": total.to_decimal_str(),
        "currency": ledger.currency,
        "invoices": [
            {"ref": inv.ref, "outstanding": inv.outstanding.to_decimal_str()} for inv in owed
        ],
    }


def record_new_link(
    ctx: Context, case_id: int, *, actor: str, payment_id: str, channel: str
) -> dict[str, Any]:
    """Resolve a partial case ``new_link_sent`` once the console has sent the customer a
    pay link (payment ``payment_id``) for what is still owed; ``Conflict`` if it is
    resolved already (a second click)."""
    with ctx.db.transaction() as s:
        case = locked_case(s, ctx, case_id)
        if case.kind != KIND:
            raise ValidationError(
                f"case {case_id} is a {case.kind} case; only a partial case is resolved by "
                "sending a link for the rest",
                code="not_partial",
            )
        return resolve_in(
            s,
            ctx,
            case_id,
            actor=actor,
            code="new_link_sent",
            note=f"Pay link for the rest (payment {payment_id}) sent by {channel}.",
        )
