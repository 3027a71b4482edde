"""Read models: a payment, a pay link and a customer as the API, the console and the
pay page show them.

Layer: views (above the records, :mod:`.pay_links` and :mod:`.customers`; below every
use case, which answers with these). Each view is built from the rows inside the
caller's transaction, amounts derived from the append-only events and the ledger, never
from running totals. Two views do more than read, on purpose: the pay page's view marks
the link opened on its first open, and closes a link found past its expiry.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import customer_next_step
from crm_pay.domain.ledger import Ledger
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentEvent, totals_from_events
from crm_pay.domain.three_d_secure import check_words
from crm_pay.domain.wallets import method_label
from crm_pay.persistence.db import as_utc, unit_cache
from crm_pay.persistence.models import (
    Customer,
    Invoice,
    LedgerEntryRow,
    Payment,
    Receipt,
)

from .context import Context
from .customers import StoredEntry, cards_on_file, ledger_rows, load_ledger, sync_customer
from .pay_links import expire_if_due, find_link, link_of, link_state, publish_expired
from .payment_records import events_of
from .receipts import known_receipts_of
from .saved_cards import consents_for

__all__ = ["payment_view", "pay_link_view", "customer_view", "invoice_views"]

log = logging.getLogger("crm_pay.customers")


def _allocation_rows(
    session: Session, customer: Customer, payment: Payment
) -> list[StoredEntry] | list[LedgerEntryRow]:
    """The payment's allocation entries: from the customer's ledger when this unit of
    work has already read it (the charge that booked them did), else one query."""
    if customer.id in unit_cache(session, "ledger_rows"):
        return [
            r
            for r in ledger_rows(session, customer)
            if r.payment_id == payment.id and r.kind == "payment"
        ]
    return list(
        session.scalars(
            select(LedgerEntryRow).where(
                LedgerEntryRow.payment_id == payment.id, LedgerEntryRow.kind == "payment"
            )
        )
    )


def payment_view(
    session: Session, ctx: Context, payment: Payment, *, new: bool = False
) -> dict[str, Any]:
    """The payment as the API returns it: amounts, allocations, receipts, the decline in
    plain words, and its pay link's state.

    ``new``: the payment was created in this unit of work, so it has no events, receipts
    or ledger entries yet and none are read (its link, if any, is already in hand)."""
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    cur = payment.currency
    alloc_rows = [] if new else _allocation_rows(session, customer, payment)
    # The payment's receipts of every kind in one query (issue order), sorted out here.
    numbers: dict[str, list[str]] = {"payment": [], "reversal": [], "refund": []}
    if not new:
        issued = known_receipts_of(session, payment.id)
        for kind, number in (
            ((r.kind, r.number) for r in issued)
            if issued is not None
            else session.execute(
                select(Receipt.kind, Receipt.number)
                .where(Receipt.payment_id == payment.id)
                .order_by(Receipt.id)
            )
        ):
            numbers.setdefault(kind, []).append(number)
    receipt = next(iter(numbers["payment"]), None)
    reversal_receipt = next(iter(numbers["reversal"]), None)
    refund_receipts = numbers["refund"]
    totals = totals_from_events(
        cur,
        (
            PaymentEvent(EventKind(e.kind), Money(e.amount_minor, e.currency))
            for e in (() if new else events_of(session, payment.id))
        ),
    )
    link = link_of(session, payment.id)
    view: dict[str, Any] = {
        "id": payment.id,
        "status": payment.status,
        "channel": payment.channel,
        "amount": Money(payment.amount_minor, cur).to_decimal_str(),
        "currency": cur,
        "customer": customer.crm_ref,
        "description": payment.description,
        "requested_allocations": {
            ref: Money(minor, cur).to_decimal_str()
            for ref, minor in payment.requested_allocations.items()
        },
        "allocations": [
            {"invoice": r.invoice_ref, "amount": Money(-r.amount_minor, cur).to_decimal_str()}
            for r in alloc_rows
            if r.invoice_ref
        ],
        "credit": Money(
            -sum(r.amount_minor for r in alloc_rows if not r.invoice_ref), cur
        ).to_decimal_str(),
        "card": (
            {"brand": payment.card_brand, "last4": payment.card_last4}
            if payment.card_last4
            else None
        ),
        # the wallet it was paid with ("google_pay"; None: a card), and how it was paid,
        # as the receipt says it ("Apple Pay · Visa ending 1881")
        "wallet": payment.wallet,
        "method": (
            method_label(
                payment.card_brand, payment.card_last4, payment.wallet, payment.wallet_account
            )
            if payment.card_brand or payment.wallet
            else None
        ),
        # the bank's 3-D Secure check of the latest attempt (None: none ran)
        "three_d_secure": (
            {
                "status": payment.three_d_secure_status,
                "liability_shifted": bool(payment.three_d_secure_liability_shifted),
                "words": check_words(
                    payment.three_d_secure_status, payment.three_d_secure_liability_shifted
                ),
            }
            if payment.three_d_secure_status
            else None
        ),
        "psp_reference": payment.psp_transaction_id,
        "receipt_number": receipt,
        # derived from the append-only events, never kept as a running total
        "captured": totals.captured.to_decimal_str(),
        "refunded": totals.refunded.to_decimal_str(),
        "refund_receipts": refund_receipts,
        "reversal_receipt": reversal_receipt,  # settlement declined: the payment undone
        "decline": (
            {
                # the PSP's raw code (processor.2001); the words follow the category
                "code": payment.decline_code,
                "category": payment.decline_category,
                "message": payment.decline_message,
                "next_step": payment.decline_next_step,
                "customer_next_step": customer_next_step(payment.decline_category),
            }
            if payment.decline_code
            and payment.status in ("declined", "failed", "settlement_declined")
            else None
        ),
        "created_by": payment.created_by,
        "created_at": as_utc(payment.created_at).isoformat(),  # type: ignore[union-attr]
        "updated_at": as_utc(payment.updated_at).isoformat(),  # type: ignore[union-attr]
    }
    if link is not None:
        view["pay_link"] = {
            "expires_at": as_utc(link.expires_at).isoformat(),  # type: ignore[union-attr]
            "attempts_left": max(0, link.max_attempts - link.failed_attempts),
            "state": link_state(ctx, link, payment),
        }
    return view


def pay_link_view(ctx: Context, token: str, *, mark_opened: bool = False) -> dict[str, Any]:
    """What the customer's pay page shows: who asks, how much, for what, and the link's state."""
    with ctx.db.transaction() as s:
        link, payment = find_link(s, ctx, token)
        state, expired_now = expire_if_due(s, ctx, link, payment)
        first_open = mark_opened and link.opened_at is None and state == "open"
        if first_open:
            link.opened_at = ctx.now()
        # The page opened again after a refused attempt: the customer is trying again.
        retrying = mark_opened and state == "open" and payment.status in ("declined", "failed")
        next_attempt = payment.attempt + 1
        view = payment_view(s, ctx, payment)
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        refs = list(payment.requested_allocations)
        totals = {
            inv.crm_ref: Money(inv.total_minor, inv.currency)
            for inv in (
                s.scalars(
                    select(Invoice).where(
                        Invoice.customer_id == customer.id, Invoice.crm_ref.in_(refs)
                    )
                )
                if refs
                else ()
            )
        }
        view["customer_name"] = customer.name
        view["merchant"] = ctx.settings.merchant.name
        view["link_state"] = state
        # what the pay page's 3-D Secure check needs (braintree-web verifyCard: amount
        # and the cardholder's e-mail), when the merchant's rule runs one
        mode = ctx.config.three_d_secure_for(payment.currency)
        view["three_d_secure"] = (
            {
                "mode": mode,
                "amount": Money(payment.amount_minor, payment.currency).to_decimal_str(),
                "email": customer.email or None,
            }
            if mode != "off"
            else None
        )
        view["invoices"] = [
            {"number": ref, "total": totals[ref].to_decimal_str()} for ref in refs if ref in totals
        ]
    if first_open or retrying:
        opened: dict[str, Any] = {"status": payment.status}
        if first_open:
            opened["link"] = "opened"
        if retrying:
            opened["attempt"] = next_attempt
        ctx.publish(payment.id, opened)
    if expired_now:
        publish_expired(ctx, payment.id)
    return view


def invoice_views(session: Session, customer: Customer, ledger: Ledger) -> list[dict[str, Any]]:
    """The customer's invoices, due first, with what the ledger has paid on each."""
    rows = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer.id)
        .order_by(Invoice.due_on, Invoice.crm_ref)
    )
    out = []
    for inv in rows:
        total = Money(inv.total_minor, inv.currency)
        paid = ledger.paid_on(inv.crm_ref)
        outstanding = total - paid if paid < total else Money.zero(inv.currency)
        out.append(
            {
                "number": inv.crm_ref,
                "currency": inv.currency,
                "total": total.to_decimal_str(),
                "paid": paid.to_decimal_str(),
                "outstanding": outstanding.to_decimal_str(),
                "status": ledger.invoice_status(inv.crm_ref).value,
                "issued_on": inv.issued_on.isoformat(),
                "due_on": inv.due_on.isoformat(),
                "tax": Money(inv.tax_minor, inv.currency).to_decimal_str(),
                "tax_label": inv.tax_label,
                "shipping": Money(inv.shipping_minor, inv.currency).to_decimal_str(),
                "lines": [
                    {
                        "description": line["description"],
                        "quantity": line["quantity"],
                        "unit_price": Money(
                            line["unit_price_minor"], inv.currency
                        ).to_decimal_str(),
                        "tax": Money(line["tax_minor"], inv.currency).to_decimal_str(),
                    }
                    for line in inv.lines
                ],
            }
        )
    return out


