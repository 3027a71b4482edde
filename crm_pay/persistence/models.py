"""SQLAlchemy 2 typed models. The schema changes only through Alembic migrations.

Amounts are integer minor units (``*_minor``) beside an ISO currency column. Tables marked
append-only (payment events, ledger entries, audit log) have no code path that updates or
deletes their rows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Customer",
    "Invoice",
    "LedgerEntryRow",
    "Payment",
    "PaymentEventRow",
    "FraudRuleVersion",
    "PayLink",
    "Receipt",
    "Sequence",
    "OutboxMessage",
    "WebhookEvent",
    "ApiKey",
    "User",
    "IdempotencyRecord",
    "VaultSecret",
    "AuditEntry",
    "Case",
    "CaseEvent",
    "Message",
    "CrmConnectorRow",
    "CrmConnectorVersion",
    "Dispute",
    "DisputeEvidence",
    "ReconciliationRun",
    "ConsoleSession",
    "NotificationTemplateVersion",
    "DashboardAgentDay",
    "DashboardChannelDay",
    "DashboardDay",
    "DashboardEventDay",
    "DashboardPaymentDay",
    "DashboardReceiptDay",
    "DashboardRollup",
    "MerchantWallet",
    "SavedCardConsent",
    "KeypadSession",
    "KeypadCallbackDigest",
    "CallRecord",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UTC_DATETIME = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTC_DATETIME, dict[str, Any]: JSON, list[Any]: JSON}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    crm_ref: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    synced_at: Mapped[datetime]
    # The language the CRM record names (BCP 47, as sent; 0020): customer messages' language.
    language: Mapped[str | None] = mapped_column(String(35))


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("customer_id", "crm_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    crm_ref: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    # lines: [{description, quantity, unit_price_minor, tax_minor, sku}], as the CRM sent them
    lines: Mapped[list[Any]]
    shipping_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    tax_label: Mapped[str] = mapped_column(String(50))


class LedgerEntryRow(Base):
    """Append-only. Positive = the customer owes more; balance = sum of entries."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    invoice_ref: Mapped[str | None] = mapped_column(String(100))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    memo: Mapped[str] = mapped_column(String(300), default="")
    due_on: Mapped[date | None] = mapped_column(Date)  # invoice charges only
    created_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # the agent's choice of invoices: {invoice_ref: minor}; empty = oldest due first
    requested_allocations: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    psp_transaction_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payment_method_token: Mapped[str | None] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(40))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp: Mapped[str | None] = mapped_column(String(7))
    # a wallet paid (0022; crm_pay.domain.wallets.WALLETS) and its account as it may be
    # shown (masked e-mail, Venmo @username); card_brand/last4 are then the wallet's card
    wallet: Mapped[str | None] = mapped_column(String(20))
    wallet_account: Mapped[str | None] = mapped_column(String(120))
    # the bank's 3-D Secure check of the latest attempt (0023; crm_pay.domain.
    # three_d_secure): the PSP's status words and whether the liability shifted
    three_d_secure_status: Mapped[str | None] = mapped_column(String(60))
    three_d_secure_liability_shifted: Mapped[bool | None]
    decline_code: Mapped[str | None] = mapped_column(String(40))  # the PSP's raw code
    # crm_pay.domain.declines.DeclineCategory: decides the words shown
    decline_category: Mapped[str | None] = mapped_column(String(40))
    decline_message: Mapped[str | None] = mapped_column(String(300))
    decline_next_step: Mapped[str | None] = mapped_column(String(300))
    janitor_checks: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None]
    # since when the PSP's outcome has been unknown: bounds the janitor's search window
    in_doubt_since: Mapped[datetime | None]
    # last time the PSP was asked whether a successful payment has settled
    settlement_checked_at: Mapped[datetime | None] = mapped_column(index=True)
    # indexed: the daily reconciliation reads a day's payments by it
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    # --- fraud screening (0017; crm_pay/services/fraud_screening.py) ---
    # when the latest attempt was recorded: the fraud rules' velocity windows count by it
    charged_at: Mapped[datetime | None]
    # the address that asked for the charge (the customer's browser, the API caller)
    payer_ip: Mapped[str | None] = mapped_column(String(45))
    # the PSP's fingerprint of the card number (not card data; never shown whole)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # screening of the latest attempt: None (one sale call, nothing pending); sent
    # authorize-only with the decision pending: "screening", "review", "accepted",
    # "declining"; then "held", "released", "declined"
    fraud_review: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        # the velocity counts: one index per scope, by attempt time
        Index("ix_payments_customer_charged", "customer_id", "charged_at"),
        Index("ix_payments_agent_charged", "created_by", "charged_at"),
        Index("ix_payments_ip_charged", "payer_ip", "charged_at"),
        Index("ix_payments_card_charged", "card_fingerprint", "charged_at"),
    )


