"""What each customer message is about, as plain frozen values: the pay-link request,
the failure notice, the reminder, the case update, the in-review notice and the receipt
as its email tells it. ``crm_pay.rendering.email`` renders them; the templates reach
them as ``n`` (and ``receipt``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final

from crm_pay.domain.declines import DeclineCategory, advice_for, customer_next_step
from crm_pay.domain.money import Money
from crm_pay.domain.receipt import Merchant, Receipt

from .message_words import translated

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
    "DEFAULT_DECLINE_REASON",
    "MESSAGE_WORD_IDS",
]

# The reason a failure notice gives when the payment kept none (an old row).
DEFAULT_DECLINE_REASON: Final = "Your bank did not approve the payment."


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

    def in_language(self, language: str) -> FailureNotice:
        """This notice with its reason and next step in ``language`` (each stays English
        when the catalog lacks it)."""
        return replace(
            self,
            reason=translated(language, self.reason),
            next_step=translated(language, self.next_step),
        )


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
    language: str = "en"  # of :attr:`outcome`

    @property
    def outcome(self) -> str:
        """What we did, in plain words in :attr:`language` (English when the catalog
        lacks them); never the resolution code."""
        english = CASE_RESOLUTION_WORDS.get(self.resolution_code, CASE_RESOLUTION_DEFAULT)
        return translated(self.language, english)

    def in_language(self, language: str) -> CaseUpdateNotice:
        """This notice telling its outcome in ``language``."""
        return replace(self, language=language)


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


def _message_word_ids() -> tuple[str, ...]:
    words = [DEFAULT_DECLINE_REASON]
    for category in DeclineCategory:
        # a failure notice's reason is the decline's message as the payment keeps it
        words += [advice_for(category.value, code="unknown").message]
        words += [customer_next_step(category.value)]
    words += [*CASE_RESOLUTION_WORDS.values(), CASE_RESOLUTION_DEFAULT]
    return tuple(dict.fromkeys(words))


MESSAGE_WORD_IDS: Final[tuple[str, ...]] = _message_word_ids()
"""Every English sentence a message carries besides its template's words: the ids of the
catalogs of :mod:`crm_pay.rendering.message_words`."""
