"""``FakeGateway``: an in-memory payment service provider implementing
:class:`crm_pay.ports.PaymentGateway` (plus the optional ``SettlementSummaries``
capability, and ``DisputeGateway`` from :mod:`crm_pay.testing.fake_disputes`), for fast
service tests and for anyone writing a PSP adapter who wants a second, minimal
implementation of the port to compare with.

A neutral fake: it follows no vendor's wire format. Its outcome rules borrow the *shape*
of the usual PSP test conventions (amount ranges decide declines, special nonces decide
the card's fate) so tests read naturally:

- amount ``2000.00``–``2999.99`` or nonce ``fake-processor-declined*`` → a hard decline
  (category ``issuer_declined`` for ``2000.00``, ``card_not_usable`` otherwise);
- amount ``3000.00``–``3999.99`` or nonce ``fake-soft-declined*`` → a soft decline
  (category ``insufficient_funds``: the customer may try again with the same card);
- nonce ``fake-gateway-rejected*`` → rejected before reaching the issuer (kind
  ``gateway``);
- anything else → approved (``submitted_for_settlement``).

Failures of the PSP itself are scripted with :meth:`FakeGateway.fail_next`: ``"timeout"``
records the sale *and then* raises ``PspUnavailable`` (what a read timeout looks like:
money moved, the answer was lost), ``"down"`` raises without recording anything.

Every call is appended to :attr:`FakeGateway.calls` as ``(method, argument)`` so tests can
assert on what the PSP was asked. The fake keeps no card data beyond brand and last 4.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crm_pay.domain.errors import PspUnavailable, WebhookRejected
from crm_pay.domain.money import Money
from crm_pay.ports import (
    CardEntry,
    CardSummary,
    DeclineInfo,
    PspDispute,
    PspTransaction,
    PspTxnStatus,
    SaleOutcome,
    SaleRequest,
    SettlementBatchLine,
    ThreeDSecureResult,
    WebhookEnvelope,
    WebhookNotification,
    WebhookRequest,
)

from .fake_disputes import FakeDisputes

__all__ = ["FakeGateway", "FAKE_CARDS", "WEBHOOK_SECRET", "fake_psp"]

# What each nonce / vaulted token pays with (brand, last 4). Unknown nonces pay with a Visa.
FAKE_CARDS: dict[str, CardSummary] = {
    "fake-valid-nonce": CardSummary("Visa", "1111", "12", "2030", "411111"),
    "fake-valid-mastercard-nonce": CardSummary("MasterCard", "4444", "12", "2030", "555555"),
    "fake-valid-amex-nonce": CardSummary("American Express", "0005", "12", "2030", "378282"),
    # wallets, as the Braintree adapter reads its sandbox's wallet nonces
    "fake-apple-pay-visa-nonce": CardSummary(
        "Visa", "1881", "12", "2030", "401288", wallet="apple_pay"
    ),
    "fake-android-pay-visa-nonce": CardSummary(
        "Visa", "1111", "12", "2030", "401288", wallet="google_pay"
    ),
    "fake-paypal-one-time-nonce": CardSummary(
        "PayPal", "", wallet="paypal", account="p***@example.com"
    ),
    "fake-venmo-account-nonce": CardSummary("Venmo", "", wallet="venmo", account="@venmojoe"),
}

# Nonces whose bank check (3-D Secure) ran, as Braintree's static 3DS nonces of the same
# name give it (braintree/test/nonces.py).
FAKE_THREE_D_SECURE: dict[str, ThreeDSecureResult] = {
    "fake-three-d-secure-visa-full-authentication-nonce": ThreeDSecureResult(
        "authenticate_successful", True, True, "2.2.0"
    ),
    "fake-three-d-secure-visa-failed-authentication-nonce": ThreeDSecureResult(
        "authenticate_failed", False, True, "2.2.0"
    ),
}

WEBHOOK_SECRET = b"fake-gateway-webhook-secret"

_SETTLED_STATES = (PspTxnStatus.SETTLED, PspTxnStatus.SETTLING)
_REFUNDABLE = (PspTxnStatus.SETTLED, PspTxnStatus.SETTLING)
_VOIDABLE = (PspTxnStatus.AUTHORIZED, PspTxnStatus.SUBMITTED_FOR_SETTLEMENT)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Record:
    txn: PspTransaction
    request_key: str


class FakeGateway(FakeDisputes):
    """An in-memory PSP (see the module docstring for its outcome rules).

    ``clock`` stamps transactions (pass the test's :class:`~crm_pay.testing.Clock` so the
    janitor's search windows line up); ``currencies`` are the merchant's accounts."""

    name = "fake"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utcnow,
        currencies: Sequence[str] = ("USD", "EUR"),
        card_entry: CardEntry | None = None,
    ) -> None:
        self.clock = clock
        # What the pay page loads for this PSP: by default nothing (no hosted fields,
        # the nonce comes from the test); a test may declare scripts to see them used.
        self.hosted_fields = card_entry or CardEntry()
        self._currencies = tuple(currencies)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._txns: dict[str, _Record] = {}
        self._by_key: dict[str, str] = {}
        self._faults: list[str] = []
        self.calls: list[tuple[str, Any]] = []
        # search() hides transactions younger than this many seconds: a PSP's search
        # index lags new sales (the janitor's reason for its unknown window).
        self.search_lag_seconds = 0.0
        # payment methods kept by ``store_in_vault`` sales: token -> what it pays with
        self.vaulted: dict[str, CardSummary] = {}

    # ----------------------------------------------------------------- test controls
    def fail_next(self, kind: str = "timeout", count: int = 1) -> None:
        """Make the next ``count`` calls fail. ``"timeout"``: the call takes effect, then
        ``PspUnavailable`` is raised (outcome unknown to the caller); ``"down"``: raises
        before anything happens."""
        if kind not in ("timeout", "down"):
            raise ValueError(f"unknown fault {kind!r}: use 'timeout' or 'down'")
        self._faults.extend([kind] * count)

    def settle(self, transaction_id: str | None = None) -> list[str]:
        """Settle one transaction, or every one submitted for settlement (what the PSP's
        nightly batch does); returns the ids settled."""
        done = []
        with self._lock:
            for rec in self._txns.values():
                t = rec.txn
                if transaction_id is not None and t.id != transaction_id:
                    continue
                if t.status in (PspTxnStatus.SUBMITTED_FOR_SETTLEMENT, PspTxnStatus.SETTLING):
                    rec.txn = replace(t, status=PspTxnStatus.SETTLED, updated_at=self.clock())
                    done.append(t.id)
        return done

    def set_status(self, transaction_id: str, status: PspTxnStatus) -> PspTransaction:
        """Force a transaction's status (e.g. ``SETTLEMENT_DECLINED``) for a test."""
        with self._lock:
            rec = self._txns[transaction_id]
            rec.txn = replace(rec.txn, status=status, updated_at=self.clock())
            return rec.txn

    def transactions(self, kind: str | None = None) -> list[PspTransaction]:
        """Every transaction the fake holds (optionally only ``"sale"`` or ``"credit"``)."""
        return [r.txn for r in self._txns.values() if kind is None or r.txn.kind == kind]

    def calls_to(self, method: str) -> list[Any]:
        """The arguments of every call to ``method``, in order."""
        return [arg for name, arg in self.calls if name == method]

    def signed_webhook(self, notification: dict[str, Any]) -> WebhookEnvelope:
        """A notice as this fake PSP would post it: a JSON payload and its HMAC. The dict
        holds ``kind``, ``subject_id`` and optionally ``transaction_id``, ``dispute_id``
        (with ``dispute_status``, ``dispute_kind``, ``reason``), ``amount`` and
        ``currency``, ``timestamp`` (ISO 8601)."""
        payload = json.dumps(notification, sort_keys=True)
        return WebhookEnvelope(signature=self._sign(payload), payload=payload)

    # ----------------------------------------------------------------- the port
    @property
    def currencies(self) -> Sequence[str]:
        return self._currencies

    def card_entry(self) -> CardEntry:
        """No hosted fields by default: nothing beyond our origin for the pay page (a
        test may set :attr:`hosted_fields`)."""
        return self.hosted_fields

    def client_token(self, *, currency: str | None = None) -> str:
        self._record("client_token", currency)
        return f"fake-client-token-{currency or self._currencies[0]}"

    def sale(self, request: SaleRequest) -> SaleOutcome:
        fault = self._record("sale", request)
        if fault == "down":
            raise PspUnavailable("fake PSP unreachable")
        with self._lock:
            existing = self._by_key.get(request.request_key)
            if existing is not None:
                # A repeat of a request key answers with the first sale, like PSPs that
                # honour idempotency keys do.
                outcome = self._outcome_of(self._txns[existing].txn)
            else:
                outcome = self._new_sale(request)
        if fault == "timeout":
            raise PspUnavailable("fake PSP timed out (the sale was recorded)")
        return outcome

    def submit_for_settlement(
        self, transaction_id: str, amount: Money | None = None
    ) -> SaleOutcome:
        self._fault_or_none("submit_for_settlement", (transaction_id, amount))
        with self._lock:
            rec = self._txns[transaction_id]
            if rec.txn.status is not PspTxnStatus.AUTHORIZED:
                return self._refused(rec.txn, "cannot submit: not authorized")
            rec.txn = replace(
                rec.txn,
                status=PspTxnStatus.SUBMITTED_FOR_SETTLEMENT,
                amount=amount or rec.txn.amount,
                updated_at=self.clock(),
            )
            return SaleOutcome(approved=True, transaction=rec.txn)

    def void(self, transaction_id: str) -> SaleOutcome:
        self._fault_or_none("void", transaction_id)
        with self._lock:
            rec = self._txns.get(transaction_id)
            if rec is None:
                return SaleOutcome(approved=False, decline=_validation("not found"))
            if rec.txn.status not in _VOIDABLE:
                return self._refused(rec.txn, "cannot void: already settling or settled")
            rec.txn = replace(rec.txn, status=PspTxnStatus.VOIDED, updated_at=self.clock())
            return SaleOutcome(approved=True, transaction=rec.txn)

    def refund(self, transaction_id: str, amount: Money | None, *, request_key: str) -> SaleOutcome:
        fault = self._record("refund", (transaction_id, amount, request_key))
        if fault == "down":
            raise PspUnavailable("fake PSP unreachable")
        with self._lock:
            existing = self._by_key.get(request_key)
            if existing is not None:
                outcome = SaleOutcome(approved=True, transaction=self._txns[existing].txn)
            else:
                outcome = self._new_refund(transaction_id, amount, request_key)
        if fault == "timeout":
            raise PspUnavailable("fake PSP timed out (the refund was recorded)")
        return outcome

    def find(self, transaction_id: str) -> PspTransaction | None:
        self._fault_or_none("find", transaction_id)
        rec = self._txns.get(transaction_id)
        return rec.txn if rec else None

    def find_by_order_id(self, order_id: str) -> Sequence[PspTransaction]:
        self._fault_or_none("find_by_order_id", order_id)
        return [r.txn for r in self._txns.values() if r.txn.order_id == order_id]

    def find_many(
        self, transaction_ids: Sequence[str], *, statuses: Sequence[PspTxnStatus] = ()
    ) -> Sequence[PspTransaction]:
        self._fault_or_none("find_many", (tuple(transaction_ids), tuple(statuses)))
        found = [self._txns[i].txn for i in transaction_ids if i in self._txns]
        return [t for t in found if not statuses or t.status in statuses]

    def search(self, start: datetime, end: datetime) -> Sequence[PspTransaction]:
        self._fault_or_none("search", (start, end))
        now = self.clock()
        return [
            r.txn
            for r in self._txns.values()
            if r.txn.created_at is not None
            and start <= r.txn.created_at <= end
            and (now - r.txn.created_at).total_seconds() >= self.search_lag_seconds
        ]

    def settlement_summary(self, day: date) -> Sequence[SettlementBatchLine]:
        """What settled on ``day`` (by ``updated_at``), summed by card brand and kind."""
        self._record("settlement_summary", day)
        sums: dict[tuple[str, str, str], list[Any]] = {}
        for r in self._txns.values():
            t = r.txn
            if t.status not in _SETTLED_STATES or (t.updated_at or t.created_at) is None:
                continue
            if (t.updated_at or t.created_at).date() != day:  # type: ignore[union-attr]
                continue
            key = (t.merchant_account_id or "", t.card.brand if t.card else "", t.kind)
            entry = sums.setdefault(key, [0, Money.zero(t.amount.currency)])
            entry[0] += 1
            entry[1] = entry[1] + t.amount
        return [
            SettlementBatchLine(
                merchant_account_id=k[0], card_type=k[1], kind=k[2], count=c, amount=a
            )
            for k, (c, a) in sorted(sums.items())
        ]

    def webhook_envelope(self, request: WebhookRequest) -> WebhookEnvelope:
        signature = request.headers.get("x-fake-signature", "")
        payload = request.body.decode("utf-8", "replace")
        if not signature or not payload:
            raise WebhookRejected("missing signature or payload")
        return WebhookEnvelope(signature=signature, payload=payload)

    def webhook_documents(self, envelope: WebhookEnvelope) -> Sequence[str]:
        return [envelope.payload]

    def parse_webhook(self, signature: str, payload: str) -> WebhookNotification:
        self._record("parse_webhook", payload)
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise WebhookRejected("signature does not match")
        data = json.loads(payload)
        stamp = datetime.fromisoformat(data["timestamp"]) if data.get("timestamp") else self.clock()
        txn_id = data.get("transaction_id")
        txn = self._txns[txn_id].txn if txn_id in self._txns else None
        amount = (
            Money.parse(str(data["amount"]), data.get("currency", "USD"))
            if data.get("amount")
            else None
        )
        subject = data.get("subject_id") or data.get("dispute_id") or txn_id or ""
        dispute = (
            PspDispute(
                id=data["dispute_id"],
                status=data.get("dispute_status", "open"),
                kind=data.get("dispute_kind", "chargeback"),
                reason=data.get("reason", "fraud"),
                amount=amount,
                transaction_id=txn_id,
                transaction_amount=txn.amount if txn else None,
                order_id=txn.order_id if txn else None,
                received_on=stamp.date(),
                updated_at=stamp,
            )
            if data.get("dispute_id")
            else None
        )
        return WebhookNotification(
            kind=data["kind"],
            event_id=f"{data['kind']}:{subject}:{stamp.isoformat()}",
            timestamp=stamp,
            transaction=txn,
            dispute_id=data.get("dispute_id"),
            dispute_amount=amount if data.get("dispute_id") else None,
            subject_id=subject,
            transaction_id=txn_id,
            dispute=dispute,
        )

    # ----------------------------------------------------------------- internals
    def _sign(self, payload: str) -> str:
        return hmac.new(WEBHOOK_SECRET, payload.encode(), hashlib.sha256).hexdigest()

    def _record(self, method: str, arg: Any) -> str | None:
        self.calls.append((method, arg))
        return self._faults.pop(0) if self._faults else None

    def _fault_or_none(self, method: str, arg: Any) -> None:
        """Reads and idempotent writes: any scripted fault raises before anything."""
        if self._record(method, arg) is not None:
            raise PspUnavailable(f"fake PSP unavailable ({method})")

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _new_sale(self, request: SaleRequest) -> SaleOutcome:
        source = request.payment_method_nonce or request.payment_method_token or ""
        card = self.vaulted.get(source) or FAKE_CARDS.get(
            source, CardSummary("Visa", "1111", "12", "2030", "411111")
        )
        decline = _decline_for(request.amount, source)
        check = FAKE_THREE_D_SECURE.get(source)
        if (
            decline is None
            and request.three_d_secure_required
            and request.transaction_source != "moto"
            and not (check and check.liability_shifted)
        ):
            # as Braintree with options.three_d_secure.required: gateway-rejected
            decline = DeclineInfo(
                kind="gateway", code="three_d_secure", category="authentication_failed"
            )
        if decline is None and request.store_in_vault and not request.payment_method_token:
            # kept only on success, as Braintree's store_in_vault_on_success
            card = replace(card, vault_token=self._next_id("vt"))
            self.vaulted[card.vault_token or ""] = card
        if decline is None:
            status = (
                PspTxnStatus.SUBMITTED_FOR_SETTLEMENT
                if request.submit_for_settlement
                else PspTxnStatus.AUTHORIZED
            )
        elif decline.kind == "gateway":
            status = PspTxnStatus.GATEWAY_REJECTED
        else:
            status = PspTxnStatus.PROCESSOR_DECLINED
        now = self.clock()
        txn = PspTransaction(
            id=self._next_id("fk"),
            status=status,
            amount=request.amount,
            order_id=request.order_id,
            kind="sale",
            card=card,
            created_at=now,
            updated_at=now,
            processor_response_code=decline.code if decline else "1000",
            merchant_account_id=f"fake_{request.amount.currency.lower()}",
            decline=decline,
            three_d_secure=check,
        )
        self._txns[txn.id] = _Record(txn, request.request_key)
        self._by_key[request.request_key] = txn.id
        return self._outcome_of(txn)

    def _new_refund(
        self, transaction_id: str, amount: Money | None, request_key: str
    ) -> SaleOutcome:
        rec = self._txns.get(transaction_id)
        if rec is None:
            return SaleOutcome(approved=False, decline=_validation("transaction not found"))
        sale = rec.txn
        if sale.status not in _REFUNDABLE:
            return self._refused(sale, "cannot refund: not settled (void it instead)")
        refunded = sum(
            (
                r.txn.amount.minor
                for r in self._txns.values()
                if r.txn.refunded_transaction_id == transaction_id
            ),
            0,
        )
        wanted = amount or Money(sale.amount.minor - refunded, sale.amount.currency)
        if wanted.minor <= 0 or refunded + wanted.minor > sale.amount.minor:
            return self._refused(sale, "refund amount is too large")
        now = self.clock()
        credit = PspTransaction(
            id=self._next_id("rf"),
            status=PspTxnStatus.SUBMITTED_FOR_SETTLEMENT,
            amount=wanted,
            order_id=sale.order_id,
            kind="credit",
            card=sale.card,
            created_at=now,
            updated_at=now,
            refunded_transaction_id=transaction_id,
            merchant_account_id=sale.merchant_account_id,
        )
        self._txns[credit.id] = _Record(credit, request_key)
        self._by_key[request_key] = credit.id
        return SaleOutcome(approved=True, transaction=credit)

    @staticmethod
    def _outcome_of(txn: PspTransaction) -> SaleOutcome:
        if txn.decline is None:
            return SaleOutcome(approved=True, transaction=txn)
        return SaleOutcome(approved=False, transaction=txn, decline=txn.decline)

    @staticmethod
    def _refused(txn: PspTransaction, text: str) -> SaleOutcome:
        return SaleOutcome(approved=False, transaction=txn, decline=_validation(text))


def _validation(text: str) -> DeclineInfo:
    return DeclineInfo(kind="validation", code="91500", raw_text=text)


def _decline_for(amount: Money, source: str) -> DeclineInfo | None:
    """The fake's outcome rules (module docstring); None means approved."""
    value = Decimal(amount.minor) / 100
    if source.startswith("fake-gateway-rejected"):
        return DeclineInfo(kind="gateway", code="fraud", category="not_approved")
    if source.startswith("fake-processor-declined") or Decimal(2000) <= value < Decimal(3000):
        if value == Decimal(2000) or source.startswith("fake-processor-declined"):
            return DeclineInfo(
                kind="processor", code="2000", raw_text="Do Not Honor", category="issuer_declined"
            )
        return DeclineInfo(
            kind="processor", code="2004", raw_text="Card not usable", category="card_not_usable"
        )
    if source.startswith("fake-soft-declined") or Decimal(3000) <= value < Decimal(4000):
        return DeclineInfo(
            kind="processor",
            code="2001",
            raw_text="Insufficient Funds",
            category="insufficient_funds",
        )
    return None


def fake_psp(
    config: Mapping[str, Any], *, instance_path: str, secret: Callable[[str], str | None]
) -> FakeGateway:
    """The wiring factory behind ``CRM_PAY_PSP=fake`` (crm_pay/wiring.py): a whole app
    on the in-memory PSP, no Braintree code involved. Reach the instance through
    ``ctx.psp.wrapped_adapter`` to settle or script faults."""
    return FakeGateway()
