"""Customer emails and text messages: the receipt (with its PDF), the pay-link request,
the payment-failure notice, the payment reminder and the case update.

Drawn from plain values (no database, no clock), so the same input always gives the
same message. Templates are Jinja with autoescaping on for HTML: a customer name or an
invoice line such as ``<script>`` arrives as text. Card data never goes beyond what the
receipt's method says ("Visa ending 1111").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt

from .receipt_pdf import (
    format_moment,
    printed_method,
    receipt_layout,
    render_receipt_pdf,
    render_receipt_text,
)

__all__ = [
    "EmailContent",
    "PayLinkNotice",
    "FailureNotice",
    "render_receipt_email",
    "render_pay_link_email",
    "render_pay_link_sms",
    "render_failure_email",
    "render_failure_sms",
    "ReminderNotice",
    "CaseUpdateNotice",
    "CASE_RESOLUTION_WORDS",
    "render_reminder_email",
    "render_reminder_sms",
    "render_case_update_email",
    "render_case_update_sms",
    "InReviewNotice",
    "render_in_review_email",
    "render_in_review_sms",
]

_env = Environment(
    loader=PackageLoader("crm_pay.rendering", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class EmailContent:
    """A rendered email: what :class:`~crm_pay.ports.OutgoingEmail` carries besides
    its addresses and Message-ID."""

    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, mime type, content)


@dataclass(frozen=True, slots=True)
class PayLinkNotice:
    """A request to pay through a secure link."""

    merchant: Merchant
    customer_name: str
    amount: Money
    url: str
    expires_at: datetime  # timezone-aware
    invoices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class FailureNotice:
    """A payment that did not go through. ``reason`` and ``next_step`` are the plain
    words of :func:`crm_pay.domain.declines.advise`, never the PSP's own text."""

    merchant: Merchant
    customer_name: str
    amount: Money
    reason: str
    next_step: str
    retry_url: str | None = None  # only while the pay link can still take a payment
    expires_at: datetime | None = None
    method: str | None = None  # "Visa ending 0002"


@dataclass(frozen=True, slots=True)
class ReminderNotice:
    """A reminder that an invoice is due or overdue, with a link to pay it and a link to
    stop reminders."""

    merchant: Merchant
    customer_name: str
    invoice_ref: str
    outstanding: Money
    due_on: date
    days_overdue: int  # negative: due in that many days
    pay_url: str
    opt_out_url: str


# What a customer is told when a case about them is resolved, by resolution code; any
# other code gets the general sentence. Never the code itself or a supervisor's note.
CASE_RESOLUTION_WORDS: dict[str, str] = {
    "refunded": "We have refunded the payment; you will receive a refund receipt by email.",
    "new_link_sent": "We have sent you a new link to pay, in a separate message.",
    "credit_kept": (
        "The extra amount you paid is kept as credit on your account; it goes towards your "
        "next invoice."
    ),
    "credit_applied": (
        "The extra amount you paid has been used to pay another of your invoices; your "
        "account shows it as paid."
    ),
    "not_charged": "We have checked: you were not charged for this payment. You may pay again.",
    "dispute_accepted": (
        "We have accepted your bank's dispute of this payment: the amount stays with you."
    ),
    "dispute_lost": (
        "The dispute of this payment is closed: your bank's decision stands and the amount "
        "stays with you."
    ),
}
CASE_RESOLUTION_DEFAULT = "We have looked into it and closed the matter."


@dataclass(frozen=True, slots=True)
class CaseUpdateNotice:
    """A matter we looked into about the customer's payment is resolved."""

    merchant: Merchant
    customer_name: str
    case_id: int
    payment_id: str | None
    resolution_code: str

    @property
    def outcome(self) -> str:
        return CASE_RESOLUTION_WORDS.get(self.resolution_code, CASE_RESOLUTION_DEFAULT)


@dataclass(frozen=True, slots=True)
class InReviewNotice:
    """A payment whose outcome we are still checking with the payment provider."""

    merchant: Merchant
    customer_name: str
    amount: Money


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _render(name: str, **values: object) -> str:
    return _env.get_template(f"email/{name}").render(**values)


def render_receipt_email(
    receipt: Receipt,
    *,
    portal_url: str | None = None,
    pdf: bytes | None = None,
    survey_url: str | None = None,
    still_owed: tuple[tuple[str, Money], ...] = (),
) -> EmailContent:
    """The receipt email: a summary in plain text and HTML, the full receipt as text, a
    link to the customer's receipts page, a satisfaction survey link when given (payment
    receipts only), what is ``still_owed`` on the invoices it paid in part, and the PDF
    attached (rendered unless given)."""
    refund = receipt.kind == "refund"
    reversal = receipt.kind == "reversal"
    if reversal:
        subject = _one_line(
            f"{receipt.merchant.name}: your payment of {receipt.amount_paid.format()} "
            "did not reach us"
        )
    else:
        what = "refund receipt" if refund else "receipt"
        subject = _one_line(f"Your {what} {receipt.number} from {receipt.merchant.name}")
    values = {
        "subject": subject,
        "receipt": receipt,
        "refund": refund,
        "reversal": reversal,
        "layout": receipt_layout(receipt),
        "when": format_moment(receipt.issued_at),
        "method": printed_method(receipt.method),
        "total": receipt.amount_paid.format(),
        "merchant": receipt.merchant,
        "portal_url": portal_url,
        "survey_url": survey_url if receipt.kind == "payment" else None,
        "still_owed": [(ref, owed.format()) for ref, owed in still_owed]
        if receipt.kind == "payment"
        else [],
        "receipt_text": render_receipt_text(receipt),
        "pdf_name": f"{receipt.number}.pdf",
    }
    content = pdf if pdf is not None else render_receipt_pdf(receipt)
    return EmailContent(
        subject=subject,
        text=_render("receipt.txt", **values),
        html=_render("receipt.html", **values),
        attachments=((f"{receipt.number}.pdf", "application/pdf", content),),
    )


