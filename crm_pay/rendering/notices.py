"""What each customer message is about, as plain frozen values: the pay-link request,
the failure notice, the reminder, the case update, the in-review notice and the receipt
as its email tells it. ``crm_pay.rendering.email`` renders them; the templates reach
them as ``n`` (and ``receipt``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt

__all__ = [
    "PayLinkNotice",
    "FailureNotice",
    "ReminderNotice",
    "CaseUpdateNotice",
    "CASE_RESOLUTION_WORDS",
    "CASE_RESOLUTION_DEFAULT",
    "InReviewNotice",
    "ReceiptMessage",
    "Notice",
]


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


@dataclass(frozen=True, slots=True)
class ReceiptMessage:
    """A receipt as its email tells it: the receipt, the link to the customer's
    receipts page, the survey link (payment receipts only), what is still owed on the
    invoices it paid in part, and the PDF (rendered unless given)."""

    receipt: Receipt
    portal_url: str | None = None
    survey_url: str | None = None
    still_owed: tuple[tuple[str, Money], ...] = ()
    pdf: bytes | None = None


Notice = (
    ReceiptMessage
    | PayLinkNotice
    | FailureNotice
    | ReminderNotice
    | CaseUpdateNotice
    | InReviewNotice
)
