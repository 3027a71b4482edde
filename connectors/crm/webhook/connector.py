"""The generic signed-webhook CRM connector: :class:`WebhookCrm`."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import requests

from connectors.http import answer_excerpt, retry_after, timeout_setting, transport_failure_text
from connectors.outbound import STRICT, OutboundPolicy, guard
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import (
    ConnectionReport,
    CrmAuthFailed,
    CrmCallFailed,
    CrmCustomer,
    CrmInvoice,
    CrmPaymentRecord,
    StoredCard,
)
from vault.pan import redact_obj

from .config import SECRET_FIELDS, SETTINGS_FIELDS, ConfigField
from .signing import EVENT_ID_HEADER, SIGNATURE_HEADER, event_id, sign

__all__ = ["WebhookCrm", "event_type_for_status"]

log = logging.getLogger("connectors.crm.webhook")

_SUCCEEDED: Final = frozenset({"authorized", "submitted_for_settlement", "settled"})
_FAILED: Final = frozenset({"declined", "failed"})
_REFUNDED: Final = frozenset({"refunded", "partially_refunded"})
_DISPUTED: Final = frozenset({"disputed"})
# Besides 5xx: timeout, conflict (the receiver is busy with the same id), rate limit.
_RETRYABLE_4XX: Final = frozenset({408, 409, 429})
_EXCERPT: Final = 300
_MIN_SECRET: Final = 16


def event_type_for_status(status: str) -> str:
    """The event type announcing a payment record in ``status``."""
    if status in _SUCCEEDED:
        return "payment.succeeded"
    if status in _FAILED:
        return "payment.failed"
    if status in _REFUNDED:
        return "payment.refunded"
    if status in _DISPUTED:
        return "dispute.opened"
    return "payment.updated"


class WebhookCrm:
    """POSTs signed JSON events to the admin's URL; write-only.

    Implements the write side of :class:`~crm_pay.ports.CrmConnector` and
    :class:`~crm_pay.ports.CrmTimeline`. A webhook cannot be asked questions, so every read
    answers "nothing" (``None`` / ``[]``) and crm-pay falls back to its own customers,
    invoices and cards.

    ``settings``: ``url`` (https, checked by the outbound URL policy ``outbound``:
    public hosts only unless allowed; http only for localhost in demo mode), optional
    ``timeout`` (seconds, default 10) and ``include_pdf`` (default false:
    ``receipt.issued`` carries metadata only). ``secrets``: ``signing_secret`` (at least
    16 characters).

    Each event has a stable ``id`` derived from our ids, sent again as ``CrmPay-Event-Id``:
    the same logical event always has the same id, so a receiver that dedupes on it is
    safe against our retries and replays.
    """

    name = "webhook"
    SETTINGS_FIELDS: tuple[ConfigField, ...] = SETTINGS_FIELDS
    SECRET_FIELDS: tuple[ConfigField, ...] = SECRET_FIELDS

    def __init__(
        self,
        settings: Mapping[str, object],
        secrets: Mapping[str, object],
        mapping: Mapping[str, str] | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        if mapping:
            # Same constructor shape as the other CRM connectors, so wiring stays uniform.
            raise ConfigurationError(
                "the webhook connector has no field mapping: its events have a fixed shape "
                "(docs/crm/webhook.md)"
            )
        self.url = outbound.check_url(settings.get("url"), setting="url")
        self.timeout = timeout_setting(settings.get("timeout"), default=10.0, low=1, high=120)
        self.include_pdf = str(settings.get("include_pdf") or "").lower() in ("1", "true", "yes")
        secret = secrets.get("signing_secret")
        if not isinstance(secret, str) or len(secret.strip()) < _MIN_SECRET:
            raise ConfigurationError(
                f"signing_secret must be at least {_MIN_SECRET} characters; generate a random "
                "one and give the same value to the receiver"
            )
        self._secret = secret.strip()
        # Every connection is checked again when it is made (DNS rebinding).
        self._session = guard(session or requests.Session(), outbound)
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookCrm(url={self.url!r})"

    # ------------------------------------------------------------------------ reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        """Always ``None``: a webhook is write-only."""
        return None

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        """Always empty: a webhook is write-only."""
        return []

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        """Always empty: a webhook is write-only."""
        return []

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        """Always empty: crm-pay uses its own invoices."""
        return []

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        """Always empty: crm-pay uses its own cards on file."""
        return []

    # ------------------------------------------------------------------------ writes
    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        """Send ``payment.succeeded`` / ``failed`` / ``refunded`` / ``updated`` (by status)."""
        kind = event_type_for_status(record.status)
        data = {
            "payment_id": record.payment_id,
            "customer_ref": record.customer_ref,
            "status": record.status,
            **_money("amount", record.amount),
            "channel": record.channel,
            "card": {"brand": record.card_brand, "last4": record.card_last4}
            if record.card_brand or record.card_last4
            else None,
            "psp_reference": record.psp_reference,
            "receipt_number": record.receipt_number,
            "created_at": _iso(record.created_at),
            "updated_at": _iso(record.updated_at),
            "allocations": [
                {"invoice": invoice, **_money("amount", amount)}
                for invoice, amount in record.allocations
            ],
        }
        parts = (kind, record.payment_id, record.status, record.receipt_number or "")
        self._deliver(kind, event_id(*parts), data)

    def update_balance(
        self, crm_ref: str, balance: Money, credit: Money, *, version: str | None = None
    ) -> None:
        """Send ``balance.changed`` with the new balance and credit (absolute values).

        ``version`` (e.g. the id of the ledger's last entry) goes into the event id and
        the payload; without it, a balance that returns to an earlier value produces the
        same id as before, and a receiver that dedupes would drop it.
        """
        if balance.currency != credit.currency:
            raise ValidationError("balance and credit must be in the same currency")
        kind = "balance.changed"
        data = {
            "customer_ref": crm_ref,
            **_money("balance", balance),
            **_money("credit", credit),
            "version": version,
        }
        parts = (kind, crm_ref, _text(balance), _text(credit), version or "")
        self._deliver(kind, event_id(*parts), data)

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        """Send ``receipt.issued``: metadata, plus the PDF in base64 if ``include_pdf``."""
        kind = "receipt.issued"
        data: dict[str, Any] = {
            "customer_ref": crm_ref,
            "payment_id": payment_id,
            "receipt_number": number,
            "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
            "pdf_size": len(pdf),
        }
        if self.include_pdf:
            data["pdf_base64"] = base64.b64encode(pdf).decode("ascii")
        self._deliver(kind, event_id(kind, payment_id, number), data)

    def add_timeline_note(self, crm_ref: str, key: str, text: str) -> None:
        """Send ``note.added``; ``key`` makes its id, so a replay is the same event."""
        kind = "note.added"
        data = {"customer_ref": crm_ref, "key": key, "text": text}
        self._deliver(kind, event_id(kind, crm_ref, key), data)

    # ------------------------------------------------------------------------ admin
    def test_connection(self) -> ConnectionReport:
        """Send a signed ``ping`` event; the receiver must answer 2xx.

        The report gives the HTTP status only, never the receiver's answer: a test that
        echoed it would let whoever configures the URL read what any host returns.
        """
        now = int(self._clock())
        try:
            self._deliver("ping", event_id("ping", str(now)), {"message": "crm-pay test"})
        except CrmCallFailed as exc:
            return ConnectionReport(ok=False, checks=(("delivery", False, str(exc)),))
        detail = f"{self.url} accepted a signed ping event"
        return ConnectionReport(ok=True, checks=(("delivery", True, detail),))

    # ------------------------------------------------------------------------ internals
    def _deliver(self, kind: str, evt_id: str, data: Mapping[str, Any]) -> None:
        event = {"id": evt_id, "type": kind, "created": int(self._clock()), "data": data}
        _, hits = redact_obj(event)
        if hits:
            log.error(
                "ALERT: webhook event %s (%s) contains %d card number(s); it was not sent.",
                evt_id,
                kind,
                hits,
                extra={"alert": "pan_in_crm_payload", "connector": "webhook"},
            )
            raise CrmCallFailed(
                f"refused to send {kind} event {evt_id}: it contains what looks like a card number",
                retryable=False,
                crm_message="not sent: the payload contained a card number",
            )
        body = _json(event)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "crm-pay-webhook/1",
            SIGNATURE_HEADER: sign(body, self._secret, timestamp),
            EVENT_ID_HEADER: evt_id,
        }
        what = f"{kind} event {evt_id}"
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise CrmCallFailed(
                transport_failure_text("the webhook", what, exc, timeout=self.timeout)
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        # The receiver's words go to ``crm_message`` (delivery errors on the sync page),
        # never into the message itself, which Test connection shows.
        excerpt = answer_excerpt(response.text, _EXCERPT)
        if status in (401, 403):
            # The receiver refuses our signature or key: the admin fixes the secret, and
            # the events wait for it (never dead-lettered for this).
            raise CrmAuthFailed(
                f"the webhook refused our credentials (HTTP {status}) for {what}",
                crm_message=excerpt,
            )
        retryable = status >= 500 or status in _RETRYABLE_4XX
        raise CrmCallFailed(
            f"the webhook answered HTTP {status} to {what}",
            retryable=retryable,
            delay=retry_after(response) if retryable else None,
            crm_message=excerpt,
        )


def _json(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _money(name: str, money: Money) -> dict[str, Any]:
    # The exact decimal as text plus integer minor units: no float anywhere.
    return {name: _text(money), f"{name}_minor": money.minor, "currency": money.currency}


def _text(money: Money) -> str:
    return money.to_decimal_str()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