def customer_view(ctx: Context, crm_ref: str, *, recent: int = 10) -> dict[str, Any]:
    """Balance, credit, invoices, cards on file (brand + last 4) and recent payments.

    The customer is synced from the CRM first (no transaction open while it answers)."""
    customer_id = sync_customer(ctx, crm_ref)
    try:
        cards = cards_on_file(ctx, crm_ref)
    except Exception:  # noqa: BLE001 - cards are a convenience; the panel still loads
        log.warning("CRM cards_on_file failed for %s", crm_ref)
        cards = []
    consents = consents_for(ctx, crm_ref)  # the cards the customer saved on the pay page
    with ctx.db.transaction() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        ledger = load_ledger(s, customer)
        payments = s.scalars(
            select(Payment)
            .where(Payment.customer_id == customer.id)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(recent)
        )
        return {
            "crm_ref": customer.crm_ref,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "currency": customer.currency,
            "balance": ledger.balance().to_decimal_str(),
            "credit": ledger.credit().to_decimal_str(),
            "invoices": invoice_views(s, customer, ledger),
            "cards_on_file": [
                {
                    "id": c.token,
                    "brand": c.card.brand,
                    "last4": c.card.last4,
                    "expiry": f"{c.card.exp_month}/{c.card.exp_year}" if c.card.exp_month else None,
                    "default": c.is_default,
                    "method": method_label(
                        c.card.brand, c.card.last4, c.card.wallet, c.card.account
                    ),
                    # who saved it, when, in which words (None: the CRM's card)
                    "consent": consents.get(c.token),
                }
                for c in cards
            ],
            "recent_payments": [payment_view(s, ctx, p) for p in payments],
        }
