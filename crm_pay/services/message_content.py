"""What a queued message says, worked out at delivery time.

A message is written in its customer's language: the one their CRM record names (kept
on our copy of the customer at each sync), else the merchant's default
(``template_checks.message_locale``), with the admin's edited words of that language
when there are any, else its shipped words.

Nothing a message needs is frozen into its row or its outbox payload: the pay link's URL
is decrypted from the vault, the receipt is read back, and the portal link is signed
when the message goes out. :func:`gather` reads (inside a transaction) and
:func:`compose` renders (outside it: rendering a PDF holds no database lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import customer_next_step
from crm_pay.domain.money import Money
from crm_pay.domain.payment import PaymentStatus
from crm_pay.domain.receipt import Receipt
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Customer,
    Invoice,
    Message,
    Payment,
    ReminderSend,
)
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import DeliveryFailed, OutgoingEmail, OutgoingSms
from crm_pay.rendering.email import (
    CaseUpdateNotice,
    FailureNotice,
    InReviewNotice,
    Notice,
    PayLinkNotice,
    ReceiptMessage,
    ReminderNotice,
    render_email,
    render_sms,
)
from crm_pay.rendering.message_language import ENGLISH, MessageLocale
from crm_pay.rendering.message_templates import MessageTemplates, TemplateFailure, shipped_in
from crm_pay.rendering.notices import DEFAULT_DECLINE_REASON
from vault import pan

from .context import Context
from .csat import survey_link
from .customers import load_ledger
from .notification_templates import templates_in_force
from .pay_links import link_of, link_state, pay_url_of
from .payment_records import IN_DOUBT
from .portal import receipt_link
from .receipts import receipt_from_row
from .reminder_links import is_opted_out, opt_out_url, reminder_pay_url
from .template_checks import message_locale

__all__ = ["Draft", "gather", "compose"]

log = logging.getLogger("crm_pay.notifications")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


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
    reminder: ReminderNotice | None = None
    case_update: CaseUpdateNotice | None = None
    survey_url: str | None = None
    still_owed: tuple[tuple[str, Money], ...] = ()
    in_review: InReviewNotice | None = None
    skip_reason: str | None = None
    # the admin's edited words of this kind in the message's language, None: the shipped ones
    templates: MessageTemplates | None = None
    # the language the customer's CRM record names, as we keep it (None: none, or no customer)
    record_language: str | None = None
    # the language and time zone it is written in (worked out by :func:`gather`)
    locale: MessageLocale = MessageLocale()


def gather(session: Session, ctx: Context, msg: Message) -> Draft:
    draft = _gather(session, ctx, msg)
    if draft.skip_reason is not None:
        return draft
    locale = message_locale(ctx, draft.record_language)
    templates = templates_in_force(session, ctx, msg.kind, locale.language)
    if templates is None and not shipped_in(msg.kind, locale.language):
        # Nobody wrote this kind in the customer's language (the receipt is shipped in
        # English only): all of it in English, amounts and dates too, never half and half.
        locale = message_locale(ctx, ENGLISH)
        templates = templates_in_force(session, ctx, msg.kind, ENGLISH)
    return _with(draft, templates=templates, locale=locale)


def _spoken_by(customer: Customer | None) -> str | None:
    return customer.language if customer is not None else None


def _gather(session: Session, ctx: Context, msg: Message) -> Draft:
    base = Draft(msg.message_id, msg.kind, msg.channel, msg.recipient)
    if msg.kind == "receipt":
        row = session.scalars(
            select(ReceiptRow).where(ReceiptRow.number == msg.receipt_number)
        ).first()
        if row is None:
            return _skip(base, f"receipt {msg.receipt_number} does not exist")
        receipt = receipt_from_row(row)
        portal = receipt_link(ctx, receipt.customer_ref, receipt.number)
        owner = session.scalars(
            select(Customer).where(Customer.crm_ref == receipt.customer_ref)
        ).first()
        base = _with(base, record_language=_spoken_by(owner))
        if receipt.kind != "payment":
            return _with(base, receipt=receipt, portal_url=portal)
        return _with(
            base,
            receipt=receipt,
            portal_url=portal,
            survey_url=survey_link(ctx, row.payment_id),
            # as the receipt says it (its PDF is attached): owed right after the payment
            still_owed=receipt.still_owed,
        )
    if msg.kind == "reminder":
        return _gather_reminder(session, ctx, msg, base)
    if msg.kind == "case_update":
        return _gather_case_update(session, ctx, msg, base)
    payment = session.get(Payment, msg.payment_id) if msg.payment_id else None
    if payment is None:
        return _skip(base, "its payment does not exist")
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    base = _with(base, record_language=_spoken_by(customer))
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
    if msg.kind == "payment_in_review":
        # in doubt at the PSP, or held for a fraud review: "we are still checking"
        if payment.status not in IN_DOUBT and payment.status != PaymentStatus.HELD.value:
            return _skip(base, f"the payment is now {payment.status}; the notice is out of date")
        return _with(base, in_review=InReviewNotice(merchant, customer.name, amount))
    if msg.kind == "payment_failed":
        if payment.status not in (PaymentStatus.DECLINED.value, PaymentStatus.FAILED.value):
            return _skip(base, f"the payment is now {payment.status}; the notice is out of date")
        retry = pay_url_of(session, ctx, payment.id) if state == "open" else None
        failure = FailureNotice(
            merchant=merchant,
            customer_name=customer.name,
            amount=amount,
            reason=payment.decline_message or DEFAULT_DECLINE_REASON,
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


def _gather_reminder(session: Session, ctx: Context, msg: Message, base: Draft) -> Draft:
    send = session.scalars(
        select(ReminderSend).where(ReminderSend.message_id == msg.message_id)
    ).first()
    if send is None:
        return _skip(base, "its reminder does not exist")
    invoice = session.get(Invoice, send.invoice_id)
    assert invoice is not None
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    if is_opted_out(session, customer.id):
        return _skip(base, "the customer asked for no more reminders")
    base = _with(base, record_language=_spoken_by(customer))
    owed = next(
        (
            i.outstanding
            for i in load_ledger(session, customer).open_invoices()
            if i.ref == invoice.crm_ref
        ),
        None,
    )
    if owed is None:
        return _skip(base, f"invoice {invoice.crm_ref} is paid")
    notice = ReminderNotice(
        merchant=ctx.settings.merchant,
        customer_name=customer.name,
        invoice_ref=invoice.crm_ref,
        outstanding=owed,
        due_on=invoice.due_on,
        days_overdue=(ctx.now().date() - invoice.due_on).days,
        pay_url=reminder_pay_url(ctx, send.id),
        opt_out_url=opt_out_url(ctx, customer.crm_ref),
    )
    return _with(base, reminder=notice)


def _gather_case_update(session: Session, ctx: Context, msg: Message, base: Draft) -> Draft:
    # The message id says which case and outcome: case-update.<case id>.<code>@domain
    local = msg.message_id.partition("@")[0].split(".")
    if len(local) != 3 or not local[1].isdigit():
        return _skip(base, "its case is not named in the message id")
    payment = session.get(Payment, msg.payment_id) if msg.payment_id else None
    if payment is not None:
        customer = session.get(Customer, payment.customer_id)
    else:  # a case without a payment: the customer it was addressed to
        column = Customer.email if msg.channel == "email" else Customer.phone
        customer = session.scalars(select(Customer).where(column == msg.recipient)).first()
    base = _with(base, record_language=_spoken_by(customer))
    notice = CaseUpdateNotice(
        merchant=ctx.settings.merchant,
        customer_name=customer.name if customer is not None else "",
        case_id=int(local[1]),
        payment_id=msg.payment_id,
        resolution_code=local[2],
    )
    return _with(base, case_update=notice)


def _skip(draft: Draft, reason: str) -> Draft:
    return _with(draft, skip_reason=reason)


def _with(draft: Draft, **changes: object) -> Draft:
    return replace(draft, **changes)  # type: ignore[arg-type]


def compose(ctx: Context, draft: Draft) -> OutgoingEmail | OutgoingSms:
    """Render the draft for its channel. Last line of defence: nothing that looks like
    a card number leaves in a message (it is redacted and logged by the caller), and a
    recipient holding one is refused for good (``DeliveryFailed``): a message is never
    addressed with card data, even one queued before the inbound guard existed. The
    admin's edited words that fail here (or leave out the pay link...) never stop a
    message: the shipped words go instead, and the log says so."""
    if pan.contains_pan(draft.recipient):
        raise DeliveryFailed("the recipient looks like it holds a card number; not sent")
    notice = _notice(draft)
    if draft.channel == "sms":
        if isinstance(notice, ReceiptMessage):
            raise ValueError(f"a {draft.kind} message cannot be sent by SMS")
        body = _rendered(draft, notice, render_sms)
        return OutgoingSms(message_id=draft.message_id, to=draft.recipient, body=pan.redact(body))
    content = _rendered(draft, notice, render_email)
    return OutgoingEmail(
        message_id=draft.message_id,
        sender=ctx.settings.email_from,
        to=draft.recipient,
        subject=pan.redact(content.subject),
        text=pan.redact(content.text),
        html=pan.redact(content.html),
        attachments=content.attachments,
    )


def _notice(draft: Draft) -> Notice:
    if draft.receipt is not None:
        return ReceiptMessage(
            draft.receipt,
            portal_url=draft.portal_url,
            survey_url=draft.survey_url,
            still_owed=draft.still_owed,
        )
    found = draft.pay_link or draft.failure or draft.reminder or draft.case_update
    notice = found or draft.in_review
    if notice is None:
        raise ValueError(f"nothing to say in a {draft.kind} message")
    return notice


class _Render(Protocol[T_co]):
    def __call__(
        self,
        kind: str,
        notice: Notice,
        templates: MessageTemplates | None,
        *,
        locale: MessageLocale,
    ) -> T_co: ...


def _rendered(draft: Draft, notice: Notice, render: _Render[T]) -> T:
    if draft.templates is not None:
        try:
            return render(draft.kind, notice, draft.templates, locale=draft.locale)
        except TemplateFailure as exc:
            log.warning(
                "message %s: the edited %s templates (version %d) failed, the shipped "
                "words were sent instead: %s",
                draft.message_id,
                draft.kind,
                draft.templates.version,
                pan.redact(str(exc)),
            )
    # the shipped words of the message's language; English when it has none (an edited
    # Spanish receipt that failed), so the message is never half and half
    shipped = shipped_in(draft.kind, draft.locale.language)
    return render(draft.kind, notice, None, locale=draft.locale if shipped else MessageLocale())
