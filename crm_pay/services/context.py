"""What every use case is handed: the database, the adapters chosen by the wiring code,
settings and a clock. Built once per app in ``crm_pay.extension``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm_pay.domain.receipt import Merchant
from crm_pay.persistence.db import Database
from crm_pay.ports import CrmConnector, EmailSender, PaymentGateway, SmsSender

__all__ = ["Settings", "Context", "LiveStatus"]

# A callback the web layer installs to push live status (payment id, event dict).
LiveStatus = Callable[[str, dict[str, Any]], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    public_url: str = "http://127.0.0.1:5000"
    url_prefix: str = "/pay"
    pay_link_ttl_seconds: int = 15 * 60
    pay_link_max_attempts: int = 5
    token_pepper: bytes = b""
    audit_key: bytes = b""
    merchant: Merchant = field(default_factory=lambda: Merchant(name="Demo Merchant"))
    receipt_prefix: str = "R"
    outbox_max_attempts: int = 10
    outbox_base_delay_seconds: float = 2.0
    outbox_max_delay_seconds: float = 3600.0
    janitor_first_check_seconds: int = 30
    janitor_case_after_checks: int = 5
    # An attempt the PSP has not shown in its search for this long never reached it: it
    # fails (``not_at_psp``) and the customer may pay again. Longer than the PSP's search
    # indexing delay (Braintree's search can lag a new transaction by minutes).
    unknown_window_seconds: int = 30 * 60
    # How often each approved, unsettled payment is checked for settlement at the PSP
    # (card settlement sends no webhook at Braintree).
    settlement_poll_seconds: int = 10 * 60
    default_currency: str = "USD"
    email_from: str = "Demo Merchant <billing@example.com>"
    receipt_link_ttl_seconds: int = 90 * 86400

    def pay_url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}{self.url_prefix}/p/{token}"


@dataclass
class Context:
    db: Database
    psp: PaymentGateway
    crm: CrmConnector
    settings: Settings
    keyring: Any  # vault.KeyRing (vault is imported by the wiring code only)
    clock: Callable[[], datetime] = _utcnow
    live: LiveStatus | None = None
    email: EmailSender | None = None
    sms: SmsSender | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def publish(self, payment_id: str, event: dict[str, Any]) -> None:
        """Push a live-status event (statuses and flags only, never card data)."""
        if self.live is not None:
            self.live(payment_id, event)