class FraudRuleVersion(Base):
    """One saved version of the fraud rules (append-only): the newest is in force; none
    saved yet means no rules (crm_pay/services/fraud_rules.py)."""

    __tablename__ = "fraud_rule_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    rules: Mapped[list[Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PaymentEventRow(Base):
    """Append-only log; captured/refunded/disputed amounts are derived from it."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    psp_reference: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class PayLink(Base):
    __tablename__ = "pay_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    # HMAC of the token: a database leak does not reveal a usable link
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the token itself, vault-encrypted (bound to the payment id), for resending the link
    sealed_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    max_attempts: Mapped[int] = mapped_column(Integer)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("payment_id", "kind", "refund_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    # for refunds the PSP refund id; "" for the payment's own receipt (unique per payment)
    refund_ref: Mapped[str] = mapped_column(String(64), default="")
    content: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]


class Sequence(Base):
    """Named counters and chain heads, updated under a row lock (gapless numbering)."""

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(60))
    # messages with one key are delivered in id order (e.g. one customer at one CRM)
    ordering_key: Mapped[str] = mapped_column(String(120), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime]
    signature: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # received | rejected | processed | duplicate | failed
    status: Mapped[str] = mapped_column(String(12))
    event_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    kind: Mapped[str | None] = mapped_column(String(60))
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # login throttling: consecutive failures and a lock-out until this time
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # MFA (crm_pay.services.mfa): the TOTP seed sealed by the vault key ring (context
    # "totp:<id>"); counts only once totp_confirmed_at is set. None = not enrolled.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # replay refusal
    # wrong-code count of one pending sign-in (its nonce; "<nonce>:done" once used)
    mfa_nonce: Mapped[str | None] = mapped_column(String(80))
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0)


class MfaRecoveryCode(Base):
    """One recovery code, salted PBKDF2 hash only; ``used_at`` set when spent."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebauthnCredential(Base):
    """A security key (WebAuthn) of a console user: an extra second factor beside TOTP.
    ``sign_count`` is the authenticator's counter at the last use (a smaller or equal
    count later means a cloned key and is refused)."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class VaultSecret(Base):
    __tablename__ = "vault_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only, hash-chained (``vault.audit``)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(120))
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Case(Base):
    """A discrepancy for a supervisor: opened automatically (``crm_pay.services.cases``),
    worked in the supervisor queue, resolved with a resolution code and a note.

    One case per kind and subject, ever: the same cause seen again reopens a resolved
    case (a closed one stays closed). Its history is in :class:`CaseEvent`."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("kind", "subject"),
        Index("ix_cases_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(120))  # e.g. payment id, webhook id
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))  # open | assigned | resolved | closed
    detail: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(Text)  # the resolution note
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # the SLA: when a supervisor must have resolved it (opened_at + the kind's hours)
    due_at: Mapped[datetime]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    snoozed_until: Mapped[datetime | None]
    resolution_code: Mapped[str | None] = mapped_column(String(40))
    resolved_by: Mapped[str | None] = mapped_column(String(200))  # Principal.actor
    # resolved_at - opened_at in whole seconds, kept so SQL can take medians over it
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    reopened: Mapped[int] = mapped_column(Integer, default=0)  # times its cause came back


