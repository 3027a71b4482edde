"""Customer emails and text messages: the receipt (with its PDF), the pay-link request,
the payment-failure notice, the payment reminder, the case update and the in-review
notice.

Drawn from plain values (no database, no clock), so the same input always gives the
same message (the values are in ``crm_pay.rendering.notices``). Every part (subject,
text, HTML, SMS) is a Jinja template, the shipped file in ``templates/`` unless an
admin's edited source is handed in
(:class:`~crm_pay.rendering.message_templates.MessageTemplates`), rendered in a sandbox
with autoescaping on for HTML: a customer name or an invoice line such as ``<script>``
arrives as text. Card data never goes beyond what the receipt's method says ("Visa
ending 1111").

An edited template that fails, or leaves out what its message must show (the pay link,
the link to stop reminders, the receipt number), raises
:class:`~crm_pay.rendering.message_templates.TemplateFailure`; the caller sends the
shipped words instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Receipt

from .message_language import MessageLocale
from .message_templates import MessageTemplates, TemplateFailure, render_part
from .notices import (
    CASE_RESOLUTION_WORDS,
    CaseUpdateNotice,
    FailureNotice,
    InReviewNotice,
    Notice,
    PayLinkNotice,
    ReceiptMessage,
    ReminderNotice,
)
from .receipt_pdf import (
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
    "ReceiptMessage",
    "Notice",
    "message_values",
    "part_values",
    "required_elements",
    "render_email",
    "render_sms",
]


@dataclass(frozen=True, slots=True)
class EmailContent:
    """A rendered email: what :class:`~crm_pay.ports.OutgoingEmail` carries besides
    its addresses and Message-ID."""

    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, mime type, content)


def _one_line(text: str) -> str:
    # Every run of white space but the no-break spaces Babel writes inside amounts
    # ("1 234,56 €" in French) becomes one space, so an amount never breaks over lines.
    return re.sub(r"[^\S\xa0\u202f]+", " ", text).strip(" \t\n\r\f\v")


def _when_due(notice: ReminderNotice, locale: MessageLocale) -> str:
    if not locale.english:
        return locale.when_due(notice.due_on, notice.days_overdue)
    due = f"{notice.due_on:%d %B %Y}".lstrip("0")
    if notice.days_overdue > 0:
        days = "day" if notice.days_overdue == 1 else "days"
        return f"was due on {due} ({notice.days_overdue} {days} ago)"
    if notice.days_overdue == 0:
        return f"is due today, {due}"
    return f"is due on {due}"


def _receipt_values(m: ReceiptMessage, locale: MessageLocale) -> dict[str, Any]:
    receipt = m.receipt
    payment = receipt.kind == "payment"
    return {
        "receipt": receipt,
        "refund": receipt.kind == "refund",
        "reversal": receipt.kind == "reversal",
        "layout": receipt_layout(receipt),
        "when": locale.moment(receipt.issued_at),
        "method": printed_method(receipt.method),
        "total": locale.amount(receipt.amount_paid),
        "merchant": receipt.merchant,
        "portal_url": m.portal_url,
        "survey_url": m.survey_url if payment else None,
        "still_owed": [(ref, locale.amount(owed)) for ref, owed in m.still_owed] if payment else [],
        "receipt_text": render_receipt_text(receipt),
        "pdf_name": f"{receipt.number}.pdf",
    }


def message_values(
    kind: str, notice: Notice, locale: MessageLocale | None = None
) -> dict[str, Any]:
    """The variables ``kind``'s templates get (all parts; the email bodies also get
    ``subject``, see :func:`part_values`), amounts and times written as ``locale``'s
    language writes them (default: English, each time in its own zone)."""
    locale = locale or MessageLocale()
    if isinstance(notice, ReceiptMessage):
        return {**_receipt_values(notice, locale), "lang": locale.language}
    if isinstance(notice, FailureNotice | CaseUpdateNotice):
        # the domain's English words (decline reason, case outcome) in the message's
        # language, so the templates' ``n.reason``/``n.outcome`` read as the rest does
        notice = notice.in_language(locale.language)
    values: dict[str, Any] = {"n": notice, "merchant": notice.merchant, "lang": locale.language}
    if isinstance(notice, PayLinkNotice):
        values["amount"] = locale.amount(notice.amount)
        values["expires"] = locale.moment(notice.expires_at)
        values["valid_until"] = locale.time(notice.expires_at)
    elif isinstance(notice, FailureNotice):
        values["amount"] = locale.amount(notice.amount)
        values["method"] = locale.method(printed_method(notice.method)) if notice.method else None
        values["expires"] = locale.moment(notice.expires_at) if notice.expires_at else None
    elif isinstance(notice, ReminderNotice):
        values["amount"] = locale.amount(notice.outstanding)
        values["when_due"] = _when_due(notice, locale)
        values["overdue"] = notice.days_overdue > 0
    elif isinstance(notice, InReviewNotice):
        values["amount"] = locale.amount(notice.amount)
    return values


def part_values(part: str, values: Mapping[str, Any], subject: str) -> dict[str, Any]:
    """What one part is rendered with: the email bodies also get the rendered subject."""
    return {**values, "subject": subject} if part in ("text", "html") else dict(values)


def required_elements(kind: str, values: Mapping[str, Any]) -> dict[str, str]:
    """What an edited body must show, by what it is called: a message without it would
    leave the customer unable to act (pay, stop reminders, quote their receipt)."""
    n = values.get("n")
    if kind == "receipt":
        return {"the receipt number": values["receipt"].number}
    if isinstance(n, PayLinkNotice):
        return {"the pay link": n.url}
    if isinstance(n, ReminderNotice):
        return {"the pay link": n.pay_url, "the link to stop reminders": n.opt_out_url}
    if isinstance(n, FailureNotice) and n.retry_url:
        return {"the link to try again": n.retry_url}
    if isinstance(n, CaseUpdateNotice):
        return {"what we did (n.outcome)": n.outcome}
    return {}


def _part(
    kind: str,
    part: str,
    values: Mapping[str, Any],
    templates: MessageTemplates | None,
    required: Mapping[str, str] | None,
    language: str,
) -> str:
    edited = templates.source(part) if templates is not None else None
    out = render_part(kind, part, values, edited, language)
    if edited is not None and required and part != "subject":
        for label, value in required.items():
            if value not in out and escape(value, quote=True) not in out:
                raise TemplateFailure(part, f"it does not show {label}.")
    return out


def render_email(
    kind: str,
    notice: Notice,
    templates: MessageTemplates | None = None,
    *,
    check_required: bool = True,
    locale: MessageLocale | None = None,
) -> EmailContent:
    """``kind``'s email for ``notice``: subject, text and HTML (and a receipt's PDF),
    in ``locale``'s language (default English; ``templates`` are the edited words of that
    language). An edited part must show what :func:`required_elements` names (unless
    ``check_required`` is False: the admin's preview)."""
    locale = locale or MessageLocale()
    lang = locale.language
    values = message_values(kind, notice, locale)
    required = required_elements(kind, values) if check_required else None
    subject = _one_line(_part(kind, "subject", values, templates, required, lang))
    if not subject:
        raise TemplateFailure("subject", "it is empty.")
    text = _part(kind, "text", part_values("text", values, subject), templates, required, lang)
    html = _part(kind, "html", part_values("html", values, subject), templates, required, lang)
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    if isinstance(notice, ReceiptMessage):
        pdf = notice.pdf if notice.pdf is not None else render_receipt_pdf(notice.receipt)
        attachments = ((f"{notice.receipt.number}.pdf", "application/pdf", pdf),)
    return EmailContent(subject=subject, text=text, html=html, attachments=attachments)


def render_sms(
    kind: str,
    notice: Notice,
    templates: MessageTemplates | None = None,
    *,
    check_required: bool = True,
    locale: MessageLocale | None = None,
) -> str:
    """``kind``'s text message for ``notice``, on one line (see :func:`render_email`)."""
    locale = locale or MessageLocale()
    values = message_values(kind, notice, locale)
    required = required_elements(kind, values) if check_required else None
    body = _one_line(_part(kind, "sms", values, templates, required, locale.language))
    if not body:
        raise TemplateFailure("sms", "it is empty.")
    return body


def render_receipt_email(
    receipt: Receipt,
    *,
    portal_url: str | None = None,
    pdf: bytes | None = None,
    survey_url: str | None = None,
    still_owed: tuple[tuple[str, Money], ...] = (),
    templates: MessageTemplates | None = None,
) -> EmailContent:
    """The receipt email: a summary in plain text and HTML, the full receipt as text, a
    link to the customer's receipts page, a satisfaction survey link when given (payment
    receipts only), what is ``still_owed`` on the invoices it paid in part, and the PDF
    attached (rendered unless given)."""
    message = ReceiptMessage(receipt, portal_url, survey_url, still_owed, pdf)
    return render_email("receipt", message, templates)


def render_pay_link_email(
    notice: PayLinkNotice, templates: MessageTemplates | None = None
) -> EmailContent:
    """The request to pay: who asks, how much, for what, the link and until when."""
    return render_email("pay_link", notice, templates)


def render_pay_link_sms(notice: PayLinkNotice, templates: MessageTemplates | None = None) -> str:
    """The request to pay as one short text message."""
    return render_sms("pay_link", notice, templates)


def render_failure_email(
    notice: FailureNotice, templates: MessageTemplates | None = None
) -> EmailContent:
    """A payment did not go through: why, in plain words, what to do, and a link to try
    again while the pay link is still open."""
    return render_email("payment_failed", notice, templates)


def render_failure_sms(notice: FailureNotice, templates: MessageTemplates | None = None) -> str:
    """The failure notice as one short text message."""
    return render_sms("payment_failed", notice, templates)


def render_reminder_email(
    notice: ReminderNotice, templates: MessageTemplates | None = None
) -> EmailContent:
    """A payment reminder: which invoice, what is still owed, when it was due, a button
    to pay it and the link to stop reminders."""
    return render_email("reminder", notice, templates)


def render_reminder_sms(notice: ReminderNotice, templates: MessageTemplates | None = None) -> str:
    return render_sms("reminder", notice, templates)


def render_case_update_email(
    notice: CaseUpdateNotice, templates: MessageTemplates | None = None
) -> EmailContent:
    """A case about the customer's payment is resolved: what we did, in plain words."""
    return render_email("case_update", notice, templates)


def render_case_update_sms(
    notice: CaseUpdateNotice, templates: MessageTemplates | None = None
) -> str:
    return render_sms("case_update", notice, templates)


def render_in_review_email(
    notice: InReviewNotice, templates: MessageTemplates | None = None
) -> EmailContent:
    """We are still checking a payment: do not pay again; a receipt or a message follows."""
    return render_email("payment_in_review", notice, templates)


def render_in_review_sms(notice: InReviewNotice, templates: MessageTemplates | None = None) -> str:
    return render_sms("payment_in_review", notice, templates)
