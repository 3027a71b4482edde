"""Running the development sandbox: two local origins, background settlement, webhooks."""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import braintree
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .assets_app import create_assets_app
from .documents import dispute_fields, transaction_fields
from .gateway_app import Faults, GatewaySettings, create_gateway_app
from .processing import Processor
from .records import TransactionNotFound
from .state import SandboxState
from .webhooks import (
    DISPUTE_KINDS,
    SUPPORTED_KINDS,
    TRANSACTION_KINDS,
    WebhookDispatcher,
    sign_notification,
)

log = logging.getLogger("crm_pay.sandbox")
_QUERY = re.compile(r"\?\S*")

#: The sandbox's merchant accounts and their currencies (the first is the default).
DEFAULT_MERCHANT_ACCOUNTS: Mapping[str, str] = {
    "crm_pay_usd": "USD",
    "crm_pay_gbp": "GBP",
    "crm_pay_eur": "EUR",
    "crm_pay_jpy": "JPY",
}


@dataclass(frozen=True)
class SandboxConfig:
    """How to run the sandbox. Ports 0 pick free ports; the two origins always differ.

    ``webhook_url``: where signed notifications are posted (none when ``None``).
    ``auto_settle_seconds``: settle transactions this long after submission for settlement.
    ``state_path``: JSON file that keeps transactions across restarts.
    ``timeout_fault_seconds``: how late a ``fail_next("timeout")`` answer comes.
    ``frame_ancestors``: CSP ``frame-ancestors`` for the field iframes.
    ``merchant_accounts``: merchant account id -> its currency (ISO 4217), as a Braintree
    merchant has one account per presentment currency; ``default_merchant_account_id`` is
    used when a request names none (Braintree's default merchant account; ``None``: the
    first of ``merchant_accounts``).
    """

    merchant_id: str = "crm_pay_demo"
    public_key: str = "demo_public"
    private_key: str = "demo_private"
    host: str = "127.0.0.1"
    port: int = 0
    assets_port: int = 0
    webhook_url: str | None = None
    auto_settle_seconds: float | None = None
    state_path: str | Path | None = None
    timeout_fault_seconds: float = 5.0
    frame_ancestors: str = "*"
    merchant_accounts: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_MERCHANT_ACCOUNTS)
    )
    default_merchant_account_id: str | None = None


