"""Braintree as crm-pay's payment gateway, through the official ``braintree`` SDK.

Each :class:`BraintreeGateway` owns one ``braintree.BraintreeGateway`` built from its own
``braintree.Configuration``; the SDK's process-global configuration is never touched, so
several merchants (or the sandbox and production) can live in one process.

Expected declines come back as values (``SaleOutcome(approved=False, ...)``); anything
that leaves the outcome unknown raises ``PspUnavailable`` and anything we cannot trust
(an answer we cannot read, an amount or currency other than the one we asked for)
raises ``PspProtocolError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from xml.parsers.expat import ExpatError

import braintree
from braintree import exceptions as bt_errors

from crm_pay.domain.errors import ConfigurationError, NotFound, ValidationError, WebhookRejected
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.ports import PspTransaction, SaleOutcome, SaleRequest, WebhookNotification

from .braintree_http import RecordingHttp, local_environment, parse_environment, translate_errors
from .braintree_mapping import (
    notification_from_sdk,
    outcome_from_result,
    transaction_from_sdk,
    utc,
)

__all__ = ["BraintreeGateway"]

# What a verified-but-broken webhook payload raises inside the SDK.
_UNDECODABLE = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError)


class BraintreeGateway:
    """A :class:`crm_pay.ports.PaymentGateway` backed by Braintree.

    :param merchant_id: the Braintree merchant id.
    :param public_key: API public key.
    :param private_key: API private key (also verifies webhook signatures).
    :param environment: ``"sandbox"``, ``"production"`` or a ``braintree.Environment``
        (see :meth:`for_local_sandbox` for the embedded sandbox).
    :param merchant_account_id: the merchant account to charge; it decides the
        settlement currency. ``None`` uses the merchant's default account.
    :param currency: the ISO 4217 currency of that merchant account. Braintree has no
        per-transaction currency, so a sale in any other currency is refused up front.
    :param timeout: seconds to wait for Braintree (connect and each read).
    """

    name: ClassVar[str] = "braintree"

    def __init__(
        self,
        *,
        merchant_id: str,
        public_key: str,
        private_key: str,
        environment: str | braintree.Environment,
        merchant_account_id: str | None = None,
        currency: str = "USD",
        timeout: float = 20.0,
    ) -> None:
        for label, value in (
            ("merchant_id", merchant_id),
            ("public_key", public_key),
            ("private_key", private_key),
        ):
            if not value:
                raise ConfigurationError(
                    f"Braintree {label} is empty; copy it from the Braintree control panel "
                    "(Settings > API)"
                )
        if timeout <= 0:
            raise ConfigurationError("Braintree timeout must be a positive number of seconds")
        self.merchant_account_id = merchant_account_id or None
        try:
            self.currency = normalize_currency(currency)
        except ValidationError as exc:
            raise ConfigurationError(f"Braintree currency: {exc.message}") from None
        config = braintree.Configuration(
            environment=parse_environment(environment),
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            timeout=timeout,
            wrap_http_exceptions=True,
            http_strategy=RecordingHttp,
        )
        self._http: RecordingHttp = config.http_strategy()
        self._gateway = braintree.BraintreeGateway(config)

    @classmethod
    def for_local_sandbox(
        cls,
        gateway_url: str,
        *,
        merchant_id: str,
        public_key: str,
        private_key: str,
        merchant_account_id: str | None = None,
        currency: str = "USD",
        timeout: float = 20.0,
    ) -> BraintreeGateway:
        """A gateway talking to the embedded sandbox at ``gateway_url``
        (``http://127.0.0.1:PORT``) through the unchanged SDK code path."""
        return cls(
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            environment=local_environment(gateway_url),
            merchant_account_id=merchant_account_id,
            currency=currency,
            timeout=timeout,
        )

    def close(self) -> None:
        """Close this thread's pooled HTTP connection (other threads keep theirs)."""
        self._http.close()

    # ------------------------------------------------------------------ payments
    def client_token(self) -> str:
        """A client token for the hosted fields (drop-in) on the customer's page."""
        params: dict[str, Any] = {}
        if self.merchant_account_id:
            params["merchant_account_id"] = self.merchant_account_id
        with translate_errors("client_token", self._http):
            try:
                return str(self._gateway.client_token.generate(params))
            except ValueError:
                # The SDK raises ValueError when Braintree answers with validation errors.
                pass
        raise ConfigurationError(
            "Braintree refused to issue a client token; check that merchant_account_id "
            f"{self.merchant_account_id!r} exists for this merchant"
        )

    def sale(self, request: SaleRequest) -> SaleOutcome:
        """Charge a nonce (hosted fields / DTMF) or a vaulted token.

        ``request.request_key`` goes out as Braintree's ``api_request_key``: Braintree
        answers a repeat of the same key with the first transaction instead of charging
        again, so a retry after a timeout is safe.
        """
        self._check_currency(request.amount)
        if bool(request.payment_method_nonce) == bool(request.payment_method_token):
            raise ValidationError(
                "a sale needs exactly one of payment_method_nonce or payment_method_token"
            )
        if not request.amount.is_positive():
            raise ValidationError("a sale amount must be greater than zero")
        params: dict[str, Any] = {
            "amount": request.amount.to_decimal_str(),
            "order_id": request.order_id,
            "api_request_key": request.request_key,
            "options": {"submit_for_settlement": request.submit_for_settlement},
        }
        optional = {
            "payment_method_nonce": request.payment_method_nonce,
            "payment_method_token": request.payment_method_token,
            "device_data": request.device_data,
            "transaction_source": request.transaction_source,
            "customer_id": request.customer_id,
            "merchant_account_id": self.merchant_account_id,
        }
        params.update({key: value for key, value in optional.items() if value})
        with translate_errors("sale", self._http):
            result = self._gateway.transaction.sale(params)
        return outcome_from_result(
            result, expected_currency=self.currency, expected_amount=request.amount
        )

    def submit_for_settlement(
        self, transaction_id: str, amount: Money | None = None
    ) -> SaleOutcome:
        """Capture an authorization, fully or for ``amount``."""
        if amount is not None:
            self._check_currency(amount)
        with translate_errors("submit_for_settlement", self._http):
            result = self._gateway.transaction.submit_for_settlement(
                transaction_id, amount.to_decimal_str() if amount is not None else None
            )
        return outcome_from_result(result, expected_currency=self.currency, expected_amount=amount)

    def void(self, transaction_id: str) -> SaleOutcome:
        """Void an authorized or submitted-for-settlement transaction."""
        with translate_errors("void", self._http):
            result = self._gateway.transaction.void(transaction_id)
        return outcome_from_result(result, expected_currency=self.currency, expected_amount=None)

    def refund(self, transaction_id: str, amount: Money | None, *, request_key: str) -> SaleOutcome:
        """Refund a settled sale, fully (``amount=None``) or partly.

        The approved outcome carries the new *credit* transaction; ``request_key`` is
        sent as ``api_request_key`` so a retried refund is not paid twice.
        """
        options: dict[str, Any] = {"api_request_key": request_key}
        if amount is not None:
            self._check_currency(amount)
            options["amount"] = amount.to_decimal_str()
        with translate_errors("refund", self._http):
            result = self._gateway.transaction.refund(transaction_id, options)
        return outcome_from_result(result, expected_currency=self.currency, expected_amount=amount)

    # ------------------------------------------------------------------ lookups
    def find(self, transaction_id: str) -> PspTransaction | None:
        """The transaction as Braintree sees it now, or ``None`` if Braintree has none.

        No amount check happens here (we did not ask for one): compare ``amount`` with
        the payment you expected.
        """
        try:
            with translate_errors("find", self._http):
                sdk_txn = self._gateway.transaction.find(transaction_id)
        except NotFound:
            return None
        return transaction_from_sdk(sdk_txn)

    def find_by_order_id(self, order_id: str) -> Sequence[PspTransaction]:
        """Every transaction carrying ``order_id`` (the janitor's way to resolve
        an ``unknown`` attempt: none, one sale, or a sale plus its refunds)."""
        with translate_errors("find_by_order_id", self._http):
            found = list(
                self._gateway.transaction.search(braintree.TransactionSearch.order_id == order_id)
            )
        return [transaction_from_sdk(txn) for txn in found]

    def search(self, start: datetime, end: datetime) -> Sequence[PspTransaction]:
        """Transactions created in ``[start, end]`` (timezone-aware datetimes), for
        reconciliation."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValidationError("search needs timezone-aware datetimes (e.g. UTC)")
        with translate_errors("search", self._http):
            found = list(
                self._gateway.transaction.search(
                    # The SDK writes datetimes as "...Z" whatever their zone: convert first.
                    braintree.TransactionSearch.created_at.between(utc(start), utc(end))
                )
            )
        return [transaction_from_sdk(txn) for txn in found]

    # ------------------------------------------------------------------ webhooks
    def parse_webhook(self, signature: str, payload: str) -> WebhookNotification:
        """Verify ``bt_signature`` against ``bt_payload`` and decode it.

        Raises ``WebhookRejected`` for a signature that is not ours or a payload that
        cannot be decoded.
        """
        try:
            notification = self._gateway.webhook_notification.parse(signature, payload)
        except (bt_errors.InvalidSignatureError, bt_errors.InvalidChallengeError) as exc:
            raise WebhookRejected(
                f"Braintree webhook signature rejected ({type(exc).__name__})"
            ) from None
        except (
            ExpatError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            ArithmeticError,
        ) as exc:
            # ValueError covers UnicodeEncodeError (non-ASCII payload) and binascii.Error.
            raise WebhookRejected(
                f"Braintree webhook payload could not be decoded ({type(exc).__name__})"
            ) from None
        return notification_from_sdk(notification)

    # ------------------------------------------------------------------ internals
    def _check_currency(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise ValidationError(
                f"this Braintree merchant account settles in {self.currency}; "
                f"it cannot take an amount in {amount.currency}"
            )

    def __repr__(self) -> str:
        return (
            f"<BraintreeGateway merchant={self._gateway.config.merchant_id!r} "
            f"env={self._gateway.config.environment!s} currency={self.currency}>"
        )