class Message(Base):
    """One customer message (email or SMS) and its delivery status."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # stable per logical message: a redelivery carries the same id (duplicates recognisable)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # receipt | pay_link | payment_failed
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    recipient: Mapped[str] = mapped_column(String(320))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    receipt_number: Mapped[str | None] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(10))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class CrmConnectorRow(Base):
    """A configured CRM connector. At most one is enabled (the merchant's CRM)."""

    __tablename__ = "crm_connectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # builtin | salesforce | hubspot | ...
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]]
    mapping: Mapped[dict[str, Any]]
    # vault ciphertext of a JSON object of secrets (bound to the connector's name)
    secrets: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    last_test_ok: Mapped[bool | None]
    last_test_at: Mapped[datetime | None]
    last_test_report: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CrmConnectorVersion(Base):
    """Append-only history of connector settings (secrets are never copied here)."""

    __tablename__ = "crm_connector_versions"
    __table_args__ = (UniqueConstraint("connector_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("crm_connectors.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]]
    mapping: Mapped[dict[str, Any]]
    secrets_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime]


class Dispute(Base):
    """A PSP dispute on one of our payments, fed by the dispute webhooks.

    ``booked_minor`` is what this dispute has charged back in the ledger right now
    (0 or the disputed amount): every booking and reversal moves it, so replays and
    out-of-order notices book once. ``status_history`` and ``evidence`` are
    append-only lists; the evidence sent is in ``DisputeEvidence`` (since 0014)."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    psp_dispute_id: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # chargeback | retrieval | pre_arbitration
    reason: Mapped[str] = mapped_column(String(60), default="")
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # None: PSP sent none
    currency: Mapped[str | None] = mapped_column(String(3))
    # open | under_review | disputed | won | lost | accepted | auto_accepted | expired
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_at: Mapped[datetime]  # PSP time of the status above: older notices lose
    status_history: Mapped[list[Any]]  # [{status, at, source}]
    reply_by: Mapped[date | None] = mapped_column(Date)
    case_number: Mapped[str | None] = mapped_column(String(60))
    booked_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # a supervisor action recorded before the PSP call (accept | text | file | finalize)
    pending_action: Mapped[str | None] = mapped_column(String(20))
    finalized_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReconciliationRun(Base):
    """The last reconciliation report of one UTC day (a re-run replaces it; the cases it
    opened stay, deduplicated on their own (kind, subject))."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # unique: the claim a worker takes before running a day (two workers, one run)
    day: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(12))  # running | completed | failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    psp_rows: Mapped[int] = mapped_column(Integer, default=0)
    ledger_rows: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    no_money: Mapped[int] = mapped_column(Integer, default=0)
    # chargebacks: the PSP's disputes of the day, ours, and how many agreed
    psp_disputes: Mapped[int] = mapped_column(Integer, default=0)
    ledger_disputes: Mapped[int] = mapped_column(Integer, default=0)
    disputes_matched: Mapped[int] = mapped_column(Integer, default=0)
    cases_opened: Mapped[int] = mapped_column(Integer, default=0)  # by the last run
    # [{currency, merchant_account, sales_count, sales_minor, refunds_count, refunds_minor}]
    totals: Mapped[list[Any]]
    # [{kind, psp_id, payment_id, txn_kind, ours, theirs, case_id}]
    differences: Mapped[list[Any]]
    # the PSP's settlement batch summary when it offers one, else None
    settlement_summary: Mapped[list[Any] | None] = mapped_column(JSON)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    triggered_by: Mapped[str] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)


class ConsoleSession(Base):
    """One console sign-in. The browser's cookie carries a random session id; only its
    keyed hash is stored (like pay-link tokens), so a leaked table signs nobody in.
    A row ends once (``revoked_at`` + ``revoked_reason``: signed_out, elsewhere, idle,
    expired, revoked, deactivated) and is never reopened."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # absolute lifetime, whatever the activity
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(20))
    # last second factor typed in this session (sign-in or step-up; crm_pay.services.mfa)
    mfa_at: Mapped[datetime | None]


# --- Issue 10 tables. Each section belongs to one piece of work (revision in brackets);
# --- add classes inside your own section only, with small edits.

# --- cases workflow (0009) ---


class CaseEvent(Base):
    """One entry of a case's history, append-only: opened, assigned, note, snoozed,
    resolved, closed, reopened. ``note`` is free text a person wrote (PAN-redacted)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))  # Principal.actor, or "system"
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    at: Mapped[datetime]


