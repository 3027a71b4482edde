"""Settlement as Braintree runs it: card transactions settle in a batch, with no webhook.

* A card sale submitted for settlement goes ``submitted_for_settlement -> settling ->
  settled`` when its batch runs (the timer, or :meth:`Settlement.run_batch` on demand);
  each step is kept in ``status_history``, which search's ``settled_at`` and friends read.
* No webhook is sent for cards: Braintree docs, "Webhooks > Transaction": "Transaction
  webhooks are available for ACH and SEPA Direct Debit Transaction: Sale and Transaction:
  Refund requests" (``transaction_settled``, ``transaction_settlement_declined``). The
  sandbox would send them only for those instruments, and it simulates none of them, so it
  never sends them by itself (a test may still ask for one with ``webhook_form``).
* Card sales never decline settlement by amount. Braintree docs, "Testing > Transaction
  amounts": 4001.00-4001.99 and 4003.00-5000.99 decline settlement "on certain transaction
  types", i.e. not card ones. Any transaction can still be made ``settlement_declined``
  the way Braintree's own tests do it, through the sandbox-only testing endpoints that the
  SDK's ``gateway.testing`` calls (``braintree/testing_gateway.py``):
  ``PUT transactions/{id}/settle``, ``/settlement_confirm``, ``/settlement_decline`` and
  ``/settlement_pending``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .records import fail, find_transaction, move
from .state import SandboxState, now_timestamp, parse_timestamp

__all__ = ["SETTLEMENT_WEBHOOK_INSTRUMENTS", "Settlement"]

EventSink = Callable[[str, str], None]
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: Instruments whose settlement Braintree announces by webhook (see the module docstring).
SETTLEMENT_WEBHOOK_INSTRUMENTS = frozenset({"us_bank_account", "sepa_debit_account"})

# Where the testing endpoints may start from. braintree_python tests/integration/
# test_transaction.py::test_transaction_settlement_errors: settling an authorized
# transaction fails with 91575 (CannotSimulateTransactionSettlement);
# test_test_helper.py: each helper works on a card sale submitted for settlement.
_IN_SETTLEMENT = ("submitted_for_settlement", "settling", "settlement_pending")
_CAN_DECLINE = (*_IN_SETTLEMENT, "settlement_confirmed", "settled")
_NOT_SIMULATED = "Cannot simulate transaction settlement unless status is submitted_for_settlement."


class Settlement:
    """Moves transactions through settlement; holds no state of its own."""

    def __init__(self, state: SandboxState, on_event: EventSink) -> None:
        self.state = state
        self.on_event = on_event

    def settle(self, transaction_id: str) -> dict[str, Any]:
        """``gateway.testing.settle_transaction``: straight to ``settled`` (via settling)."""
        with self.state.lock:
            transaction = self._in(transaction_id, _IN_SETTLEMENT)
            self._settle(transaction)
            self.state.save()
        self._announce(transaction, "transaction_settled")
        return transaction

    def confirm(self, transaction_id: str) -> dict[str, Any]:
        """``gateway.testing.settlement_confirm_transaction`` -> ``settlement_confirmed``."""
        with self.state.lock:
            transaction = self._in(transaction_id, _IN_SETTLEMENT)
            move(transaction, "settlement_confirmed")
            self.state.save()
        return transaction

    def decline(self, transaction_id: str) -> dict[str, Any]:
        """``gateway.testing.settlement_decline_transaction`` -> ``settlement_declined``.

        braintree_python test_transaction.py::test_transaction_returns_settlement_declined
        _response: processor settlement response 4001 "Settlement Declined". From
        ``settled`` too: Braintree docs (Webhooks > Transaction) note a settlement decline
        "may be triggered after the transaction_settled webhook".
        """
        with self.state.lock:
            transaction = self._in(transaction_id, _CAN_DECLINE)
            transaction.update(
                processor_settlement_response_code="4001",
                processor_settlement_response_text="Settlement Declined",
            )
            move(transaction, "settlement_declined")
            self.state.save()
        self._announce(transaction, "transaction_settlement_declined")
        return transaction

    def pending(self, transaction_id: str) -> dict[str, Any]:
        """``gateway.testing.settlement_pending_transaction`` -> ``settlement_pending``
        (test_transaction.py::test_transaction_returns_settlement_pending_response: 4002)."""
        with self.state.lock:
            transaction = self._in(transaction_id, ("submitted_for_settlement", "settling"))
            transaction.update(
                processor_settlement_response_code="4002",
                processor_settlement_response_text="Settlement Pending",
            )
            move(transaction, "settlement_pending")
            self.state.save()
        return transaction

    def run_batch(self, older_than: timedelta) -> list[str]:
        """Settle, as one batch, everything submitted for settlement before
        ``now - older_than``; returns the ids settled."""
        with self.state.lock:
            cutoff = parse_timestamp(now_timestamp()) - older_than
            batch = [
                t
                for t in self.state.transactions.values()
                if t["status"] in ("submitted_for_settlement", "settling")
                and parse_timestamp(t["updated_at"]) <= cutoff
            ]
            for transaction in batch:
                self._settle(transaction)
            if batch:
                self.state.save()
        for transaction in batch:
            self._announce(transaction, "transaction_settled")
        return [t["id"] for t in batch]

    def _in(self, transaction_id: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        transaction = find_transaction(self.state, transaction_id)
        if transaction["status"] not in allowed:
            raise fail("91575", "base", _NOT_SIMULATED)
        return transaction

    def _settle(self, transaction: dict[str, Any]) -> None:
        if transaction["status"] == "submitted_for_settlement":
            move(transaction, "settling")
        move(transaction, "settled")
        # braintree_python tests/integration/test_settlement_batch_summary.py reads the
        # batch's date as settlement_batch_id.split("_")[0]; the rest names the account.
        transaction["settlement_batch_id"] = (
            f"{now_timestamp()[:10]}_{transaction['merchant_account_id']}"
        )

    def batch_summary(
        self, settlement_date: Any, group_by_custom_field: Any = None
    ) -> list[dict[str, str]]:
        """``gateway.settlement_batch_summary.generate``: one record per merchant account,
        card type and kind (sale or credit) settled that day, with ``count`` and
        ``amount_settled`` as strings (braintree_python
        tests/integration/test_settlement_batch_summary.py; Braintree docs, "Settlement
        Batch Summary"). Errors 82301/82302/82303 from braintree/error_codes.py."""
        path = ("settlement_batch_summary",)
        if not settlement_date:
            raise fail("82301", "settlement_date", "Settlement Date is required", path)
        day = str(settlement_date).strip()
        if not _DAY.fullmatch(day):
            raise fail("82302", "settlement_date", "Settlement Date is invalid", path)
        if group_by_custom_field:
            # The sandbox keeps no custom fields, so every name is unknown to it.
            raise fail("82303", "group_by_custom_field", "Custom Field is invalid", path)
        groups: dict[tuple[str, str, str], list[Decimal]] = {}
        with self.state.lock:
            for transaction in self.state.transactions.values():
                batch = transaction.get("settlement_batch_id") or ""
                if batch.split("_")[0] != day or transaction["status"] != "settled":
                    continue
                key = (
                    transaction["merchant_account_id"],
                    transaction["credit_card"]["card_type"],
                    transaction["type"],
                )
                groups.setdefault(key, []).append(Decimal(transaction["amount"]))
        return [
            {
                "merchant_account_id": account,
                "card_type": card_type,
                "kind": kind,
                "count": str(len(amounts)),
                "amount_settled": str(sum(amounts, Decimal(0))),
            }
            for (account, card_type, kind), amounts in sorted(groups.items())
        ]

    def _announce(self, transaction: dict[str, Any], kind: str) -> None:
        if transaction.get("payment_instrument_type") in SETTLEMENT_WEBHOOK_INSTRUMENTS:
            self.on_event(kind, transaction["id"])