def _link_values(notice: PayLinkNotice, subject: str) -> dict[str, object]:
    return {
        "subject": subject,
        "n": notice,
        "merchant": notice.merchant,
        "amount": notice.amount.format(),
        "expires": format_moment(notice.expires_at),
    }


def render_pay_link_email(notice: PayLinkNotice) -> EmailContent:
    """The request to pay: who asks, how much, for what, the link and until when."""
    subject = _one_line(f"{notice.merchant.name}: payment request for {notice.amount.format()}")
    values = _link_values(notice, subject)
    return EmailContent(
        subject=subject,
        text=_render("pay_link.txt", **values),
        html=_render("pay_link.html", **values),
    )


def render_pay_link_sms(notice: PayLinkNotice) -> str:
    """The request to pay as one short text message."""
    expires = notice.expires_at.strftime("%H:%M %Z").strip()
    return _one_line(
        f"{notice.merchant.name}: please pay {notice.amount.format()} securely at "
        f"{notice.url} (link valid until {expires})."
    )


def render_failure_email(notice: FailureNotice) -> EmailContent:
    """A payment did not go through: why, in plain words, what to do, and a link to try
    again while the pay link is still open."""
    subject = _one_line(f"Your payment to {notice.merchant.name} did not go through")
    values = {
        "subject": subject,
        "n": notice,
        "merchant": notice.merchant,
        "amount": notice.amount.format(),
        "method": printed_method(notice.method) if notice.method else None,
        "expires": format_moment(notice.expires_at) if notice.expires_at else None,
    }
    return EmailContent(
        subject=subject,
        text=_render("payment_failed.txt", **values),
        html=_render("payment_failed.html", **values),
    )


def render_failure_sms(notice: FailureNotice) -> str:
    """The failure notice as one short text message."""
    tail = (
        f" You can try again at {notice.retry_url}."
        if notice.retry_url
        else f" Please contact us{' at ' + notice.merchant.phone if notice.merchant.phone else ''}."
    )
    return _one_line(
        f"{notice.merchant.name}: your payment of {notice.amount.format()} did not go through. "
        f"{notice.reason}{tail}"
    )


def _when_due(notice: ReminderNotice) -> str:
    due = f"{notice.due_on:%d %B %Y}".lstrip("0")
    if notice.days_overdue > 0:
        days = "day" if notice.days_overdue == 1 else "days"
        return f"was due on {due} ({notice.days_overdue} {days} ago)"
    if notice.days_overdue == 0:
        return f"is due today, {due}"
    return f"is due on {due}"


def render_reminder_email(notice: ReminderNotice) -> EmailContent:
    """A payment reminder: which invoice, what is still owed, when it was due, a button
    to pay it and the link to stop reminders."""
    overdue = notice.days_overdue > 0
    subject = _one_line(
        f"{'Overdue' if overdue else 'Reminder'}: invoice {notice.invoice_ref} from "
        f"{notice.merchant.name}"
    )
    values = {
        "subject": subject,
        "n": notice,
        "merchant": notice.merchant,
        "amount": notice.outstanding.format(),
        "when_due": _when_due(notice),
    }
    return EmailContent(
        subject=subject,
        text=_render("reminder.txt", **values),
        html=_render("reminder.html", **values),
    )


def render_reminder_sms(notice: ReminderNotice) -> str:
    return _one_line(
        f"{notice.merchant.name}: invoice {notice.invoice_ref} {_when_due(notice)}; "
        f"{notice.outstanding.format()} to pay. Pay securely at {notice.pay_url} . "
        f"No more reminders: {notice.opt_out_url}"
    )


def render_case_update_email(notice: CaseUpdateNotice) -> EmailContent:
    """A case about the customer's payment is resolved: what we did, in plain words."""
    subject = _one_line(f"{notice.merchant.name}: an update on your payment")
    values = {"subject": subject, "n": notice, "merchant": notice.merchant}
    return EmailContent(
        subject=subject,
        text=_render("case_update.txt", **values),
        html=_render("case_update.html", **values),
    )


def render_case_update_sms(notice: CaseUpdateNotice) -> str:
    about = f" about payment {notice.payment_id}" if notice.payment_id else ""
    return _one_line(f"{notice.merchant.name}: an update{about}. {notice.outcome}")


def render_in_review_email(notice: InReviewNotice) -> EmailContent:
    """We are still checking a payment: do not pay again; a receipt or a message follows."""
    subject = _one_line(f"{notice.merchant.name}: we are checking your payment")
    values = {
        "subject": subject,
        "n": notice,
        "merchant": notice.merchant,
        "amount": notice.amount.format(),
    }
    return EmailContent(
        subject=subject,
        text=_render("payment_in_review.txt", **values),
        html=_render("payment_in_review.html", **values),
    )


def render_in_review_sms(notice: InReviewNotice) -> str:
    return _one_line(
        f"{notice.merchant.name}: we are still checking your payment of "
        f"{notice.amount.format()} with the bank. Please do not pay again; you will get a "
        "receipt or a message from us."
    )
