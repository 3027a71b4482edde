"""The simulated Braintree gateway: sales, settlement, voids, refunds, search, disputes.

Pure bookkeeping over :class:`SandboxState`; HTTP and XML live in ``gateway_app``.
Amounts are exact decimal strings with two places, as the real gateway renders them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .cards import CONSUMED_NONCE, FAKE_NONCES, CardDetails, authorize, settlement_declines
from .state import SandboxState, now_timestamp, parse_timestamp

EventSink = Callable[[str, str], None]
_AMOUNT = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
_VOIDABLE = ("authorized", "submitted_for_settlement", "settlement_pending")
_SETTLEABLE = ("submitted_for_settlement", "settling", "settlement_pending")
_REFUNDABLE = ("settled", "settling")


@dataclass(frozen=True)
class FieldError:
    """One ``<error>`` of an ``api-error-response``, nested under ``path``."""

    code: str
    attribute: str
    message: str
    path: tuple[str, ...] = ("transaction",)


class ValidationFailure(Exception):
    """Braintree answers with an ``api-error-response`` (HTTP 422)."""

    def __init__(self, *errors: FieldError) -> None:
        super().__init__(" ".join(error.message for error in errors))
        self.errors = errors


class TransactionNotFound(LookupError):
    """No such transaction or dispute (HTTP 404)."""


class UnsupportedSearch(ValueError):
    """The search uses a criterion the development sandbox does not implement."""


def _fail(code: str, attribute: str, message: str) -> ValidationFailure:
    return ValidationFailure(FieldError(code, attribute, message))


def parse_amount(raw: Any, *, required: bool = True) -> Decimal | None:
    """Read a gateway amount exactly, refusing what Braintree refuses."""
    if raw is None or raw == "":
        if required:
            raise _fail("81502", "amount", "Amount is required.")
        return None
    text = str(raw).strip()
    if not _AMOUNT.match(text):
        raise _fail("81503", "amount", "Amount is an invalid format.")
    amount = Decimal(text).quantize(Decimal("0.01"))
    if amount <= 0:
        raise _fail("81531", "amount", "Amount must be greater than zero.")
    return amount


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


class Processor:
    """Braintree's transaction rules, applied to the sandbox's state."""

    def __init__(self, state: SandboxState, *, merchant_id: str, on_event: EventSink) -> None:
        self.state = state
        self.merchant_id = merchant_id
        self.on_event = on_event

    # -- payment methods -------------------------------------------------------------

    def issue_nonce(self, card: CardDetails) -> str:
        """A single-use nonce for a tokenized card (only BIN/last 4/brand/expiry kept)."""
        with self.state.lock:
            nonce = "tokencc_sb_" + self.state.unique_id(self.state.nonces) + "_" + card.last_4
            self.state.nonces[nonce] = card.to_dict()
            self.state.save()
        return nonce

    def vault_nonce(self, nonce: str, customer_id: str | None) -> dict[str, Any]:
        """Turn a nonce into a reusable token (``POST payment_methods``)."""
        with self.state.lock:
            card = self._consume_nonce(nonce, path=("payment_method",), consumed_code="93107")
            token = self.state.unique_id(self.state.vault)
            record = dict(card.to_dict(), token=token, customer_id=customer_id or "")
            self.state.vault[token] = record
            self.state.save()
            return record

    def _consume_nonce(
        self, nonce: str, *, path: tuple[str, ...], consumed_code: str
    ) -> CardDetails:
        if nonce in FAKE_NONCES:
            return FAKE_NONCES[nonce]
        if nonce == CONSUMED_NONCE or nonce in self.state.consumed_nonces:
            raise ValidationFailure(
                FieldError(
                    consumed_code,
                    "payment_method_nonce",
                    "Cannot use a payment_method_nonce more than once.",
                    path,
                )
            )
        card = self.state.nonces.pop(nonce, None)
        if card is None:
            raise ValidationFailure(
                FieldError(
                    "91565",
                    "payment_method_nonce",
                    "Unknown or expired payment_method_nonce.",
                    path,
                )
            )
        self.state.consumed_nonces.add(nonce)
        return CardDetails.from_dict(card)

    # -- transactions ----------------------------------------------------------------

    def sale(self, params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create a sale. Returns the transaction and whether it was successful."""
        kind = params.get("type", "sale")
        if kind != "sale":
            raise _fail("91522", "type", "Only sales are supported by the development sandbox.")
        amount = parse_amount(params.get("amount"))
        assert amount is not None
        with self.state.lock:
            card = self._payment_method(params)
            outcome = authorize(amount, card)
            options = params.get("options") or {}
            status = outcome.status
            if status == "authorized" and options.get("submit_for_settlement") in (True, "true"):
                status = "submitted_for_settlement"
            transaction = self._new_transaction("sale", amount, card, params)
            transaction.update(
                processor_response_code=str(outcome.code),
                processor_response_text=outcome.text,
                processor_response_type=outcome.response_type,
                gateway_rejection_reason=outcome.gateway_rejection_reason,
            )
            if status == "submitted_for_settlement":
                self._move(transaction, "authorized")
            self._move(transaction, status)
            self.state.save()
            return transaction, status in ("authorized", "submitted_for_settlement")

    def _payment_method(self, params: dict[str, Any]) -> CardDetails:
        nonce = params.get("payment_method_nonce")
        token = params.get("payment_method_token")
        if nonce:
            return self._consume_nonce(nonce, path=("transaction",), consumed_code="93107")
        if token:
            record = self.state.vault.get(token)
            if record is None:
                raise _fail("91518", "payment_method_token", "Payment method token is invalid.")
            return CardDetails.from_dict(record)
        raise _fail("91508", "base", "Cannot determine payment method.")

    def _new_transaction(
        self, kind: str, amount: Decimal, card: CardDetails, params: dict[str, Any]
    ) -> dict[str, Any]:
        stamp = now_timestamp()
        transaction: dict[str, Any] = {
            "id": self.state.unique_id(self.state.transactions),
            "type": kind,
            "status": "authorizing",
            "amount": money(amount),
            "currency_iso_code": "USD",
            "order_id": params.get("order_id") or None,
            "customer_id": params.get("customer_id") or None,
            "merchant_account_id": params.get("merchant_account_id") or self.merchant_id,
            "transaction_source": params.get("transaction_source") or None,
            "created_at": stamp,
            "updated_at": stamp,
            "processor_response_code": None,
            "processor_response_text": None,
            "processor_response_type": None,
            "gateway_rejection_reason": None,
            "credit_card": card.to_dict(),
            "refund_ids": [],
            "refunded_transaction_id": None,
            "status_history": [],
            "dispute_ids": [],
        }
        transaction["credit_card"].pop("outcome")
        self.state.transactions[transaction["id"]] = transaction
        return transaction

    def _move(self, transaction: dict[str, Any], status: str) -> None:
        stamp = now_timestamp()
        transaction["status"] = status
        transaction["updated_at"] = stamp
        transaction["status_history"].append(
            {
                "amount": transaction["amount"],
                "status": status,
                "timestamp": stamp,
                "transaction_source": transaction.get("transaction_source") or "api",
                "user": "sandbox",
            }
        )

    def find(self, transaction_id: str) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.state.transactions.get(transaction_id)
            if transaction is None:
                raise TransactionNotFound(transaction_id)
            return transaction

    def submit_for_settlement(self, transaction_id: str, raw_amount: Any = None) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.find(transaction_id)
            if transaction["status"] != "authorized":
                raise _fail(
                    "91507",
                    "base",
                    "Cannot submit for settlement unless status is authorized.",
                )
            amount = parse_amount(raw_amount, required=False)
            if amount is not None:
                if amount > Decimal(transaction["amount"]):
                    raise _fail(
                        "91522",
                        "amount",
                        "Settlement amount cannot be more than the authorized amount.",
                    )
                transaction["amount"] = money(amount)
            self._move(transaction, "submitted_for_settlement")
            self.state.save()
            return transaction

    def settle(self, transaction_id: str) -> dict[str, Any]:
        """Braintree's sandbox-only settlement (``PUT transactions/{id}/settle``)."""
        with self.state.lock:
            transaction = self.find(transaction_id)
            if transaction["status"] not in _SETTLEABLE:
                raise _fail(
                    "91575",
                    "base",
                    "Cannot simulate settlement unless status is submitted_for_settlement.",
                )
            declined = transaction["type"] == "sale" and settlement_declines(
                Decimal(transaction["amount"])
            )
            self._move(transaction, "settlement_declined" if declined else "settled")
            self.state.save()
        kind = "transaction_settlement_declined" if declined else "transaction_settled"
        self.on_event(kind, transaction_id)
        return transaction

    def void(self, transaction_id: str) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.find(transaction_id)
            if transaction["status"] not in _VOIDABLE:
                raise _fail(
                    "91504",
                    "base",
                    "Transaction can only be voided if status is authorized, "
                    "submitted_for_settlement, or - for PayPal - settlement_pending.",
                )
            self._move(transaction, "voided")
            self.state.save()
            return transaction

    def refund(self, transaction_id: str, raw_amount: Any = None) -> dict[str, Any]:
        with self.state.lock:
            original = self.find(transaction_id)
            if original["type"] != "sale":
                raise _fail("91505", "base", "Cannot refund credit")
            if original["status"] not in _REFUNDABLE:
                raise _fail("91506", "base", "Cannot refund transaction unless it is settled.")
            remaining = Decimal(original["amount"]) - self.refunded_amount(original)
            if remaining <= 0:
                raise _fail("91512", "base", "Transaction has already been fully refunded.")
            amount = parse_amount(raw_amount, required=False) or remaining
            if amount > remaining:
                raise _fail("91521", "amount", "Refund amount is too large.")
            card = CardDetails.from_dict(dict(original["credit_card"], outcome="approve"))
            credit = self._new_transaction(
                "credit", amount, card, {"order_id": original["order_id"]}
            )
            credit.update(
                refunded_transaction_id=original["id"],
                processor_response_code="1002",
                processor_response_text="Processed",
                processor_response_type="approved",
                merchant_account_id=original["merchant_account_id"],
                customer_id=original["customer_id"],
            )
            self._move(credit, "submitted_for_settlement")
            original["refund_ids"].append(credit["id"])
            original["updated_at"] = credit["created_at"]
            self.state.save()
            return credit

    def refunded_amount(self, original: dict[str, Any]) -> Decimal:
        total = Decimal("0.00")
        for refund_id in original["refund_ids"]:
            refund = self.state.transactions[refund_id]
            if refund["status"] not in ("voided", "failed", "processor_declined"):
                total += Decimal(refund["amount"])
        return total

    def settle_due(self, older_than: timedelta) -> list[str]:
        """Settle every transaction submitted for settlement before ``now - older_than``."""
        with self.state.lock:
            cutoff = parse_timestamp(now_timestamp()) - older_than
            due = [
                t["id"]
                for t in self.state.transactions.values()
                if t["status"] in _SETTLEABLE and parse_timestamp(t["updated_at"]) <= cutoff
            ]
        for transaction_id in due:
            self.settle(transaction_id)
        return due

    # -- disputes --------------------------------------------------------------------

    def open_dispute(self, transaction_id: str, raw_amount: Any = None) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.find(transaction_id)
            amount = parse_amount(raw_amount, required=False) or Decimal(transaction["amount"])
            stamp = now_timestamp()
            dispute = {
                "id": self.state.unique_id(self.state.disputes),
                "transaction_id": transaction_id,
                "amount": money(amount),
                "amount_disputed": money(amount),
                "amount_won": "0.00",
                "currency_iso_code": transaction["currency_iso_code"],
                "kind": "chargeback",
                "reason": "fraud",
                "status": "open",
                "case_number": "SB-" + self.state.unique_id(self.state.disputes).upper(),
                "merchant_account_id": transaction["merchant_account_id"],
                "created_at": stamp,
                "updated_at": stamp,
                "received_date": stamp[:10],
                "reply_by_date": (parse_timestamp(stamp) + timedelta(days=7)).date().isoformat(),
                "status_history": [{"status": "open", "timestamp": stamp}],
            }
            self.state.disputes[dispute["id"]] = dispute
            transaction["dispute_ids"].append(dispute["id"])
            self.state.save()
        self.on_event("dispute_opened", dispute["id"])
        return dispute

    def resolve_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        if outcome not in ("won", "lost"):
            raise ValueError("outcome must be 'won' or 'lost'")
        with self.state.lock:
            dispute = self.state.disputes.get(dispute_id)
            if dispute is None:
                raise TransactionNotFound(dispute_id)
            stamp = now_timestamp()
            dispute["status"] = outcome
            dispute["updated_at"] = stamp
            dispute["amount_won"] = dispute["amount_disputed"] if outcome == "won" else "0.00"
            dispute["status_history"].append({"status": outcome, "timestamp": stamp})
            self.state.save()
        self.on_event("dispute_" + outcome, dispute_id)
        return dispute
