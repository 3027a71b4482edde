"""A reminder's "pay now" link, followed: a pay link for what is still owed.

Above :mod:`crm_pay.services.payments` (it creates a link payment), so the reminders
themselves stay low enough for the dashboard to read their figures.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crm_pay.domain.errors import Conflict, NotFound
from crm_pay.persistence.models import Customer, Invoice, Payment, ReminderSend

from .context import Context
from .pay_links import link_of, link_state, pay_url_of
from .payments import CreatePayment, create_payment
from .reminder_links import reminder_of
from .reminders import outstanding_on

__all__ = ["reminder_payment_view", "open_reminder_payment"]


def reminder_payment_view(ctx: Context, signed: str) -> dict[str, Any]:
    """What the "pay now" page shows before the customer continues: the invoice and what
    is still owed on it (``owed`` None once it is paid). Reads only: a mail scanner that
    follows the link creates nothing."""
    send_id = reminder_of(ctx, signed)
    with ctx.db.transaction() as s:
        send = s.get(ReminderSend, send_id)
        if send is None:
            raise NotFound("this link is not valid", code="reminder_link_invalid")
        invoice = s.get(Invoice, send.invoice_id)
        assert invoice is not None
        customer = s.get(Customer, invoice.customer_id)
        assert customer is not None
        owed = outstanding_on(s, customer, invoice.crm_ref)
        return {
            "invoice": invoice.crm_ref,
            "owed": owed.format() if owed is not None else None,
            "owed_money": owed,  # for the page's language
            "customer": customer.crm_ref,
            "merchant": ctx.settings.merchant.name,
        }


def open_reminder_payment(ctx: Context, signed: str) -> dict[str, Any]:
    """The customer followed a reminder's "pay now" link: ``{"state": "pay", "url"}``
    with an open pay link for what is still owed (the same link while it stays open),
    or ``{"state": "paid"}`` when nothing is owed any more."""
    send_id = reminder_of(ctx, signed)
    with ctx.db.transaction() as s:
        send = s.get(ReminderSend, send_id)
        if send is None:
            raise NotFound("this link is not valid", code="reminder_link_invalid")
        invoice = s.get(Invoice, send.invoice_id)
        assert invoice is not None
        customer = s.get(Customer, invoice.customer_id)
        assert customer is not None
        owed = outstanding_on(s, customer, invoice.crm_ref)
        if owed is None:
            return {"state": "paid", "invoice": invoice.crm_ref}
        if send.payment_id is not None:
            payment = s.get(Payment, send.payment_id)
            link = link_of(s, send.payment_id)
            if (
                payment is not None
                and link is not None
                and link_state(ctx, link, payment) == "open"
            ):
                url = pay_url_of(s, ctx, payment.id)
                if url is not None:
                    return {"state": "pay", "url": url, "invoice": invoice.crm_ref}
        crm_ref, previous = customer.crm_ref, send.payment_id or "first"
    amount = owed.to_decimal_str()
    key = f"reminder-{send_id}-{previous}"
    cmd = CreatePayment(
        crm_ref=crm_ref,
        amount=amount,
        currency=owed.currency,
        channel="link",
        allocations={invoice.crm_ref: amount},
        description=f"Invoice {invoice.crm_ref}",
    )
    request_hash = hashlib.sha256(f"{key}|{amount}|{owed.currency}".encode()).hexdigest()
    try:
        view, _ = create_payment(
            ctx,
            cmd,
            actor="reminder",
            idempotency_scope="reminders",
            idempotency_key=key,
            request_hash=request_hash,
        )
    except Conflict:
        raise Conflict(
            "a payment of this invoice is already under way; please check your email for "
            "its receipt or try again in a few minutes",
            code="reminder_payment_in_progress",
        ) from None
    with ctx.db.transaction() as s:
        send = s.get(ReminderSend, send_id)
        assert send is not None
        send.payment_id = view["id"]
    if not view.get("pay_url"):
        raise Conflict(
            "this payment link cannot be opened right now; try again in a few minutes",
            code="reminder_payment_in_progress",
        )
    return {"state": "pay", "url": view["pay_url"], "invoice": invoice.crm_ref}
