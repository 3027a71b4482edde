"""The pure core of crm-pay: money, payments, the ledger, receipts, declines.

Standard library only, no I/O. Everything public is re-exported here; the modules behind
it are free to change their internals.
"""

from __future__ import annotations

from .declines import (
    DECLINE_KINDS,
    DeclineAdvice,
    DeclineCategory,
    advice_for,
    customer_next_step,
    decline_reference,
    fallback_category,
)
from .errors import (
    ConfigurationError,
    Conflict,
    CrmPayError,
    Forbidden,
    Gone,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    PspProtocolError,
    PspUnavailable,
    Unauthorized,
    ValidationError,
    WebhookRejected,
)
from .ledger import (
    Allocation,
    AllocationPlan,
    EntryKind,
    InvoiceStatus,
    Ledger,
    LedgerEntry,
    OpenInvoice,
    invoice_status,
    plan_allocation,
)
from .money import CURRENCY_EXPONENTS, Money, currency_exponent, normalize_currency
from .payment import (
    SUCCESSFUL,
    TERMINAL,
    TRANSITIONS,
    Channel,
    EventKind,
    PaymentEvent,
    PaymentStatus,
    PaymentTotals,
    check_transition,
    totals_from_events,
)
from .phone import looks_like_phone, normalize_phone
from .receipt import (
    Merchant,
    Receipt,
    ReceiptLine,
    format_receipt_number,
    parse_receipt_number,
)

__all__ = [
    "looks_like_phone",
    "normalize_phone",
    # errors
    "CrmPayError",
    "ValidationError",
    "NotFound",
    "Conflict",
    "IdempotencyConflict",
    "IllegalTransition",
    "Unauthorized",
    "Forbidden",
    "Gone",
    "PspUnavailable",
    "PspProtocolError",
    "WebhookRejected",
    "ConfigurationError",
    # money
    "Money",
    "CURRENCY_EXPONENTS",
    "currency_exponent",
    "normalize_currency",
    # payment
    "Channel",
    "PaymentStatus",
    "TRANSITIONS",
    "TERMINAL",
    "SUCCESSFUL",
    "check_transition",
    "EventKind",
    "PaymentEvent",
    "PaymentTotals",
    "totals_from_events",
    # ledger
    "EntryKind",
    "InvoiceStatus",
    "invoice_status",
    "OpenInvoice",
    "Allocation",
    "AllocationPlan",
    "plan_allocation",
    "LedgerEntry",
    "Ledger",
    # receipt
    "Merchant",
    "ReceiptLine",
    "Receipt",
    "format_receipt_number",
    "parse_receipt_number",
    # declines
    "DeclineAdvice",
    "DECLINE_KINDS",
    "DeclineCategory",
    "advice_for",
    "customer_next_step",
    "decline_reference",
    "fallback_category",
]
