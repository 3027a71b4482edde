"""Customer emails and text messages: the receipt (with its PDF), the pay-link request
and the payment-failure notice.

Drawn from plain values (no database, no clock), so the same input always gives the
same message. Templates are Jinja with autoescaping on for HTML: a customer name or an
invoice line such as ``<script>`` arrives as text. Card data never goes beyond what the
receipt's method says ("Visa ending 1111").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

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


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _render(name: str, **values: object) -> str:
    return _env.get_template(f"email/{name}").render(**values)


def render_receipt_email(
    receipt: Receipt, *, portal_url: str | None = None, pdf: bytes | None = None
) -> EmailContent:
    """The receipt email: a summary in plain text and HTML, the full receipt as text, a
    link to the customer's receipts page and the PDF attached (rendered unless given)."""
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
