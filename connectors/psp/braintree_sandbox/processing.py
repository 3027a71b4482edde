"""The simulated Braintree gateway: payment methods, sales, voids and refunds.

Pure bookkeeping over :class:`SandboxState`; HTTP and XML live in ``gateway_app``,
settlement in ``settlement``, disputes in ``disputes``. Error codes are Braintree's
(braintree_python ``braintree/error_codes.py``); each is named where it is raised.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .amounts import money, parse_amount
from .cards import (
    NOT_PROVIDED,
    Authorization,
    CardDetails,
    authorize,
    card_checks,
    card_fingerprint,
    refund_authorization,
    refund_decline_note,
)
from .disputes import Disputes
from .nonces import CONSUMED_NONCE, FAKE_NONCES
from .records import fail, find_transaction, move
from .settlement import Settlement
from .state import SandboxState, now_timestamp
from .three_d_secure_results import info_of, required_but_not_shifted
from .vaulting import store_in_vault, vault_wallet, wallet_of_sale
from .wallet_nonces import WALLET_NONCES, transaction_wallet_fields

__all__ = ["Processor"]

EventSink = Callable[[str, str], None]
_VOIDABLE = ("authorized", "submitted_for_settlement", "settlement_pending")
# Braintree docs, Transaction: Refund: "You can refund transactions that have a status
# of settled or settling."
_REFUNDABLE = ("settled", "settling")
_NOT_COUNTED = ("voided", "failed", "processor_declined", "settlement_declined")


class Processor:
    """Braintree's transaction rules, applied to the sandbox's state.

    ``merchant_accounts`` maps each merchant account id to its currency; a request that
    names no account uses ``default_merchant_account_id``, as Braintree uses the
    merchant's default account (docs, Transaction: Sale, ``merchantAccountId``).
    """

    def __init__(
        self,
        state: SandboxState,
        *,
        merchant_id: str,
        on_event: EventSink,
        merchant_accounts: Mapping[str, str] | None = None,
        default_merchant_account_id: str | None = None,
    ) -> None:
        self.state = state
        self.merchant_id = merchant_id
        self.on_event = on_event
        self.merchant_accounts = dict(merchant_accounts or {merchant_id: "USD"})
        self.default_merchant_account_id = default_merchant_account_id or next(
            iter(self.merchant_accounts)
        )
        if self.default_merchant_account_id not in self.merchant_accounts:
            raise ValueError("the default merchant account must be one of merchant_accounts")
        self.settlement = Settlement(state, on_event)
        self.disputes = Disputes(state, on_event)

    # -- merchant accounts -------------------------------------------------------------

    def merchant_account(self, requested: Any, path: tuple[str, ...]) -> tuple[str, str]:
        """``(merchant_account_id, currency)`` for a request; 91513 for an unknown id
        (``Transaction.MerchantAccountIdIsInvalid``)."""
        account = str(requested or "") or self.default_merchant_account_id
        currency = self.merchant_accounts.get(account)
        if currency is None:
            raise fail("91513", "merchant_account_id", "Merchant account ID is invalid.", path)
        return account, currency

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
            if nonce in WALLET_NONCES:
                return vault_wallet(self.state, nonce, customer_id)
            # PaymentMethod.PaymentMethodNonceConsumed / ...Unknown
            card = self._consume_nonce(nonce, ("payment_method",), ("93107", "93108"))
            token = self.state.unique_id(self.state.vault)
            # "3D Secure information is lost when a 3D Secured payment_method_nonce is used
            # in a ... PaymentMethod.create() call without a verify_card flag" (Braintree
            # docs, Applying 3DS to Transactions and Verifications).
            record = dict(
                card.to_dict(), token=token, customer_id=customer_id or "", three_d_secure=""
            )
            self.state.vault[token] = record
            self.state.save()
            return record

    def _consume_nonce(
        self, nonce: str, path: tuple[str, ...], codes: tuple[str, str]
    ) -> CardDetails:
        consumed_code, unknown_code = codes
        wallet = WALLET_NONCES.get(nonce)
        if wallet is not None:
            return wallet.card  # static, like the card nonces
        card = FAKE_NONCES.get(nonce)
        if card is not None:
            if card.outcome == "luhn_invalid":
                # Nonces.LuhnInvalid: the card number fails validation (CreditCard
                # NumberIsInvalid 81715), nested under the credit card.
                raise fail(
                    "81715", "number", "Credit card number is invalid.", (*path, "credit_card")
                )
            return card
        if nonce == CONSUMED_NONCE or nonce in self.state.consumed_nonces:
            raise fail(
                consumed_code,
                "payment_method_nonce",
                "Cannot use a payment_method_nonce more than once.",
                path,
            )
        stored = self.state.nonces.pop(nonce, None)
        if stored is None:
            raise fail(
                unknown_code,
                "payment_method_nonce",
                "Unknown or expired payment_method_nonce.",
                path,
            )
        self.state.consumed_nonces.add(nonce)
        return CardDetails.from_dict(stored)

    # -- 3-D Secure (the client API routes of three_d_secure.py) ------------------------

    def upgrade_nonce(
        self, nonce: str, check: Callable[[CardDetails], dict[str, Any]]
    ) -> tuple[str, CardDetails]:
        """A 3DS lookup: consume ``nonce`` and issue a new one carrying ``check(card)``,
        the lookup's 3DS info ("The original nonce passed into verifyCard was consumed.
        This new nonce should be used to transact": braintree-web verifyPayload docs)."""
        with self.state.lock:
            card = self._consume_nonce(nonce, ("payment_method",), ("93107", "93108"))
            card = dataclasses.replace(card, three_d_secure=json.dumps(check(card)))
            return self.issue_nonce(card), card

    def record_authentication(self, nonce: str, info: dict[str, Any]) -> CardDetails | None:
        """The challenge's result on the still unused nonce of its lookup (None: used)."""
        with self.state.lock:
            stored = self.state.nonces.get(nonce)
            if stored is None:
                return None
            stored["three_d_secure"] = json.dumps(info)
            self.state.save()
            return CardDetails.from_dict(stored)

    # -- transactions ----------------------------------------------------------------

    def sale(self, params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create a sale. Returns the transaction and whether it was successful."""
        if params.get("type", "sale") != "sale":
            # Transaction.TypeIsInvalid: credits are not simulated.
            raise fail("91523", "type", "Only sales are supported by the development sandbox.")
        account, currency = self.merchant_account(
            params.get("merchant_account_id"), ("transaction",)
        )
        amount = parse_amount(params.get("amount"), currency)
        assert amount is not None
        with self.state.lock:
            card = self._payment_method(params)
            wallet = wallet_of_sale(self.state, params)
            rejection = wallet.gateway_rejection_reason if wallet is not None else None
            if rejection:
                outcome = Authorization("gateway_rejected", 1000, "Approved", "approved", rejection)
            # 3-D Secure authenticates cards; a wallet's payment is authenticated by the
            # wallet (device cryptogram, PayPal/Venmo login), so the sandbox never
            # rejects a wallet sale for 3DS.
            elif wallet is None and required_but_not_shifted(card, params):
                # Gateway rejection reason "three_d_secure" (Transaction.
                # GatewayRejectionReason.ThreeDSecure); the processor is never asked.
                outcome = Authorization(
                    "gateway_rejected", 1000, "Approved", "approved", "three_d_secure"
                )
            else:
                outcome = authorize(amount, card)
            options = params.get("options") or {}
            status = outcome.status
            if status == "authorized" and options.get("submit_for_settlement") in (True, "true"):
                status = "submitted_for_settlement"
            transaction = self._new_transaction("sale", amount, card, params, account, currency)
            token = params.get("payment_method_token") or None
            if status in ("authorized", "submitted_for_settlement") and options.get(
                "store_in_vault_on_success"
            ) in (True, "true"):
                token = store_in_vault(self.state, params, card, wallet)
                transaction["customer_id"] = self.state.vault.get(token or "", {}).get(
                    "customer_id", transaction["customer_id"]
                )
            if wallet is not None:
                transaction.update(transaction_wallet_fields(wallet, token))
            elif token:
                transaction["credit_card"]["token"] = token
            transaction.update(
                processor_response_code=str(outcome.code),
                processor_response_text=outcome.text,
                processor_response_type=outcome.response_type,
                gateway_rejection_reason=outcome.gateway_rejection_reason,
                **card_checks(card, params, transaction["id"]),
            )
            if status == "submitted_for_settlement":
                move(transaction, "authorized")
            move(transaction, status)
            self.state.save()
        ok = status in ("authorized", "submitted_for_settlement")
        if ok and card.outcome == "dispute":
            self.disputes.open(transaction["id"])
        return transaction, ok

    def _payment_method(self, params: dict[str, Any]) -> CardDetails:
        nonce = params.get("payment_method_nonce")
        token = params.get("payment_method_token")
        if nonce:
            # Transaction.PaymentMethodNonceConsumed / ...Unknown
            return self._consume_nonce(nonce, ("transaction",), ("91564", "91565"))
        if token:
            record = self.state.vault.get(token)
            if record is None:
                raise fail("91518", "payment_method_token", "Payment method token is invalid.")
            # A card on file is charged without its CVV (it is never stored): "I".
            return dataclasses.replace(
                CardDetails.from_dict(record), cvv_response_code=NOT_PROVIDED
            )
        raise fail("91508", "base", "Cannot determine payment method.")

    def _new_transaction(
        self,
        kind: str,
        amount: Decimal,
        card: CardDetails,
        params: dict[str, Any],
        account: str,
        currency: str,
    ) -> dict[str, Any]:
        stamp = now_timestamp()
        card_fields = card.to_dict()
        for internal in (
            "outcome",
            "cvv_response_code",
            "avs_postal_code_response_code",
            "three_d_secure",
        ):
            card_fields.pop(internal)
        card_fields["unique_number_identifier"] = card_fingerprint(self.merchant_id, card)
        transaction: dict[str, Any] = {
            "id": self.state.unique_id(self.state.transactions),
            "type": kind,
            "status": "authorizing",
            "amount": money(amount, currency),
            "currency_iso_code": currency,
            "order_id": params.get("order_id") or None,
            "customer_id": params.get("customer_id") or None,
            "merchant_account_id": account,
            "transaction_source": params.get("transaction_source") or None,
            "payment_instrument_type": "credit_card",
            "created_at": stamp,
            "updated_at": stamp,
            "processor_response_code": None,
            "processor_response_text": None,
            "processor_response_type": None,
            "additional_processor_response": None,
            "processor_settlement_response_code": None,
            "processor_settlement_response_text": None,
            "gateway_rejection_reason": None,
            "credit_card": card_fields,
            "refund_ids": [],
            "refunded_transaction_id": None,
            "status_history": [],
            "dispute_ids": [],
            # the nonce's 3-D Secure info, rendered as <three-d-secure-info> (None: none)
            "three_d_secure_info": info_of(card) if kind == "sale" else None,
        }
        self.state.transactions[transaction["id"]] = transaction
        return transaction

    def find(self, transaction_id: str) -> dict[str, Any]:
        with self.state.lock:
            return find_transaction(self.state, transaction_id)

    def submit_for_settlement(self, transaction_id: str, raw_amount: Any = None) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.find(transaction_id)
            if transaction["status"] != "authorized":
                raise fail(  # Transaction.CannotSubmitForSettlement
                    "91507", "base", "Cannot submit for settlement unless status is authorized."
                )
            currency = transaction["currency_iso_code"]
            amount = parse_amount(raw_amount, currency, required=False)
            if amount is not None:
                if amount > Decimal(transaction["amount"]):
                    raise fail(  # Transaction.SettlementAmountIsTooLarge
                        "91522",
                        "amount",
                        "Settlement amount cannot be more than the authorized amount.",
                    )
                transaction["amount"] = money(amount, currency)
            move(transaction, "submitted_for_settlement")
            self.state.save()
            return transaction

    def void(self, transaction_id: str) -> dict[str, Any]:
        with self.state.lock:
            transaction = self.find(transaction_id)
            if transaction["status"] not in _VOIDABLE:
                raise fail(  # Transaction.CannotBeVoided
                    "91504",
                    "base",
                    "Transaction can only be voided if status is authorized, "
                    "submitted_for_settlement, or - for PayPal - settlement_pending.",
                )
            move(transaction, "voided")
            self.state.save()
            return transaction

    def refund(self, transaction_id: str, raw_amount: Any = None) -> tuple[dict[str, Any], bool]:
        """Refund a settled sale. Returns the credit and whether it succeeded: a refund in
        the processor-declined range with a hard-declined code is a declined credit
        (see ``cards.refund_authorization``)."""
        with self.state.lock:
            original = self.find(transaction_id)
            if original["type"] != "sale":
                raise fail("91505", "base", "Cannot refund credit")
            if original["status"] not in _REFUNDABLE:
                raise fail("91506", "base", "Cannot refund transaction unless it is settled.")
            currency = original["currency_iso_code"]
            remaining = Decimal(original["amount"]) - self.refunded_amount(original)
            if remaining <= 0:
                raise fail("91512", "base", "Transaction has already been fully refunded.")
            amount = parse_amount(raw_amount, currency, required=False) or remaining
            if amount > remaining:
                raise fail("91521", "amount", "Refund amount is too large.")
            card = CardDetails.from_dict(dict(original["credit_card"], outcome="approve"))
            credit = self._new_transaction(
                "credit",
                amount,
                card,
                {"order_id": original["order_id"], "customer_id": original["customer_id"]},
                original["merchant_account_id"],
                currency,
            )
            answer = refund_authorization(amount)
            credit.update(
                refunded_transaction_id=original["id"],
                processor_response_code=str(answer.code),
                processor_response_text=answer.text,
                processor_response_type=answer.response_type,
                additional_processor_response=refund_decline_note(amount),
            )
            if original.get("wallet"):  # a wallet's refund names the wallet too
                credit.update(
                    payment_instrument_type=original["payment_instrument_type"],
                    wallet=original["wallet"],
                    credit_card=original["credit_card"],
                )
            move(credit, answer.status)
            original["refund_ids"].append(credit["id"])
            original["updated_at"] = credit["created_at"]
            self.state.save()
            return credit, answer.status != "processor_declined"

    def refunded_amount(self, original: dict[str, Any]) -> Decimal:
        total = Decimal("0.00")
        for refund_id in original["refund_ids"]:
            refund = self.state.transactions[refund_id]
            if refund["status"] not in _NOT_COUNTED:
                total += Decimal(refund["amount"])
        return total

    # -- settlement (kept here for the server and older callers) -----------------------

    def settle(self, transaction_id: str) -> dict[str, Any]:
        return self.settlement.settle(transaction_id)

    def settle_due(self, older_than: timedelta) -> list[str]:
        return self.settlement.run_batch(older_than)
