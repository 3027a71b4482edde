"""Every customer message rendered with made-up data, for the admin's preview.

The message templates are files in this package (``templates/email``), not rows an
admin edits: they are reviewed with the code, autoescaped, tested against card numbers
and versioned with each release. An admin sees exactly what customers get, with the
merchant's own name and contact details, through :func:`sample_message`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt, ReceiptLine

from .email import (
    CaseUpdateNotice,
    EmailContent,
    FailureNotice,
    InReviewNotice,
    PayLinkNotice,
    ReminderNotice,
    render_case_update_email,
    render_case_update_sms,
    render_failure_email,
    render_failure_sms,
    render_in_review_email,
    render_in_review_sms,
    render_pay_link_email,
    render_pay_link_sms,
    render_receipt_email,
    render_reminder_email,
    render_reminder_sms,
)

__all__ = ["MESSAGE_KINDS", "SampleMessage", "sample_message"]

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


@dataclass(frozen=True)
class SampleMessage:
    kind: str
    channel: str
    subject: str
    text: str
    html: str


def sample_message(
    kind: str, channel: str, *, merchant: Merchant, currency: str, base_url: str
) -> SampleMessage:
    """``kind`` rendered for ``channel`` ("email" or "sms") with sample data; raises
    ``KeyError`` for an unknown kind and ``ValueError`` for a channel it has not."""
    if kind not in MESSAGE_KINDS:
        raise KeyError(kind)
    if channel == "sms" and not MESSAGE_KINDS[kind][2]:
        raise ValueError(f"a {kind} message is not sent by SMS")
    now = datetime(2026, 4, 2, 10, 30, tzinfo=UTC)
    money = Money(12_500, currency)
    name = "Sample Customer"
    pay_url = f"{base_url}/p/sample-token"
    if kind == "receipt":
        receipt = Receipt(
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
        content = render_receipt_email(
            receipt,
            portal_url=f"{base_url}/r/sample",
            pdf=b"",
            survey_url=f"{base_url}/survey/sample",
            still_owed=(("INV-1001", Money(2_500, currency)),),
        )
        return SampleMessage(kind, "email", content.subject, content.text, content.html)
    notice = _notice(kind, merchant, name, money, pay_url, base_url, now)
    email_of, sms_of = _RENDER[kind]
    if channel == "sms":
        return SampleMessage(kind, "sms", "", sms_of(notice), "")
    content = email_of(notice)
    return SampleMessage(kind, "email", content.subject, content.text, content.html)


_RENDER: dict[str, tuple[Callable[[Any], EmailContent], Callable[[Any], str]]] = {
    "pay_link": (render_pay_link_email, render_pay_link_sms),
    "payment_failed": (render_failure_email, render_failure_sms),
    "payment_in_review": (render_in_review_email, render_in_review_sms),
    "reminder": (render_reminder_email, render_reminder_sms),
    "case_update": (render_case_update_email, render_case_update_sms),
}


def _notice(
    kind: str,
    merchant: Merchant,
    name: str,
    money: Money,
    pay_url: str,
    base_url: str,
    now: datetime,
) -> object:
    expires = now + timedelta(minutes=15)
    if kind == "pay_link":
        return PayLinkNotice(merchant, name, money, pay_url, expires, ("INV-1001",))
    if kind == "payment_failed":
        return FailureNotice(
            merchant,
            name,
            money,
            "Your bank did not approve the payment.",
            "Try another card, or call your bank and try again.",
            retry_url=pay_url,
            expires_at=expires,
            method="Visa ending 0002",
        )
    if kind == "payment_in_review":
        return InReviewNotice(merchant, name, money)
    if kind == "reminder":
        return ReminderNotice(
            merchant,
            name,
            "INV-1001",
            money,
            date(2026, 3, 31),
            2,
            f"{base_url}/reminders/pay/sample",
            f"{base_url}/reminders/opt-out/sample",
        )
    return CaseUpdateNotice(merchant, name, 42, "pay_sample", "refunded")
