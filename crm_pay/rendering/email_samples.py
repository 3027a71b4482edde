"""Every customer message rendered with made-up data, for the admin's preview and for
the checks an edited template passes before it is saved.

The shipped words are files in this package (``templates/email``, ``templates/sms``);
an admin may replace them per message kind in the console
(``crm_pay.services.notification_templates``). Either way an admin sees exactly what
customers get, with the merchant's own name and contact details, through
:func:`sample_message`; :func:`sample_notices` adds the variants that take a template's
other branches (a refund receipt, a failure with no link left, a reminder not yet
overdue...), so a check renders every branch the shipped words have.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from crm_pay.domain.declines import customer_next_step
from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt, ReceiptLine

from .email import (
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
from .message_language import MessageLocale
from .message_templates import MessageTemplates
from .notices import DEFAULT_DECLINE_REASON

__all__ = [
    "MESSAGE_KINDS",
    "SampleMessage",
    "sample_message",
    "sample_notices",
    "render_sample",
    "channels_of",
    "VARIABLES",
    "COMMON_VARIABLES",
]

# kind: (what it is, when it is sent, whether it also goes by SMS)
MESSAGE_KINDS: dict[str, tuple[str, str, bool]] = {
    "receipt": (
        "Receipt (the payment's confirmation)",
        "a payment succeeds; also the refund receipt and the reversal notice of a payment "
        "the bank did not settle. A part payment says what is still to pay; with CSAT on, "
        "it carries the survey link",
        False,
    ),
    "pay_link": ("Pay link", "an agent sends a payment's pay link", True),
    "payment_failed": (
        "Payment did not go through",
        "a pay-link payment is declined or fails: why, what to do, a link to try again",
        True,
    ),
    "payment_in_review": (
        "We are checking your payment",
        "the outcome of a payment is still unknown after several checks with the PSP",
        True,
    ),
    "reminder": ("Payment reminder", "a reminder rule finds an invoice due or overdue", True),
    "case_update": (
        "Update on your payment",
        "a supervisor resolves a case about the customer's payment",
        True,
    ),
}


# What each variable of a message is, for the editor's list (a test checks that these
# are exactly the variables each kind is rendered with). Every kind also has
# ``merchant`` and, in the email bodies, ``subject``.
COMMON_VARIABLES = {
    "merchant": "your merchant details",
    "subject": "the rendered subject (email bodies only)",
    "lang": "the language the message is written in: en, es, fr or de",
}
VARIABLES: dict[str, dict[str, str]] = {
    "receipt": {
        "receipt": "the receipt",
        "refund": "true for a refund receipt",
        "reversal": "true for the notice of a payment the bank did not pay us",
        "layout": "the receipt's printed rows",
        "when": "when it was issued, with its time zone",
        "method": "how it was paid, e.g. “Visa ending 1111”",
        "total": "the amount paid (or refunded), formatted",
        "portal_url": "the link to the customer's receipts page, or empty",
        "survey_url": "the satisfaction survey link when surveys are on (payments only), or empty",
        "still_owed": "(invoice, amount) pairs still to pay after a part payment",
        "receipt_text": "the whole receipt as plain text",
        "pdf_name": "the attached PDF's file name",
    },
    "pay_link": {
        "n": "the payment request",
        "amount": "the amount to pay, formatted",
        "expires": "until when the link works (date, time and zone)",
        "valid_until": "until when the link works (time and zone only)",
    },
    "payment_failed": {
        "n": "the payment that did not go through",
        "amount": "its amount, formatted",
        "method": "the card, e.g. “Visa ending 0002”, or empty",
        "expires": "until when the link to try again works, or empty",
    },
    "payment_in_review": {"n": "the payment being checked", "amount": "its amount, formatted"},
    "reminder": {
        "n": "the reminder",
        "amount": "what is still owed, formatted",
        "when_due": "e.g. “was due on 31 March 2026 (2 days ago)”",
        "overdue": "true once the due date has passed",
    },
    "case_update": {"n": "the resolved matter (n.outcome: what we did, in plain words)"},
}


@dataclass(frozen=True)
class SampleMessage:
    kind: str
    channel: str
    subject: str
    text: str
    html: str


def channels_of(kind: str) -> tuple[str, ...]:
    """The channels ``kind`` is sent by: email, and SMS for all but the receipt."""
    return ("email", "sms") if MESSAGE_KINDS[kind][2] else ("email",)


def sample_message(
    kind: str,
    channel: str,
    *,
    merchant: Merchant,
    currency: str,
    base_url: str,
    templates: MessageTemplates | None = None,
) -> SampleMessage:
    """``kind`` rendered for ``channel`` ("email" or "sms") with sample data, from the
    edited ``templates`` when given; raises ``KeyError`` for an unknown kind,
    ``ValueError`` for a channel it has not and ``TemplateFailure`` for an edited
    template that does not render."""
    if channel not in channels_of(kind):
        raise ValueError(f"a {kind} message is not sent by SMS")
    notice = sample_notices(kind, merchant=merchant, currency=currency, base_url=base_url)[0]
    return render_sample(kind, channel, notice, templates)


def render_sample(
    kind: str,
    channel: str,
    notice: Notice,
    templates: MessageTemplates | None,
    *,
    check_required: bool = True,
    locale: MessageLocale | None = None,
) -> SampleMessage:
    """One sample ``notice`` of ``kind`` rendered for ``channel`` in ``locale``'s
    language; ``check_required`` False renders edited words even without what they
    must show (the preview)."""
    if channel == "sms":
        body = render_sms(kind, notice, templates, check_required=check_required, locale=locale)
        return SampleMessage(kind, "sms", "", body, "")
    content = render_email(kind, notice, templates, check_required=check_required, locale=locale)
    return SampleMessage(kind, "email", content.subject, content.text, content.html)


def sample_notices(kind: str, *, merchant: Merchant, currency: str, base_url: str) -> list[Notice]:
    """Made-up messages of ``kind``: the one the preview shows first, then variants for
    the templates' other branches. Raises ``KeyError`` for an unknown kind."""
    if kind not in MESSAGE_KINDS:
        raise KeyError(kind)
    now = datetime(2026, 4, 2, 10, 30, tzinfo=UTC)
    money = Money(12_500, currency)
    name = "Sample Customer"
    pay_url = f"{base_url}/p/sample-token"
    expires = now + timedelta(minutes=15)
    if kind == "receipt":
        receipt = _sample_receipt(merchant, name, money, now)
        owed = (("INV-1001", Money(2_500, currency)),)
        portal, survey = f"{base_url}/r/sample", f"{base_url}/survey/sample"
        return [
            ReceiptMessage(receipt, portal, survey, owed, pdf=b""),
            ReceiptMessage(replace(receipt, kind="refund"), portal, pdf=b""),
            ReceiptMessage(replace(receipt, kind="reversal"), portal, pdf=b""),
            ReceiptMessage(receipt, pdf=b""),
        ]
    if kind == "pay_link":
        first = PayLinkNotice(merchant, name, money, pay_url, expires, ("INV-1001",))
        return [
            first,
            replace(first, invoices=("INV-1001", "INV-1002"), description="Spring service"),
            replace(first, invoices=()),
        ]
    if kind == "payment_failed":
        failure = FailureNotice(
            merchant,
            name,
            money,
            # words the domain writes, so the preview shows them in its language
            DEFAULT_DECLINE_REASON,
            customer_next_step("issuer_declined"),
            retry_url=pay_url,
            expires_at=expires,
            method="Visa ending 0002",
        )
        return [failure, replace(failure, retry_url=None, expires_at=None, method=None)]
    if kind == "payment_in_review":
        return [InReviewNotice(merchant, name, money)]
    if kind == "reminder":
        reminder = ReminderNotice(
            merchant,
            name,
            "INV-1001",
            money,
            date(2026, 3, 31),
            2,
            f"{base_url}/reminders/pay/sample",
            f"{base_url}/reminders/opt-out/sample",
        )
        return [reminder, replace(reminder, days_overdue=0), replace(reminder, days_overdue=-3)]
    update = CaseUpdateNotice(merchant, name, 42, "pay_sample", "refunded")
    return [update, replace(update, payment_id=None, resolution_code="other")]


def _sample_receipt(merchant: Merchant, name: str, money: Money, now: datetime) -> Receipt:
    currency = money.currency
    return Receipt(
        number="R-2026-000123",
        kind="payment",
        issued_at=now,
        merchant=merchant,
        customer_name=name,
        customer_ref="CUST-SAMPLE",
        payment_id="pay_sample",
        lines=(ReceiptLine("Services", 1, money, Money.zero(currency), "INV-1001"),),
        tax_breakdown=(),
        shipping=Money.zero(currency),
        allocations=(("INV-1001", money),),
        credit=Money.zero(currency),
        amount_paid=money,
        method="Visa ending 1111",
        psp_reference="sample",
    )