# --- approvals, refunds, manual payments, adjustments (0010) ---


class ApprovalRequest(Base):
    """Four-eyes: money moved by one person only after a second approves it
    (``crm_pay.services.approvals``). ``payload`` is the action to run on approval;
    ``result`` is what running it produced (written once, with ``executed_at``)."""

    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_state", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # refund | manual_payment | write_off | adjustment
    kind: Mapped[str] = mapped_column(String(20))
    # pending | approved | refused | expired | closed
    state: Mapped[str] = mapped_column(String(12))
    payload: Mapped[dict[str, Any]]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    customer_ref: Mapped[str] = mapped_column(String(100), index=True)
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    requested_by: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # why running the approved action did not finish (PSP down, refund declined)
    error: Mapped[str | None] = mapped_column(Text)
    # the error's code: a definite refusal (refund_refused) may be closed, an outcome
    # not known (psp_unavailable) may not (0018)
    error_code: Mapped[str | None] = mapped_column(String(40))
    # an approved refund the bank declined, ended by a supervisor without moving money
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    close_note: Mapped[str | None] = mapped_column(Text)


# --- notifications, reminders, opt-outs, CSAT (0011) ---


class ReminderRule(Base):
    """An admin's payment-reminder rule: when (days from the due date), how often, how
    many per invoice, by which channel, and the hours it keeps quiet in its timezone."""

    __tablename__ = "reminder_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # first reminder on due date + offset_days (negative: before the due date)
    offset_days: Mapped[int] = mapped_column(Integer)
    repeat_every_days: Mapped[int] = mapped_column(Integer, default=0)  # 0: once
    max_reminders: Mapped[int] = mapped_column(Integer, default=1)  # per invoice
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    timezone: Mapped[str] = mapped_column(String(64))
    quiet_start: Mapped[str] = mapped_column(String(5))  # "21:00", local; "" = none
    quiet_end: Mapped[str] = mapped_column(String(5))  # "08:00"
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReminderSend(Base):
    """One reminder of one invoice under one rule. The unique (invoice, rule, sequence)
    is the claim: two workers never send the same reminder."""

    __tablename__ = "reminder_sends"
    __table_args__ = (UniqueConstraint("invoice_id", "rule_id", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("reminder_rules.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(200))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


class ReminderOptOut(Base):
    """A customer who asked for no more payment reminders (from a reminder's link)."""

    __tablename__ = "reminder_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    created_at: Mapped[datetime]


class CsatAnswer(Base):
    """A customer's satisfaction answer: one per payment, 1 to 5 and a comment."""

    __tablename__ = "csat_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)


# --- admin connector checks (0012) ---


class CrmConnectorTest(Base):
    """One Test connection of a connector, at the version it was run on (append-only):
    the admin's Enable needs a passing one for the settings in force."""

    __tablename__ = "crm_connector_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("crm_connectors.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    # [[check, ok, detail], ...] as the connector reported them (never a secret)
    checks: Mapped[list[Any]] = mapped_column(JSON)
    tested_by: Mapped[str] = mapped_column(String(200))
    tested_at: Mapped[datetime]


# --- dashboard (0013) ---
# Covering indexes of the dashboard's aggregates (crm_pay/services/dashboard.py): each
# panel reads one range of one index, never the table rows.
Index(
    "ix_dashboard_payments_range",
    Payment.currency,
    Payment.created_at,
    Payment.status,
    Payment.channel,
    Payment.amount_minor,
    Payment.decline_category,
)
Index(
    "ix_dashboard_payments_agent",
    Payment.currency,
    Payment.created_at,
    Payment.created_by,
    Payment.status,
    Payment.amount_minor,
)
Index(
    "ix_dashboard_payment_events",
    PaymentEventRow.kind,
    PaymentEventRow.currency,
    PaymentEventRow.created_at,
    PaymentEventRow.amount_minor,
)
Index("ix_dashboard_cases_resolved", Case.resolved_at, Case.kind, Case.opened_at)
Index("ix_dashboard_cases_open", Case.status, Case.kind, Case.opened_at)
Index("ix_dashboard_messages", Message.kind, Message.created_at, Message.channel, Message.status)
Index("ix_dashboard_disputes", Dispute.kind, Dispute.opened_at)


# --- disputes: evidence, accept/contest (0014) ---
class DisputeEvidence(Base):
    """One piece of evidence a supervisor sent the PSP for a dispute.

    A text is kept as sent (a card number in it is refused before it is sent); of a file
    only its name, type, size and SHA-256 are kept, never its bytes. Removed evidence
    keeps its row (``removed_at``/``removed_by``): what the PSP was once sent stays
    visible."""

    __tablename__ = "dispute_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # text | file
    psp_evidence_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(60))
    text: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(40))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime]
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removed_at: Mapped[datetime | None]


