"""Ports: the contracts crm-pay's services need from the outside world.

Adapters in ``connectors/`` implement them; only the wiring code (``crm_pay.extension``)
chooses which. Values crossing a port are small frozen dataclasses built from domain
types. No port value ever holds a card number or CVV: card data is brand, last 4,
expiry and BIN at most.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

from crm_pay.domain.declines import (
    DeclineAdvice,
    advice_for,
    decline_reference,
    fallback_category,
)
from crm_pay.domain.money import Money

__all__ = [
    "CardSummary",
    "CardChecks",
    "PspTxnStatus",
    "PspTransaction",
    "ThreeDSecureResult",
    "SaleRequest",
    "DeclineInfo",
    "CardEntry",
    "CardScript",
    "WalletEntry",
    "WebhookRequest",
    "WebhookEnvelope",
    "SaleOutcome",
    "WebhookNotification",
    "PaymentGateway",
    "PagedSearch",
    "capability",
    "SettlementBatchLine",
    "SettlementSummaries",
    "PspDispute",
    "DisputeGateway",
    "PaymentMethodVault",
    "CrmCustomer",
    "CrmInvoiceLine",
    "CrmInvoice",
    "StoredCard",
    "CrmPaymentRecord",
    "ConnectionReport",
    "CrmConnector",
    "ConfigField",
    "RecordResult",
    "BatchingCrm",
    "CrmTimeline",
    "CrmTextSearch",
    "CrmCallFailed",
    "CrmAuthFailed",
    "OutgoingEmail",
    "EmailSender",
    "OutgoingSms",
    "SmsSender",
    "DeliveryFailed",
]


# --------------------------------------------------------------------------- PSP port
@dataclass(frozen=True, slots=True)
class CardSummary:
    """What we may know of a card: never the PAN or CVV."""

    brand: str  # "Visa", "MasterCard", "American Express", ...
    last4: str
    exp_month: str | None = None
    exp_year: str | None = None
    bin: str | None = None
    # "apple_pay", "google_pay", "paypal", "venmo" when a wallet paid (crm_pay.domain.
    # wallets.WALLETS); a PayPal or Venmo account has no card: brand is the wallet's
    # name and last4 is ""
    wallet: str | None = None
    # the wallet account as it may be shown: a masked e-mail ("a***@example.com") or a
    # Venmo "@username"; never a full e-mail address (masked by the adapter)
    account: str | None = None
    # the PSP's token of the payment method when the sale kept it on file (saved with the
    # customer's consent, crm_pay.services.saved_cards) or was paid with it; not card data
    vault_token: str | None = None


@dataclass(frozen=True, slots=True)
class CardChecks:
    """What an authorization told of the card beyond yes or no, for the fraud rules
    (:mod:`crm_pay.domain.fraud`): the card network's one-letter answers to the
    security code and address checks, the PSP's own fraud decision, and the PSP's
    fingerprint of the card number (the same card gives the same fingerprint; it is
    not card data and cannot give the number back). ``None``: not sent."""

    cvv: str | None = None
    avs_postal_code: str | None = None
    avs_street_address: str | None = None
    risk_decision: str | None = None
    card_fingerprint: str | None = None


class PspTxnStatus(StrEnum):
    """A PSP transaction's status in crm-pay's words; each adapter maps its own
    vocabulary onto these (a status with no equivalent is ``OTHER``)."""

    AUTHORIZED = "authorized"
    SUBMITTED_FOR_SETTLEMENT = "submitted_for_settlement"
    SETTLING = "settling"
    SETTLED = "settled"
    VOIDED = "voided"
    PROCESSOR_DECLINED = "processor_declined"
    GATEWAY_REJECTED = "gateway_rejected"
    FAILED = "failed"
    SETTLEMENT_DECLINED = "settlement_declined"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PspTransaction:
    id: str
    status: PspTxnStatus
    amount: Money
    order_id: str | None
    kind: str = "sale"  # "sale" | "credit" (refund)
    card: CardSummary | None = None
    created_at: datetime | None = None
    # The PSP's raw response code (for support; decisions use ``decline``)
    processor_response_code: str | None = None
    refunded_transaction_id: str | None = None
    merchant_account_id: str | None = None  # decides the settlement currency
    # The PSP's raw code for a declined settlement (for support; decisions use ``decline``)
    settlement_response_code: str | None = None
    updated_at: datetime | None = None  # last status change at the PSP
    # Why it was not successful (declined, rejected, failed, settlement declined), as the
    # adapter classified it; None while the transaction is fine.
    decline: DeclineInfo | None = None
    # The authorization's card checks and fingerprint, when the PSP sent them.
    checks: CardChecks | None = None
    # The bank's 3-D Secure check of the payment method, when one ran.
    three_d_secure: ThreeDSecureResult | None = None


@dataclass(frozen=True, slots=True)
class ThreeDSecureResult:
    """What the cardholder's bank's check (3-D Secure) gave for a sale's payment method:
    the PSP's ``status`` words, whether the liability shifted to the bank, whether it
    could have, and the protocol version. Never card data."""

    status: str
    liability_shifted: bool = False
    liability_shift_possible: bool = False
    version: str | None = None


@dataclass(frozen=True, slots=True)
class SaleRequest:
    amount: Money
    order_id: str  # deterministic per payment attempt; lets the janitor find the sale
    request_key: str  # idempotency key: the PSP answers a repeat with the first sale
    payment_method_nonce: str | None = None
    payment_method_token: str | None = None  # card on file (channel "vaulted")
    device_data: str | None = None
    transaction_source: str | None = None  # "moto", "recurring", "unscheduled"
    submit_for_settlement: bool = True
    customer_id: str | None = None
    # keep the payment method on file if (and only if) the sale succeeds: the customer
    # ticked "save this card" (the token comes back as ``card.vault_token``)
    store_in_vault: bool = False
    # the merchant requires a liability shift (CRM_PAY_THREE_D_SECURE=required): the PSP
    # refuses the sale when the nonce's 3-D Secure check gave none
    three_d_secure_required: bool = False


@dataclass(frozen=True, slots=True)
class DeclineInfo:
    """Why the PSP said no, classified by the adapter.

    ``kind`` is how far the attempt got (``crm_pay.domain.declines.DECLINE_KINDS``:
    "processor", "gateway", "validation", "settlement", "failed", ...); ``code`` is the
    PSP's raw code; ``category`` is crm-pay's :class:`~crm_pay.domain.declines.
    DeclineCategory` the adapter mapped it to (empty: the kind's generic category);
    ``reference`` is the raw code as kept and shown (``processor.2001``; empty: built by
    ``decline_reference``). ``raw_text`` stays internal and is never shown to an agent or
    customer."""

    kind: str
    code: str
    raw_text: str = ""
    category: str = ""
    reference: str = ""

    def advice(self) -> DeclineAdvice:
        """The plain words for this decline (crm-pay's, keyed on ``category``)."""
        return advice_for(
            self.category or fallback_category(self.kind),
            code=self.reference or decline_reference(self.kind, self.code),
        )


@dataclass(frozen=True, slots=True)
class CardScript:
    """A script the PSP's hosted fields need on the pay page, loaded before ours.

    ``integrity`` is its Subresource Integrity pin (``sha384-``/``sha512-``); ``""``
    when the operator has not pinned it yet: the pay page then refuses card entry
    rather than run code nobody pinned. ``development`` marks a stand-in served from
    this machine (a sandbox): the script check may fetch it over loopback.

    ``bundled`` names a file crm-pay serves itself from its vendor folder (installed
    from the npm lock file by ``make install``, e.g. ``braintree-web/client.js``): the
    pay page then sets ``url`` and ``integrity`` from that file, and ``url`` here is
    empty.

    ``wallet`` names the wallet (``crm_pay.domain.wallets.WALLETS``) a script is for: the
    page loads it only when it offers that wallet, and a wallet script without a pin
    turns that wallet off rather than card entry."""

    name: str
    url: str
    version: str
    integrity: str
    purpose: str
    owner: str  # who publishes it, as the admin reads it ("Braintree")
    development: bool = False
    bundled: str = ""
    wallet: str = ""


@dataclass(frozen=True, slots=True)
class WalletEntry:
    """What one wallet adds to the pay page's policy when the page offers it: the
    origins of its sheet's frames, its calls, its images and the scripts loaded at run
    time (the wallet's own library, e.g. Google's ``pay.js``, which cannot be pinned)."""

    wallet: str
    frame_origins: tuple[str, ...] = ()
    connect_origins: tuple[str, ...] = ()
    img_origins: tuple[str, ...] = ()
    script_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CardEntry:
    """How the PSP's hosted fields run on the pay page: the scripts the page loads
    (in load order; the page's script inventory, ``script-src`` and the scheduled
    integrity check follow them), and the origins their iframes load from
    (``frame-src``), talk to (``connect-src``) and show images from (``img-src``).
    ``script_origins`` are the origins of scripts the PSP's own library loads by itself
    at run time (its fraud tools, its 3-D Secure provider), which the page cannot pin.
    ``pin_advice`` tells the operator how to pin a script that has no ``integrity``.
    ``wallets`` are the wallets the PSP's library can run on the page, each with the
    origins it adds (scripts for a wallet are in ``scripts``, marked ``wallet``).
    The client token is asked for separately (:meth:`PaymentGateway.client_token`): it
    is per payment and may be unavailable."""

    scripts: tuple[CardScript, ...] = ()
    frame_origins: tuple[str, ...] = ()
    connect_origins: tuple[str, ...] = ()
    img_origins: tuple[str, ...] = ()
    script_origins: tuple[str, ...] = ()
    pin_advice: str = ""
    wallets: tuple[WalletEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class SaleOutcome:
    """An answer from the PSP. Declines are values; infrastructure failures raise
    ``PspUnavailable`` instead (their outcome is unknown)."""

    approved: bool
    transaction: PspTransaction | None = None
    decline: DeclineInfo | None = None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A PSP's notice as ``POST {prefix}/webhooks/<psp>`` received it, nothing trusted
    yet: the parsed form fields (empty unless form-encoded), the raw body and the
    headers (names lower-cased). The adapter picks what its PSP signs."""

    form: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    """What crm-pay stores of a notice and verifies (again, on replay) with
    :meth:`PaymentGateway.parse_webhook`: the signature as the PSP sent it (``""`` when
    the PSP signs inside the payload) and the signed payload, as text."""

    signature: str
    payload: str


@dataclass(frozen=True, slots=True)
class WebhookNotification:
    # The PSP's kind in crm-pay's vocabulary (services/webhooks.py applies
    # "transaction_settled", "transaction_settlement_declined", "refund_failed" and the
    # dispute kinds; an adapter maps its own event names onto these).
    kind: str
    event_id: str  # stable identity for dedupe (kind + subject id + timestamp)
    timestamp: datetime
    transaction: PspTransaction | None = None
    dispute_id: str | None = None
    dispute_amount: Money | None = None
    # what the notice is about (transaction, dispute, subscription... id); "" if nothing
    subject_id: str = ""
    # the transaction a notice names when it carries too little to map it whole
    # (refund_failed, transaction_disbursed, transaction_reviewed samples have no currency)
    transaction_id: str | None = None
    dispute: PspDispute | None = None
    # Why crm-pay has no use for a notice of this kind, when the adapter knows (its
    # test pings, payouts, subscription notices...); kept on the stored row. ``None``
    # for the kinds above and for a kind the adapter does not know either.
    ignored: str | None = None


@runtime_checkable
class PaymentGateway(Protocol):
    """A payment service provider. Every method either returns a value the PSP really
    sent, or raises ``PspUnavailable`` (outcome unknown) / ``PspProtocolError``."""

    name: str

    @property
    def currencies(self) -> Sequence[str]:
        """ISO 4217 codes this merchant can take a payment in (a merchant account each).
        A payment in any other currency is refused before anything is recorded."""
        ...

    def client_token(self, *, currency: str | None = None) -> str:
        """Authorization for the PSP's hosted fields, for a payment in ``currency``
        (``None``: the first of :attr:`currencies`)."""
        ...

    def card_entry(self) -> CardEntry:
        """The hosted fields' scripts and origins for the pay page (offline, no call)."""
        ...

    def sale(self, request: SaleRequest) -> SaleOutcome: ...

    def submit_for_settlement(
        self, transaction_id: str, amount: Money | None = None
    ) -> SaleOutcome: ...

    def void(self, transaction_id: str) -> SaleOutcome: ...

    def refund(
        self, transaction_id: str, amount: Money | None, *, request_key: str
    ) -> SaleOutcome: ...

    def find(self, transaction_id: str) -> PspTransaction | None: ...

    def find_by_order_id(self, order_id: str) -> Sequence[PspTransaction]: ...

    def find_many(
        self, transaction_ids: Sequence[str], *, statuses: Sequence[PspTxnStatus] = ()
    ) -> Sequence[PspTransaction]:
        """The transactions among ``transaction_ids`` (optionally only those now in one of
        ``statuses``): how settlement is learnt where the PSP sends no webhook for it."""
        ...

    def search(self, start: datetime, end: datetime) -> Sequence[PspTransaction]: ...

    def webhook_envelope(self, request: WebhookRequest) -> WebhookEnvelope:
        """The signature and payload of a notice as its PSP posts them (Braintree: the
        ``bt_signature`` and ``bt_payload`` form fields). Raises ``WebhookRejected``
        (400, nothing stored) when they are missing."""
        ...

    def webhook_documents(self, envelope: WebhookEnvelope) -> Sequence[str]:
        """Every text of a notice a person could read once it is decoded (signature
        parts that are not digests, the payload, the document it encodes): where crm-pay
        looks for a card number before anything is stored."""
        ...

    def parse_webhook(self, signature: str, payload: str) -> WebhookNotification:
        """Verify and decode; raises ``WebhookRejected`` when the signature is not ours."""
        ...


@dataclass(frozen=True, slots=True)
class PspDispute:
    """A dispute (chargeback, retrieval, pre-arbitration) as the PSP reports it.

    ``status`` uses Braintree's words, which are the card schemes' ones: open,
    under_review, disputed, won, lost, accepted, auto_accepted, expired."""

    id: str
    status: str
    kind: str  # "chargeback" | "retrieval" | "pre_arbitration"
    reason: str
    amount: Money | None  # the disputed amount, in the dispute's currency
    transaction_id: str | None
    transaction_amount: Money | None = None
    order_id: str | None = None
    reply_by: date | None = None
    received_on: date | None = None
    case_number: str | None = None
    updated_at: datetime | None = None
    status_history: tuple[tuple[str, datetime | None], ...] = ()
    evidence_ids: tuple[str, ...] = ()


@runtime_checkable
class PagedSearch(Protocol):
    """Optional capability: the PSP's transactions of a window one page at a time, as
    ``(total, page)`` (``total`` known before the first page, for a progress bar)."""

    def iter_search(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[int, Sequence[PspTransaction]]]: ...


@dataclass(frozen=True, slots=True)
class SettlementBatchLine:
    """One line of the PSP's own summary of what it settled on a day."""

    merchant_account_id: str
    card_type: str
    kind: str  # "sale" | "credit"
    count: int
    amount: Money


@runtime_checkable
class SettlementSummaries(Protocol):
    """Optional capability: the PSP's settlement batch summary for a day (Braintree's
    ``settlement_batch_summary``), shown beside the reconciliation of that day."""

    def settlement_summary(self, day: date) -> Sequence[SettlementBatchLine]: ...


@runtime_checkable
class PaymentMethodVault(Protocol):
    """Optional capability: take a payment method out of the PSP's vault (a card kept by
    a sale's ``store_in_vault`` whose payment did not go through,
    :mod:`crm_pay.services.saved_cards`).

    A token the PSP does not have (deleted already) is not an error: the method returns.
    ``PspUnavailable`` means the outcome is unknown (ask again)."""

    def delete_payment_method(self, token: str) -> None: ...


@runtime_checkable
class DisputeGateway(Protocol):
    """Optional capability: answer disputes at the PSP (accept, send or withdraw evidence,
    finalize).

    A refusal by the PSP (the dispute is no longer open, evidence not acceptable) raises
    ``Conflict`` with plain words; ``PspUnavailable`` means the outcome is unknown."""

    def find_dispute(self, dispute_id: str) -> PspDispute | None: ...

    def accept_dispute(self, dispute_id: str) -> None: ...

    def add_text_evidence(
        self, dispute_id: str, content: str, *, category: str | None = None
    ) -> str:
        """Returns the PSP's evidence id."""
        ...

    def add_file_evidence(
        self,
        dispute_id: str,
        filename: str,
        content: bytes,
        *,
        content_type: str,
        category: str | None = None,
    ) -> str:
        """Uploads the document (``content_type``: ``application/pdf``, ``image/png`` or
        ``image/jpeg``) and attaches it; returns the PSP's evidence id."""
        ...

    def remove_evidence(self, dispute_id: str, evidence_id: str) -> None:
        """Withdraw evidence not yet submitted (the dispute is still open)."""
        ...

    def finalize_dispute(self, dispute_id: str) -> None: ...

    def iter_disputes(self, first: date, last: date) -> Iterator[PspDispute]:
        """Every dispute received, or with a status change that took effect, from day
        ``first`` to day ``last`` (both included), each once, for reconciliation."""
        ...


_Capability = TypeVar("_Capability")


def capability(adapter: object, protocol: type[_Capability]) -> _Capability | None:
    """``adapter`` as an optional capability ``protocol`` (a runtime-checkable Protocol),
    or None when it does not have it. Looks through the wiring code's lazy proxies (their
    ``wrapped_adapter``): from Python 3.12 ``isinstance`` no longer sees attributes a
    proxy forwards."""
    real = getattr(adapter, "wrapped_adapter", adapter)
    return real if isinstance(real, protocol) else None


# --------------------------------------------------------------------------- CRM port
@dataclass(frozen=True, slots=True)
class CrmCustomer:
    crm_ref: str
    name: str
    email: str | None = None
    phone: str | None = None  # E.164
    company: str | None = None
    currency: str = "USD"
    psp_customer_id: str | None = None
    # The customer's language as the CRM records it (BCP 47 such as "es" or "fr-CA"), when
    # it records one: their pages speak it unless they choose another (agent_ui/i18n.py).
    language: str | None = None


@dataclass(frozen=True, slots=True)
class CrmInvoiceLine:
    description: str
    quantity: int
    unit_price: Money
    tax: Money  # tax on this line
    sku: str | None = None

    @property
    def net(self) -> Money:
        return Money(self.unit_price.minor * self.quantity, self.unit_price.currency)


@dataclass(frozen=True, slots=True)
class CrmInvoice:
    crm_ref: str  # the invoice number the customer sees
    customer_ref: str
    currency: str
    issued_on: date
    due_on: date
    lines: tuple[CrmInvoiceLine, ...]
    shipping: Money
    tax_label: str = "Tax"

    @property
    def tax(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total += line.tax
        return total

    @property
    def total(self) -> Money:
        total = self.shipping + self.tax
        for line in self.lines:
            total += line.net
        return total


@dataclass(frozen=True, slots=True)
class StoredCard:
    """A card on file: a PSP token plus what may be displayed."""

    token: str
    card: CardSummary
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class CrmPaymentRecord:
    """What we push to the CRM for a payment (upserted by ``payment_id``)."""

    payment_id: str
    customer_ref: str
    status: str
    amount: Money
    channel: str
    card_brand: str | None = None
    card_last4: str | None = None
    psp_reference: str | None = None
    receipt_number: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    allocations: tuple[tuple[str, Money], ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    ok: bool
    checks: tuple[tuple[str, bool, str], ...] = field(default_factory=tuple)  # (name, ok, detail)


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One input of the admin form that configures a connector. ``choices`` lists the
    allowed values when they are fixed."""

    name: str
    label: str
    help: str
    required: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()


@runtime_checkable
class CrmConnector(Protocol):
    """A CRM. Reads serve the agent; writes are called by the outbox dispatcher only and
    must be idempotent upserts keyed by our ids, so a replay never duplicates."""

    name: str

    def find_customer(self, crm_ref: str) -> CrmCustomer | None: ...

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]: ...

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]: ...

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]: ...

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]: ...

    def upsert_payment(self, record: CrmPaymentRecord) -> None: ...

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None: ...

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None: ...

    def test_connection(self) -> ConnectionReport: ...


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Outcome of one record in a batch write: ``key`` is our id (payment id)."""

    key: str
    ok: bool
    error: str = ""  # the CRM's own message, verbatim (shown to the admin)
    retryable: bool = True


@runtime_checkable
class BatchingCrm(Protocol):
    """Optional capability: CRMs with batch endpoints (Salesforce sObject Collections,
    HubSpot batch upsert, Dataverse $batch) upsert many payments in one call."""

    max_batch: int

    def upsert_payments(self, records: Sequence[CrmPaymentRecord]) -> Sequence[RecordResult]: ...


@runtime_checkable
class CrmTimeline(Protocol):
    """Optional capability: a note on the customer's timeline (refunds, disputes).
    ``key`` is our id for the note; writing the same key twice must not duplicate it."""

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None: ...


@runtime_checkable
class CrmTextSearch(Protocol):
    """Optional capability: find customers from what an agent types in the search box
    that is neither a phone number nor an email: a CRM id written in any case, or a name
    (every word typed starts a word of the name, e.g. a surname). At most ``limit``."""

    def find_customers_by_text(self, text: str, limit: int = 20) -> Sequence[CrmCustomer]: ...


class CrmCallFailed(Exception):
    """A CRM call failed. ``retryable`` False means retrying cannot help (a validation
    error on a record); ``delay`` (seconds) honours 429 / Retry-After / request limits;
    ``crm_message`` is the CRM's own error text for the admin (never a secret)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        delay: float | None = None,
        crm_message: str = "",
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.delay = delay
        self.crm_message = crm_message


class CrmAuthFailed(CrmCallFailed):
    """Credentials were refused even after a token refresh: the admin must fix them.
    Retryable: nothing is lost while they are wrong; fixing them drains the backlog."""

    # The outbox never dead-letters for this: the message waits (backoff capped) until
    # the admin fixes the credentials.
    keep_retrying = True


# --------------------------------------------------------------------------- messaging
@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One email. ``message_id`` is stable per logical message (e.g. derived from the
    receipt number), so a redelivery after a crash is recognisable as a duplicate."""

    message_id: str  # without angle brackets, e.g. "receipt.R-2026-000001@crm-pay.local"
    sender: str
    to: str
    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, mime type, content)


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    message_id: str
    to: str  # E.164
    body: str


class DeliveryFailed(Exception):
    """The provider refused the message for good (bad address...): do not retry.
    Any other exception from a sender is treated as temporary and retried."""


@runtime_checkable
class EmailSender(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> None: ...


@runtime_checkable
class SmsSender(Protocol):
    name: str

    def send(self, sms: OutgoingSms) -> None: ...


# --------------------------------------------------------------------------- telephony
# Card capture by phone keypad (DTMF) at a telephony provider (issue 12): the customer
# keys the card on their phone, the provider hears the digits and tokenizes them with the
# PSP; crm-pay only starts, steers and ends the capture and reads masked progress.
__all__ += [
    "KeypadField",
    "KEYPAD_FIELDS",
    "KeypadCaptureRequest",
    "KeypadCapture",
    "KeypadStatus",
    "KeypadCallback",
    "KeypadCapturePort",
]


class KeypadField(StrEnum):
    """A piece of card data the customer keys in (the provider's words are the same)."""

    CARD_NUMBER = "payment-card-number"
    EXPIRY = "expiration-date"
    SECURITY_CODE = "security-code"
    POSTAL_CODE = "postal-code"


KEYPAD_FIELDS = frozenset(f.value for f in KeypadField)


@dataclass(frozen=True, slots=True)
class KeypadCaptureRequest:
    """Start a capture on a live call: tokenize only (nothing is charged by the
    provider), the token goes back in the completing status update."""

    call_id: str  # the provider's id of the call (Twilio: the Call SID)
    request_key: str  # idempotency key: a repeat returns the first capture
    status_url: str  # where the provider posts its signed status updates
    currency: str
    ask_security_code: bool = True
    ask_postal_code: bool = False
    card_brands: tuple[str, ...] = ("visa", "mastercard", "amex", "discover")
    timeout_seconds: int = 10


@dataclass(frozen=True, slots=True)
class KeypadCapture:
    """A capture the provider started: its id and the call it belongs to."""

    capture_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class KeypadStatus:
    """One status update of a capture, in crm-pay's words, already verified.

    ``masked`` is the provider's masked value of ``field`` (at most the last 4 digits
    of a card number); ``fields_left`` the fields still required; ``error`` the
    provider's error type for the last entry (``invalid-card-number``...); ``result``
    set once the capture ended (``success`` or why not); ``token`` the PSP's payment
    method token on success. Never a full card number or security code."""

    capture_id: str
    call_id: str
    field: str | None = None
    partial: bool = False
    masked: str | None = None
    card_brand: str | None = None
    fields_left: tuple[str, ...] = ()
    error: str | None = None
    result: str | None = None
    token: str | None = None
    # the exact parameters' digest: a replayed update is recognised and changes nothing
    digest: str = ""


@dataclass(frozen=True, slots=True)
class KeypadCallback:
    """A status update as ``POST`` received it, nothing trusted yet: the URL the
    provider signed, the form fields and the headers (names lower-cased)."""

    url: str
    form: Mapping[str, str]
    headers: Mapping[str, str]


@runtime_checkable
class KeypadCapturePort(Protocol):
    """A telephony provider's agent-assisted card capture. Calls raise ``CrmPayError``
    with code ``telephony_unavailable`` (503) when the provider did not answer; a
    refusal (the call ended, a bad field) raises ``Conflict`` with plain words."""

    name: str

    def start_capture(self, request: KeypadCaptureRequest) -> KeypadCapture: ...

    def ask_for(
        self, capture: KeypadCapture, field: str, *, request_key: str, status_url: str
    ) -> None:
        """Prompt the customer for ``field`` (one of :data:`KEYPAD_FIELDS`), again if
        it was entered before."""
        ...

    def complete(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None:
        """Send what was entered to the PSP; the token comes in a status update."""
        ...

    def cancel(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None: ...

    def parse_status(self, callback: KeypadCallback) -> KeypadStatus:
        """Verify the provider's signature and decode; raises ``WebhookRejected`` when
        it is missing or not the provider's."""
        ...


# --------------------------------------------------------------------------- calls (CTI)
# Screen-pop (issue 12): a call reaching an agent pops the caller's customer on that
# agent's console. A telephony platform posts the event to the API; a provider whose
# routing engine calls back (Twilio TaskRouter) is read by its adapter.
__all__ += ["CallEvent", "CallEvents", "TelephonyAccountCheck"]


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A call handed to an agent, in crm-pay's words, nothing checked yet: the caller's
    number (E.164), the agent's crm-pay username, the provider's call id (Twilio's Call
    SID) and, when the platform knows it, the customer's CRM id."""

    caller: str
    agent: str
    call_sid: str
    crm_id: str | None = None


@runtime_checkable
class CallEvents(Protocol):
    """Optional capability of a telephony adapter: its routing engine's signed event
    callbacks (Twilio TaskRouter's Event Callback)."""

    def parse_call_event(self, callback: KeypadCallback) -> CallEvent | None:
        """Verify the provider's signature, then read the event: a :class:`CallEvent`
        when a call reached an agent, None for any other event. Raises
        ``WebhookRejected`` when unsigned, not the provider's signature or malformed."""
        ...


@runtime_checkable
class TelephonyAccountCheck(Protocol):
    """Optional capability: the admin's Test connection (read the provider account)."""

    def check_account(self) -> str:
        """The account's name and status as the provider reports them (e.g. "crm-pay
        (active)"); raises ``ConfigurationError`` (refused credentials) or ``CrmPayError``
        ``telephony_unavailable`` (no answer)."""
        ...