class _QuietRequestHandler(WSGIRequestHandler):
    """Request log without query strings or bodies, on the sandbox's own logger."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        log.info("development sandbox: %s %s %s", self.command, path, code)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        # werkzeug's error lines quote the request line: drop query strings there too.
        text = _QUERY.sub("", message % args if args else message)
        log.log(logging.ERROR if type == "error" else logging.INFO, "development sandbox: %s", text)


class SandboxServer:
    """A local stand-in for Braintree's gateway that the real ``braintree`` SDK talks to.

    A development tool: it accepts only Braintree's test cards and nonces and moves no
    money. Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._stopping = threading.Event()
        self._state = SandboxState(self.config.state_path)
        self._processor = Processor(
            self._state,
            merchant_id=self.config.merchant_id,
            on_event=self._on_event,
            merchant_accounts=self.config.merchant_accounts,
            default_merchant_account_id=self.config.default_merchant_account_id,
        )
        self._faults = Faults()
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self._dispatcher = (
            WebhookDispatcher(self.config.webhook_url) if self.config.webhook_url else None
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Serve both origins from background threads; returns at once."""
        if self._servers:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        cfg = self.config
        settings = GatewaySettings(
            merchant_id=cfg.merchant_id,
            public_key=cfg.public_key,
            private_key=cfg.private_key,
            timeout_fault_seconds=cfg.timeout_fault_seconds,
            stopping=self._stopping,
        )
        gateway = create_gateway_app(settings, self._processor, self._faults)
        assets = create_assets_app(
            merchant_id=cfg.merchant_id,
            private_key=cfg.private_key,
            processor=self._processor,
            frame_ancestors=cfg.frame_ancestors,
        )
        for app, port in ((gateway, cfg.port), (assets, cfg.assets_port)):
            server = make_server(
                cfg.host, port, app, threaded=True, request_handler=_QuietRequestHandler
            )
            self._servers.append(server)
            self._spawn(server.serve_forever, f"sandbox-{port}", 0.1)
        if self._dispatcher is not None:
            self._dispatcher.start()
        if cfg.auto_settle_seconds is not None:
            self._spawn(self._auto_settle, "sandbox-auto-settle")
        log.warning(
            "crm-pay development sandbox (NOT Braintree, test cards only) started: "
            "gateway %s, hosted fields %s",
            self.gateway_url,
            self.assets_url,
        )
        return self

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving, finish webhook deliveries in flight, release the ports."""
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        if self._dispatcher is not None:
            self._dispatcher.stop()
        self._servers.clear()
        self._threads.clear()
        log.info("crm-pay development sandbox stopped")

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _auto_settle(self) -> None:
        delay = float(self.config.auto_settle_seconds or 0)
        while not self._stopping.wait(min(max(delay / 4, 0.05), 1.0)):
            self._processor.settlement.run_batch(timedelta(seconds=delay))

    # -- where it is -----------------------------------------------------------------

    def _url(self, index: int) -> str:
        if len(self._servers) <= index:
            raise RuntimeError("start() the sandbox first")
        return f"http://{self.config.host}:{self._servers[index].server_port}"

    @property
    def gateway_url(self) -> str:
        """Base URL of the Braintree-compatible gateway API."""
        return self._url(0)

    @property
    def assets_url(self) -> str:
        """Base URL of the hosted-fields origin (a different port from the gateway)."""
        return self._url(1)

    def environment(self) -> braintree.Environment:
        """A ``braintree.Environment`` for the running sandbox (plain HTTP, no certificate)."""
        port = str(self._servers[0].server_port) if self._servers else ""
        if not port:
            raise RuntimeError("start() the sandbox first")
        return braintree.Environment(
            "crm-pay-development-sandbox",
            self.config.host,
            port,
            self.gateway_url,
            False,
            None,
        )

    def braintree_gateway(self, **configuration: Any) -> braintree.BraintreeGateway:
        """A real SDK gateway for the sandbox's credentials (extra ``Configuration`` kwargs
        such as ``timeout`` or ``wrap_http_exceptions`` pass through)."""
        return braintree.BraintreeGateway(
            braintree.Configuration(
                environment=self.environment(),
                merchant_id=self.config.merchant_id,
                public_key=self.config.public_key,
                private_key=self.config.private_key,
                **configuration,
            )
        )

    # -- test controls ---------------------------------------------------------------

    def settle(self, transaction_id: str) -> None:
        """Settle one transaction now (through ``settling``), submitting it for settlement
        first if only authorized. Cards settle with no webhook, as at Braintree."""
        if self._processor.find(transaction_id)["status"] == "authorized":
            self._processor.submit_for_settlement(transaction_id)
        self._processor.settlement.settle(transaction_id)

    def settle_all(self) -> list[str]:
        """Run the settlement batch now for everything submitted; returns the settled ids."""
        return self._processor.settlement.run_batch(timedelta(0))

    def settlement_decline(self, transaction_id: str) -> None:
        """Make a transaction ``settlement_declined`` (what ``gateway.testing.
        settlement_decline_transaction`` does), submitting it first if only authorized."""
        if self._processor.find(transaction_id)["status"] == "authorized":
            self._processor.submit_for_settlement(transaction_id)
        self._processor.settlement.decline(transaction_id)

    def open_dispute(self, transaction_id: str, amount: str | None = None) -> str:
        """Open a chargeback (sends ``dispute_opened``); returns the dispute id."""
        return self._processor.disputes.open(transaction_id, amount)

    def resolve_dispute(self, dispute_id: str, outcome: str) -> None:
        """Move a dispute to ``outcome`` (one of ``DISPUTE_OUTCOMES``: won, lost, accepted,
        auto_accepted, expired, under_review, disputed) and send ``dispute_<outcome>``."""
        self._processor.disputes.resolve(dispute_id, outcome)

    def register_payment_method(self, token: str, card: Any, *, customer_id: str = "") -> None:
        """Put a card on file under a fixed ``token`` (demo data). ``card`` is a
        ``crm_pay.ports.CardSummary``-like object: brand, last4, exp_month, exp_year, bin."""
        record = {
            "bin": card.bin or "",
            "last_4": card.last4,
            "card_type": card.brand,
            "expiration_month": card.exp_month or "",
            "expiration_year": card.exp_year or "",
            "outcome": "approve",
        }
        with self._state.lock:
            self._state.vault[token] = dict(record, token=token, customer_id=customer_id)
            self._state.save()

    def fail_next(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` gateway calls fail: ``"timeout"`` (the call is carried
        out but answered after ``timeout_fault_seconds``), ``"500"``, ``"429"`` (with
        ``Retry-After``) or ``"malformed"`` (HTTP 200 with broken XML, nothing done)."""
        self._faults.add(kind, count)

    def sales_count(self, order_id: str | None = None) -> int:
        """How many sale transactions exist (for one ``order_id`` when given)."""
        with self._state.lock:
            return sum(
                1
                for t in self._state.transactions.values()
                if t["type"] == "sale" and (order_id is None or t["order_id"] == order_id)
            )

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """Copies of every stored transaction, oldest first."""
        with self._state.lock:
            return copy.deepcopy(list(self._state.transactions.values()))

    @property
    def disputes(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return copy.deepcopy(list(self._state.disputes.values()))

    @property
    def webhook_deliveries(self) -> list[tuple[str, str, int]]:
        """``(kind, subject_id, http_status)`` of each delivered webhook."""
        return list(self._dispatcher.delivered) if self._dispatcher else []

    # -- webhooks --------------------------------------------------------------------

    def webhook_form(self, kind: str, subject_id: str) -> dict[str, str]:
        """The signed ``bt_signature``/``bt_payload`` form for one notification, built from
        the sandbox's current record, on demand (like the SDK's ``webhook_testing.
        sample_notification``: any supported kind for any subject, whether or not
        Braintree would have sent it by itself)."""
        with self._state.lock:
            if kind in TRANSACTION_KINDS:
                transaction = self._processor.find(subject_id)
                subject: dict[str, Any] = {
                    "transaction": transaction_fields(transaction, self._state)
                }
            elif kind in DISPUTE_KINDS:
                dispute = self._state.disputes.get(subject_id)
                if dispute is None:
                    raise TransactionNotFound(subject_id)
                subject = {"dispute": dispute_fields(dispute, self._state)}
            elif kind == "check":
                subject = {"check": True}
            else:
                raise ValueError(f"webhook kind must be one of {SUPPORTED_KINDS}")
        return sign_notification(
            kind, subject, public_key=self.config.public_key, private_key=self.config.private_key
        )

    def send_webhook(self, kind: str, subject_id: str) -> dict[str, str]:
        """Queue a signed notification for ``webhook_url``; returns the form posted."""
        form = self.webhook_form(kind, subject_id)
        if self._dispatcher is not None:
            self._dispatcher.submit(kind, subject_id, form)
        return form

    def _on_event(self, kind: str, subject_id: str) -> None:
        if self._dispatcher is not None:
            self.send_webhook(kind, subject_id)