# --- dashboard daily totals (0016) ---
# Filled by the worker (crm_pay/services/dashboard_rollup.py) for whole past UTC days;
# the dashboard reads them for the days nothing changed since, live rows for the rest.
class DashboardPaymentDay(Base):
    """Payments of one UTC day (by creation) by currency, status and decline reason
    (``""`` for none): how many, and their amount."""

    __tablename__ = "dashboard_payment_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), primary_key=True)
    decline_category: Mapped[str] = mapped_column(String(40), primary_key=True)
    payments: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class DashboardChannelDay(Base):
    """Payments of one UTC day by currency and channel: how many, how many succeeded
    and their amount (the daily, channel and currency figures)."""

    __tablename__ = "dashboard_channel_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    payments: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    succeeded_minor: Mapped[int] = mapped_column(BigInteger)


class DashboardAgentDay(Base):
    """Payments of one UTC day by currency and agent (``created_by``): how many, how
    many succeeded and their amount."""

    __tablename__ = "dashboard_agent_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(200), primary_key=True)
    payments: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    succeeded_minor: Mapped[int] = mapped_column(BigInteger)


class DashboardEventDay(Base):
    """Sales, refunds and voids (payment events) of one UTC day by currency and kind."""

    __tablename__ = "dashboard_event_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    events: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class DashboardReceiptDay(Base):
    """Receipt messages of one UTC day (by creation) by channel and delivery status."""

    __tablename__ = "dashboard_receipt_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)


class DashboardDay(Base):
    """A UTC day whose totals are computed; ``receipts_waiting``: its receipts still
    queued then (their status will change, so the day's receipts are read live)."""

    __tablename__ = "dashboard_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime]
    receipts_waiting: Mapped[int] = mapped_column(Integer)


class DashboardRollup(Base):
    """The one row saying when the last complete pass started (``as_of``), how many days
    it computed and how long it took."""

    __tablename__ = "dashboard_rollup"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[datetime]
    days: Mapped[int] = mapped_column(Integer)
    pass_ms: Mapped[int] = mapped_column(Integer)


# A payment's change moves its updated_at: the worker finds the days to compute again.
Index("ix_dashboard_payments_changed", Payment.updated_at, Payment.created_at)


