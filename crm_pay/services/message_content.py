"""What a queued message says, worked out at delivery time.

Nothing a message needs is frozen into its row or its outbox payload: the pay link's URL
is decrypted from the vault, the receipt is read back, and the portal link is signed
when the message goes out. :func:`gather` reads (inside a transaction) and
:func:`compose` renders (outside it: rendering a PDF holds no database lock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import customer_next_step
from crm_pay.domain.money import Money
from crm_pay.domain.payment import PaymentStatus
from crm_pay.domain.receipt import Receipt
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, Message, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import DeliveryFailed, OutgoingEmail, OutgoingSms
from crm_pay.rendering.email import (
    EmailContent,
    FailureNotice,
    PayLinkNotice,
    render_failure_email,
    render_failure_sms,
    render_pay_link_email,
    render_pay_link_sms,
    render_receipt_email,
)
from vault import pan

from .context import Context
from .pay_links import link_of, link_state, pay_url_of
from .portal import receipt_link
from .receipts import receipt_from_row

__all__ = ["Draft", "gather", "compose"]


@dataclass(frozen=True)
class Draft:
    """Everything a message needs, read from the database; or why it must not go out."""

    message_id: str
    kind: str
    channel: str
    recipient: str
    receipt: Receipt | None = None
    portal_url: str | None = None
    pay_link: PayLinkNotice | None = None
    failure: FailureNotice | None = None
    skip_reason: str | None = None


def gather(session: Session, ctx: Context, msg: Message) -> Draft:
    base = Draft(msg.message_id, msg.kind, msg.channel, msg.recipient)
    if msg.kind == "receipt":
        row = session.scalars(
            select(ReceiptRow).where(ReceiptRow.number == msg.receipt_number)
        ).first()
        if row is None:
            return _skip(base, f"receipt {msg.receipt_number} does not exist")
        receipt = receipt_from_row(row)
        url = receipt_link(ctx, receipt.customer_ref, receipt.number)
        return _with(base, receipt=receipt, portal_url=url)
    payment = session.get(Payment, msg.payment_id) if msg.payment_id else None
    if payment is None:
        return _skip(base, "its payment does not exist")
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    link = link_of(session, payment.id)
    state = link_state(ctx, link, payment) if link is not None else None
    amount = Money(payment.amount_minor, payment.currency)
    merchant = ctx.settings.merchant
    if msg.kind == "pay_link":
        if link is None or state != "open":
            return _skip(base, f"the pay link is {state or 'missing'}; a closed link is not sent")
        url = pay_url_of(session, ctx, payment.id)
        assert url is not None
        notice = PayLinkNotice(
            merchant=merchant,
            customer_name=customer.name,
            amount=amount,
            url=url,
            expires_at=as_utc(link.expires_at),  # type: ignore[arg-type]
            invoices=tuple(payment.requested_allocations),
            description=payment.description,
        )
        return _with(base, pay_link=notice)
    if msg.kind == "payment_failed":
        if payment.status not in (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value):
            return _skip(base, f"the payment is now {payment.status}; the notice is out of date")
        retry = pay_url_of(session, ctx, payment.id) if state == "open" else None
        failure = FailureNotice(
            merchant=merchant,
            customer_name=customer.name,
            amount=amount,
            reason=payment.decline_message or "Your bank did not approve the payment.",
            next_step=customer_next_step(payment.decline_category),
            retry_url=retry,
            expires_at=as_utc(link.expires_at) if retry and link is not None else None,
            method=(
                f"{payment.card_brand} ending {payment.card_last4}"
                if payment.card_brand and payment.card_last4
                else None
            ),
        )
        return _with(base, failure=failure)
    return _skip(base, f"unknown message kind {msg.kind!r}")


def _skip(draft: Draft, reason: str) -> Draft:
    return _with(draft, skip_reason=reason)


def _with(draft: Draft, **changes: object) -> Draft:
    return replace(draft, **changes)  # type: ignore[arg-type]


def compose(ctx: Context, draft: Draft) -> OutgoingEmail | OutgoingSms:
    """Render the draft for its channel. Last line of defence: nothing that looks like
    a card number leaves in a message (it is redacted and logged by the caller), and a
    recipient holding one is refused for good (``DeliveryFailed``): a message is never
    addressed with card data, even one queued before the inbound guard existed."""
    if pan.contains_pan(draft.recipient):
        raise DeliveryFailed("the recipient looks like it holds a card number; not sent")
    if draft.channel == "sms":
        if draft.pay_link is not None:
            body = render_pay_link_sms(draft.pay_link)
        elif draft.failure is not None:
            body = render_failure_sms(draft.failure)
        else:
            raise ValueError(f"a {draft.kind} message cannot be sent by SMS")
        return OutgoingSms(message_id=draft.message_id, to=draft.recipient, body=pan.redact(body))
    content: EmailContent
    if draft.receipt is not None:
        content = render_receipt_email(draft.receipt, portal_url=draft.portal_url)
    elif draft.pay_link is not None:
        content = render_pay_link_email(draft.pay_link)
    elif draft.failure is not None:
        content = render_failure_email(draft.failure)
    else:
        raise ValueError(f"nothing to say in a {draft.kind} message")
    return OutgoingEmail(
        message_id=draft.message_id,
        sender=ctx.settings.email_from,
        to=draft.recipient,
        subject=pan.redact(content.subject),
        text=pan.redact(content.text),
        html=pan.redact(content.html),
        attachments=content.attachments,
    )
