"""What every use case is handed: the database, the adapters chosen by the wiring code,
settings and a clock. Built once per app by ``crm_pay.bootstrap``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formataddr
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from crm_pay.config import CrmPayConfig
from crm_pay.domain.receipt import Merchant
from crm_pay.persistence.db import Database
from crm_pay.ports import CrmConnector, EmailSender, KeypadCapturePort, PaymentGateway, SmsSender
from vault import KeyRing

__all__ = ["Settings", "Context", "Dispatcher", "LiveStatus", "Workers"]

# A callback the web layer installs to push live status (payment id, event dict).
LiveStatus = Callable[[str, dict[str, Any]], None]


class Dispatcher(Protocol):
    """The in-process outbox dispatcher, as services see it: they may only wake it."""

    def wake(self) -> None: ...


class Workers(Protocol):
    """``crm_pay.worker.BackgroundWorkers`` (not imported: the worker imports services)."""

    dispatcher: Dispatcher

    def stop(self) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


_DEFAULT = CrmPayConfig()


@dataclass(frozen=True)
class Settings:
    """What services need of the configuration, in their units (seconds, bytes).

    Built from :class:`~crm_pay.config.CrmPayConfig` by :meth:`from_config`; the
    defaults here are that configuration's defaults, so a test's ``Settings()`` and a
    default app agree (the merchant's name, the TTLs)."""

    public_url: str = "http://127.0.0.1:5000"
    url_prefix: str = "/pay"
    pay_link_ttl_seconds: int = 15 * 60
    # Seconds between a decline and the customer's failure notice (CRM_PAY_FAILURE_NOTICE_DELAY).
    failure_notice_delay_seconds: int = 600
    pay_link_max_attempts: int = 5
    token_pepper: bytes = b""
    audit_key: bytes = b""
    merchant: Merchant = field(
        default_factory=lambda: Merchant(
            name=_DEFAULT.merchant_name,
            address=_DEFAULT.merchant_address,
            email=_DEFAULT.merchant_email,
            phone=_DEFAULT.merchant_phone,
            tax_id=_DEFAULT.merchant_tax_id,
        )
    )
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
    email_from: str = formataddr((_DEFAULT.merchant_name, _DEFAULT.merchant_email))
    receipt_link_ttl_seconds: int = 90 * 86400
    # Where the customer's pages and receipts say the time is (CRM_PAY_MERCHANT_TIME_ZONE).
    time_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # Customer messages' language when the CRM record names none (CRM_PAY_DEFAULT_LANGUAGE).
    default_language: str = "en"

    @classmethod
    def from_config(
        cls, config: CrmPayConfig, *, token_pepper: bytes, audit_key: bytes
    ) -> Settings:
        """The services' settings of a parsed configuration and the app's secrets."""
        return cls(
            public_url=config.public_url,
            url_prefix=config.prefix,
            pay_link_ttl_seconds=config.pay_link_ttl,
            pay_link_max_attempts=config.pay_link_max_attempts,
            failure_notice_delay_seconds=config.failure_notice_delay,
            token_pepper=token_pepper,
            audit_key=audit_key,
            merchant=Merchant(
                name=config.merchant_name,
                address=config.merchant_address,
                email=config.merchant_email,
                phone=config.merchant_phone,
                tax_id=config.merchant_tax_id,
            ),
            receipt_prefix=config.receipt_prefix,
            outbox_max_attempts=config.outbox_max_attempts,
            unknown_window_seconds=config.unknown_window,
            settlement_poll_seconds=config.settlement_poll_interval,
            email_from=config.email_from
            or formataddr((config.merchant_name, config.merchant_email)),
            receipt_link_ttl_seconds=int(config.receipt_link_ttl * 86400),
            time_zone=config.time_zone,
            default_language=config.default_language,
        )

    def pay_url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}{self.url_prefix}/p/{token}"


@dataclass
class Context:
    """One app's database, adapters, settings and the parts the entry points add.

    Built by :func:`crm_pay.bootstrap.bootstrap`; every field is named and typed, so
    a reader (and mypy) sees what the web layer, the worker and services share."""

    db: Database
    psp: PaymentGateway
    crm: CrmConnector
    settings: Settings
    keyring: KeyRing
    clock: Callable[[], datetime] = _utcnow
    live: LiveStatus | None = None
    # The same for an agent's own events (an incoming call's screen-pop): (user id, event).
    live_agent: LiveStatus | None = None
    email: EmailSender | None = None
    sms: SmsSender | None = None
    # How the pay page's script check fetches an external script (the wiring builds it
    # with the outbound URL policy): fetch(url, *, development=False) -> bytes.
    fetch_script: Callable[..., bytes] | None = None
    # The parsed configuration the app started with; pages and services read it here.
    config: CrmPayConfig = field(default_factory=CrmPayConfig)
    # Kind -> crm_pay.services.crm_settings.ConnectorKind: the CRMs an admin may set up
    # (typed loosely: that module sits above this one in the services layers).
    crm_kinds: dict[str, Any] = field(default_factory=dict)
    # Source ("hubspot") -> signature check of the CRMs that open the console.
    launch_verifiers: dict[str, Callable[..., bool]] = field(default_factory=dict)
    # The in-process background workers (CRM_PAY_BACKGROUND_WORKERS), if started.
    workers: Workers | None = None
    # (message queue URL, channel) of live status, set by the web app's Socket.IO
    # server so a worker process can emit through the same queue.
    live_queue: tuple[str, str] | None = None
    # crm_pay.page_scripts.PayPageScripts, once the pay page is mounted (typed loosely:
    # that module reaches the connectors, which services may not import).
    pay_page_scripts: Any = None
    # The telephony provider's keypad capture (Twilio agent-assisted Pay), built by the
    # wiring from CRM_PAY_TWILIO_*; None: keypad payments are not set up.
    telephony: KeypadCapturePort | None = None
    # The console's page of a customer, opened for a call: (crm_ref, call_sid) -> its URL
    # path, set where the web layer mounts the console (agent_ui.register_ui); the
    # incoming-call banner links to it. None: no console is mounted.
    customer_page: Callable[[str, str], str] | None = None

    def now(self) -> datetime:
        return self.clock()

    def publish(self, payment_id: str, event: dict[str, Any]) -> None:
        """Push a live-status event (statuses and flags only, never card data)."""
        if self.live is not None:
            self.live(payment_id, event)

    def publish_to_agent(self, user_id: int, event: dict[str, Any]) -> None:
        """Push an ``incoming_call`` event to one agent's consoles (whitelisted too)."""
        if self.live_agent is not None:
            self.live_agent(str(user_id), event)