# --- notification templates edited in the admin console (0015) ---
class NotificationTemplateVersion(Base):
    """One saved version of an admin's templates of one message kind (append-only):
    the newest version of a kind is in force. A part left ``None`` is the shipped file
    (a version whose parts are all ``None`` is a "Reset to default")."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # receipt | pay_link | reminder | ...
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per kind, across its languages
    # whose words these are (0020): the newest version of a kind *and language* is in force
    language: Mapped[str] = mapped_column(String(8), server_default="en")
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    sms: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(10))  # saved | reset
    saved_by: Mapped[str] = mapped_column(String(200))
    saved_at: Mapped[datetime]


# --- merchant branding on the customer's pages (0019) ---


class MerchantBrandingVersion(Base):
    """One saved version of the merchant's look on the customer pages (append-only; the
    newest is in force): accent colour, logo, support contact. ``logo`` is the image as
    uploaded (PNG or JPEG), carried over unchanged from version to version."""

    __tablename__ = "merchant_branding_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    colour: Mapped[str | None] = mapped_column(String(7))  # #rrggbb
    support_phone: Mapped[str] = mapped_column(String(40), default="")
    support_email: Mapped[str] = mapped_column(String(200), default="")
    support_hours: Mapped[str] = mapped_column(String(120), default="")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(20))  # image/png | image/jpeg
    logo_sha256: Mapped[str | None] = mapped_column(String(64))
    saved_by: Mapped[str] = mapped_column(String(200))
    saved_at: Mapped[datetime]


# --- wallets on the pay page and cards saved with consent (0022) ---


class MerchantWallet(Base):
    """A wallet the admin offers on the pay page for one merchant account (named by its
    currency: the PSP port has one account per currency). No row: not offered."""

    __tablename__ = "merchant_wallets"

    merchant_account: Mapped[str] = mapped_column(String(64), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(20), primary_key=True)  # domain.wallets.WALLETS
    enabled_by: Mapped[str] = mapped_column(String(200))
    enabled_at: Mapped[datetime]


class SavedCardConsent(Base):
    """The customer's "save this card" tick on the pay page for one attempt: who (the
    customer, through ``pay_link_id``), when, the exact wording shown and its language.
    Written with the attempt, before the PSP is called; ``vault_token`` and the card are
    filled when the sale succeeds and the PSP kept the card (NULL: nothing was saved)."""

    __tablename__ = "saved_card_consents"
    __table_args__ = (
        UniqueConstraint("payment_id", "attempt", name="uq_saved_card_consents_attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    pay_link_id: Mapped[int | None] = mapped_column(ForeignKey("pay_links.id"))
    wording: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    consented_at: Mapped[datetime]
    vault_token: Mapped[str | None] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(40))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp: Mapped[str | None] = mapped_column(String(7))
    wallet: Mapped[str | None] = mapped_column(String(20))
    wallet_account: Mapped[str | None] = mapped_column(String(120))
    vaulted_at: Mapped[datetime | None]


# --- keypad (DTMF) payments through a telephony provider (0021) ---


class KeypadSession(Base):
    """One keypad capture on a call for a payment (``channel`` ``ivr``): the provider's
    ids, where it is, and what may be shown of the card (brand, last 4, expiry). Never a
    card number or security code: the provider reports them masked, and only the last 4
    digits are kept. ``requests`` numbers the calls made to the provider, so each has a
    deterministic idempotency key."""

    __tablename__ = "keypad_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(30))  # "twilio"
    call_sid: Mapped[str] = mapped_column(String(64))
    # the provider's id of the capture (Twilio's Payment SID "PK…"); NULL while starting
    capture_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # starting | capturing | completing | charging | charged | declined | cancelled | failed
    status: Mapped[str] = mapped_column(String(20))
    field: Mapped[str | None] = mapped_column(String(40))  # the field being asked for
    fields_left: Mapped[str] = mapped_column(String(200), default="")  # comma-separated
    error: Mapped[str | None] = mapped_column(String(80))  # the provider's last ErrorType
    result: Mapped[str | None] = mapped_column(String(80))  # how the capture ended
    card_brand: Mapped[str | None] = mapped_column(String(40))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp: Mapped[str | None] = mapped_column(String(7))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class KeypadCallbackDigest(Base):
    """The digest of every status callback applied to a keypad session: a replayed
    callback (the same parameters again) meets the unique digest and changes nothing."""

    __tablename__ = "keypad_callback_digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    keypad_session_id: Mapped[int] = mapped_column(ForeignKey("keypad_sessions.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime]


# --- calls handed to agents: the console's screen-pop (0024) ---


class CallRecord(Base):
    """One call handed to one agent (CTI screen-pop): the caller's number, the
    provider's Call SID (remembered for the keypad payment), the customers it matched
    (``[{"crm_ref", "name"}]``) and until when it counts as the agent's current call.
    One row per call and agent: a replayed event meets the unique pair and changes
    nothing; a transfer to another agent is a row of its own."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("call_sid", "agent_user_id", name="uq_calls_call_sid_agent"),
        Index("ix_calls_agent_received", "agent_user_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    agent_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    caller: Mapped[str] = mapped_column(String(16))  # E.164
    crm_ref: Mapped[str | None] = mapped_column(String(100))  # the CRM id the platform sent
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(30))  # "api" | "twilio_taskrouter"
    received_by: Mapped[str] = mapped_column(String(200))  # who reported it (actor)
    received_at: Mapped[datetime]
    expires_at: Mapped[datetime]
