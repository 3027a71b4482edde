"""Braintree as crm-pay's payment gateway, through the official ``braintree`` SDK.

Each :class:`BraintreeGateway` owns one ``braintree.BraintreeGateway`` built from its own
``braintree.Configuration``; the SDK's process-global configuration is never touched, so
several merchants (or the sandbox and production) can live in one process.

Braintree has no per-transaction currency: a merchant account settles in one currency.
The gateway holds a map currency -> merchant account and picks the account by the
amount's currency for each sale and client token; a currency without an account is
refused before any call. Refunds, captures and voids act on an existing transaction,
which keeps the merchant account (and currency) it was made on.

Expected declines come back as values (``SaleOutcome(approved=False, ...)``); anything
that leaves the outcome unknown raises ``PspUnavailable`` and anything we cannot trust
(an answer we cannot read, an amount or currency other than the one we asked for)
raises ``PspProtocolError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from xml.parsers.expat import ExpatError

import braintree
from braintree import exceptions as bt_errors

from crm_pay.domain.errors import (
    ConfigurationError,
    NotFound,
    PspProtocolError,
    ValidationError,
    WebhookRejected,
)
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.ports import (
    CardEntry,
    PspDispute,
    PspTransaction,
    PspTxnStatus,
    SaleOutcome,
    SaleRequest,
    SettlementBatchLine,
    WebhookEnvelope,
    WebhookNotification,
    WebhookRequest,
)

from .braintree_card_entry import card_entry_for
from .braintree_http import RecordingHttp, local_environment, parse_environment, translate_errors
from .braintree_mapping import (
    dispute_from_sdk,
    dispute_refusal,
    evidence_document,
    money_from_psp,
    notification_from_sdk,
    outcome_from_result,
    transaction_from_sdk,
    utc,
    webhook_documents,
    webhook_envelope,
)

__all__ = ["BraintreeGateway", "card_entry_for", "check_merchant_accounts"]

log = logging.getLogger("crm_pay.psp.braintree")

# What a verified-but-broken webhook payload raises inside the SDK.
_UNDECODABLE = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError)


class BraintreeGateway:
    """A :class:`crm_pay.ports.PaymentGateway` backed by Braintree.

    :param merchant_id: the Braintree merchant id.
    :param public_key: API public key.
    :param private_key: API private key (also verifies webhook signatures).
    :param environment: ``"sandbox"``, ``"production"`` or a ``braintree.Environment``
        (see :meth:`for_local_sandbox` for the embedded sandbox).
    :param merchant_accounts: ISO 4217 currency -> merchant account id, one entry per
        currency the merchant takes (the first entry is the default, used by
        :meth:`client_token` without a currency). An account id ``None`` means the
        merchant's default account. When given, ``merchant_account_id`` and ``currency``
        must not be.
    :param merchant_account_id: the one-account case: the merchant account to charge
        (``None``: the merchant's default account) ...
    :param currency: ... and its ISO 4217 currency (default ``"USD"``).
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
        merchant_accounts: Mapping[str, str | None] | None = None,
        merchant_account_id: str | None = None,
        currency: str | None = None,
        timeout: float = 20.0,
        card_entry: CardEntry | None = None,
    ) -> None:
        # Without one, braintree-web as bundled with crm-pay (served by crm-pay).
        self._card_entry = card_entry or card_entry_for("production")
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
        if merchant_accounts is not None and (merchant_account_id or currency):
            raise ConfigurationError(
                "give Braintree either merchant_accounts (currency -> account) or one "
                "merchant_account_id with its currency, not both"
            )
        if merchant_accounts is None:
            merchant_accounts = {currency or "USD": merchant_account_id or None}
        self._accounts = check_merchant_accounts(merchant_accounts)
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
        merchant_accounts: Mapping[str, str | None] | None = None,
        merchant_account_id: str | None = None,
        currency: str | None = None,
        timeout: float = 20.0,
        assets_url: str | None = None,
        card_entry: CardEntry | None = None,
    ) -> BraintreeGateway:
        """A gateway talking to the embedded sandbox at ``gateway_url``
        (``http://127.0.0.1:PORT``) through the unchanged SDK code path; the sandbox's
        stand-in hosted fields are served from ``assets_url`` (default: ``gateway_url``).
        ``card_entry`` replaces them (a test that shows Braintree's own scripts on a
        gateway that still talks to the sandbox)."""
        return cls(
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            environment=local_environment(gateway_url),
            merchant_accounts=merchant_accounts,
            merchant_account_id=merchant_account_id,
            currency=currency,
            timeout=timeout,
            card_entry=card_entry or card_entry_for("local", assets_url=assets_url or gateway_url),
        )

    def close(self) -> None:
        """Close this thread's pooled HTTP connection (other threads keep theirs)."""
        self._http.close()

    # ------------------------------------------------------------------ currencies
    @property
    def currencies(self) -> tuple[str, ...]:
        """The currencies this merchant can take a payment in, default first."""
        return tuple(self._accounts)

    @property
    def merchant_accounts(self) -> dict[str, str | None]:
        """Currency -> merchant account id (``None``: the merchant's default account)."""
        return dict(self._accounts)

    def _account_for(self, currency: str) -> str | None:
        if currency not in self._accounts:
            raise ValidationError(
                f"no Braintree merchant account takes {currency}; this merchant accepts "
                f"{', '.join(self._accounts)}",
                code="currency_not_supported",
            )
        return self._accounts[currency]

    # ------------------------------------------------------------------ payments
    def card_entry(self) -> CardEntry:
        """Braintree's hosted-fields scripts and origins (the sandbox's when local)."""
        return self._card_entry

    def client_token(self, *, currency: str | None = None) -> str:
        """A client token for the hosted fields on the customer's page, bound to the
        merchant account of ``currency`` (default: the first configured currency), so
        the nonce it yields is tokenized for the account the sale will use."""
        code = self.currencies[0] if currency is None else normalize_currency(currency)
        account = self._account_for(code)
        params: dict[str, Any] = {"merchant_account_id": account} if account else {}
        with translate_errors("client_token", self._http):
            try:
                return str(self._gateway.client_token.generate(params))
            except ValueError:
                # The SDK raises ValueError when Braintree answers with validation errors
                # (e.g. 92807 ClientToken.MerchantAccountDoesNotExist).
                pass
        raise ConfigurationError(
            f"Braintree refused to issue a client token for {code}; check that merchant "
            f"account {account!r} exists for this merchant (CRM_PAY_BRAINTREE_MERCHANT_ACCOUNTS)",
            code="psp_client_token_refused",
        )

    def sale(self, request: SaleRequest) -> SaleOutcome:
        """Charge a nonce (hosted fields / DTMF) or a vaulted token.

        ``request.request_key`` goes out as Braintree's ``api_request_key``: Braintree
        answers a repeat of the same key with the first transaction instead of charging
        again, so a retry after a timeout is safe.
        """
        account = self._account_for(request.amount.currency)
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
            "merchant_account_id": account,
        }
        params.update({key: value for key, value in optional.items() if value})
        if request.store_in_vault:
            # Braintree keeps the payment method only when the sale succeeds and puts its
            # token on the transaction; without a customer_id it makes a new vault
            # customer (braintree_python tests/integration/test_transaction.py::test_
            # create_can_store_customer_and_credit_card_in_the_vault_on_success).
            params["options"]["store_in_vault_on_success"] = True
        if request.three_d_secure_required:
            # Braintree gateway-rejects the sale (reason "three_d_secure") when the nonce's
            # 3DS check gave no liability shift (braintree_python tests/integration/
            # test_transaction.py, the sale with a three_d_secure option).
            params["options"]["three_d_secure"] = {"required": True}
        with translate_errors("sale", self._http):
            result = self._gateway.transaction.sale(params)
        return self._answer(result, request.amount)

    def submit_for_settlement(
        self, transaction_id: str, amount: Money | None = None
    ) -> SaleOutcome:
        """Capture an authorization, fully or for ``amount`` (in the authorization's
        currency: the transaction keeps its merchant account)."""
        if amount is not None:
            self._account_for(amount.currency)
        with translate_errors("submit_for_settlement", self._http):
            result = self._gateway.transaction.submit_for_settlement(
                transaction_id, amount.to_decimal_str() if amount is not None else None
            )
        return self._answer(result, amount)

    def void(self, transaction_id: str) -> SaleOutcome:
        """Void an authorized or submitted-for-settlement transaction."""
        with translate_errors("void", self._http):
            result = self._gateway.transaction.void(transaction_id)
        return self._answer(result, None)

    def refund(self, transaction_id: str, amount: Money | None, *, request_key: str) -> SaleOutcome:
        """Refund a settled sale, fully (``amount=None``) or partly.

        The approved outcome carries the new *credit* transaction; ``request_key`` is
        sent as ``api_request_key`` so a retried refund is not paid twice. Braintree
        refunds on the sale's own merchant account, so no account is chosen here; the
        credit must come back in ``amount``'s currency (or, for a full refund, in the
        currency of the account it names).
        """
        options: dict[str, Any] = {"api_request_key": request_key}
        if amount is not None:
            options["amount"] = amount.to_decimal_str()
        with translate_errors("refund", self._http):
            result = self._gateway.transaction.refund(transaction_id, options)
        return self._answer(result, amount)

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

    # Braintree's search takes at most this many ids per query in practice; larger lists
    # are split (each query is paged by the SDK itself).
    _IDS_PER_SEARCH = 1000

    def find_many(
        self, transaction_ids: Sequence[str], *, statuses: Sequence[PspTxnStatus] = ()
    ) -> Sequence[PspTransaction]:
        """The transactions among ``transaction_ids`` now in one of ``statuses`` (all when
        empty). Card settlement has no webhook at Braintree (the settlement webhooks are
        for bank transfers): the janitor learns it with this search."""
        found: list[PspTransaction] = []
        ids = list(dict.fromkeys(transaction_ids))
        for start in range(0, len(ids), self._IDS_PER_SEARCH):
            criteria = [
                braintree.TransactionSearch.ids.in_list(ids[start : start + self._IDS_PER_SEARCH])
            ]
            if statuses:
                criteria.append(
                    braintree.TransactionSearch.status.in_list([s.value for s in statuses])
                )
            with translate_errors("find_many", self._http):
                found.extend(
                    transaction_from_sdk(txn) for txn in self._gateway.transaction.search(*criteria)
                )
        return found

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

    # ------------------------------------------------------------------ reconciliation
    # (added for crm_pay.services.reconciliation; owned by the reconciliation area)

    # Braintree returns at most this many ids for one search (Braintree docs: General >
    # Searching > Search results, as cited in braintree-go PR #206): a bigger window is
    # split in halves and searched again.
    SEARCH_RESULT_LIMIT: ClassVar[int] = 20_000

    def iter_search(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[int, list[PspTransaction]]]:
        """Transactions created in ``[start, end]``, one page at a time, as
        ``(total, page)``: ``total`` is how many ids Braintree found for the whole window
        (known before the first page, for a progress bar), ``page`` up to 50
        transactions. The ids come first (``advanced_search_ids``), then the SDK fetches
        the pages (``advanced_search``, 50 ids each); nothing is held beyond one page."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValidationError("search needs timezone-aware datetimes (e.g. UTC)")
        collections = self._search_windows(utc(start), utc(end))  # type: ignore[arg-type]
        total = sum(c.maximum_size for c in collections)
        for collection in collections:
            items = iter(collection)
            page: list[PspTransaction] = []
            while True:
                with translate_errors("search", self._http):
                    sdk_txn = next(items, None)
                if sdk_txn is None:
                    break
                page.append(transaction_from_sdk(sdk_txn))
                if len(page) == 50:
                    yield total, page
                    page = []
            if page:
                yield total, page

    def settlement_summary(self, day: date) -> list[SettlementBatchLine]:
        """What Braintree settled on ``day``, per merchant account, card type and kind
        (``settlement_batch_summary.generate``). Lines of accounts not configured here
        are left out (their currency is unknown to us), with a warning."""
        with translate_errors("settlement_batch_summary", self._http):
            result = self._gateway.settlement_batch_summary.generate(day.isoformat())
        if not result.is_success:
            raise PspProtocolError(
                f"Braintree refused the settlement batch summary of {day.isoformat()}"
            )
        currency_of = {account: cur for cur, account in self._accounts.items() if account}
        only = next(iter(self._accounts)) if len(self._accounts) == 1 else None
        lines: list[SettlementBatchLine] = []
        for record in result.settlement_batch_summary.records:
            account = str(record.get("merchant_account_id") or "")
            currency = currency_of.get(account) or only
            if currency is None:
                log.warning("settlement summary: merchant account %r is not configured", account)
                continue
            lines.append(
                SettlementBatchLine(
                    merchant_account_id=account,
                    card_type=str(record.get("card_type") or ""),
                    kind=str(record.get("kind") or ""),
                    count=int(record.get("count") or 0),
                    amount=money_from_psp(record.get("amount_settled"), currency),
                )
            )
        return lines

    def _search_windows(self, start: datetime, end: datetime) -> list[Any]:
        with translate_errors("search", self._http):
            collection = self._gateway.transaction.search(
                braintree.TransactionSearch.created_at.between(start, end)
            )
        if collection.maximum_size < self.SEARCH_RESULT_LIMIT or end - start <= timedelta(
            seconds=1
        ):
            return [collection]
        # Braintree stamps created_at to the second and "between" includes both ends.
        middle = (start + (end - start) / 2).replace(microsecond=0)
        second = middle + timedelta(seconds=1)
        return self._search_windows(start, middle) + self._search_windows(second, end)

    # ------------------------------------------------------------------ end reconciliation

    # ------------------------------------------------------------------ webhooks
    def webhook_envelope(self, request: WebhookRequest) -> WebhookEnvelope:
        """``bt_signature`` and ``bt_payload`` from the posted form (``WebhookRejected``
        when either is missing)."""
        return webhook_envelope(request)

    def webhook_documents(self, envelope: WebhookEnvelope) -> tuple[str, ...]:
        """The signature's public keys, the payload and its decoded XML."""
        return webhook_documents(envelope)

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
    def _answer(self, result: Any, amount: Money | None) -> SaleOutcome:
        """Map an answer, checking it moved exactly ``amount`` (an answer for any
        other sum raises ``PspProtocolError`` and is never recorded as ours). Without an
        amount (void, full capture or refund) the transaction must be in the currency
        of the merchant account it is on; one on an account we do not know is held to
        the default currency, as a single-account merchant always was."""
        if amount is not None:
            return outcome_from_result(
                result, expected_currency=amount.currency, expected_amount=amount
            )
        account = getattr(getattr(result, "transaction", None), "merchant_account_id", None)
        by_account = {acc: cur for cur, acc in self._accounts.items() if acc}
        expected = by_account.get(account, self.currencies[0]) if account else self.currencies[0]
        return outcome_from_result(result, expected_currency=expected, expected_amount=None)

    def __repr__(self) -> str:
        return (
            f"<BraintreeGateway merchant={self._gateway.config.merchant_id!r} "
            f"env={self._gateway.config.environment!s} currencies={','.join(self.currencies)}>"
        )

    # ---- the vault
    def delete_payment_method(self, token: str) -> None:
        """The optional PaymentMethodVault capability (crm_pay.ports): delete a vaulted
        payment method with the SDK's ``gateway.payment_method.delete`` (braintree_python
        payment_method_gateway.py; tests/integration/test_payment_method.py::
        test_delete_deletes_a_credit_card). Braintree answers an unknown token with a 404,
        the SDK's ``NotFoundError``: gone already, which is what was asked."""
        try:
            with translate_errors("delete_payment_method", self._http):
                self._gateway.payment_method.delete(token)
        except NotFound:
            log.info("payment method already absent from the Braintree vault")

    # ---- disputes
    # The optional DisputeGateway capability (crm_pay.ports), through the SDK's
    # gateway.dispute and gateway.document_upload (braintree_python dispute_gateway.py,
    # document_upload_gateway.py). Refusals (dispute not open...) raise Conflict.
    def find_dispute(self, dispute_id: str) -> PspDispute | None:
        """The dispute as Braintree sees it now, or ``None`` if it has none."""
        try:
            with translate_errors("find_dispute", self._http):
                sdk_dispute = self._gateway.dispute.find(dispute_id)
        except NotFound:
            return None
        return dispute_from_sdk(sdk_dispute)

    def accept_dispute(self, dispute_id: str) -> None:
        """Accept the chargeback: the disputed amount stays with the customer."""
        with translate_errors("accept_dispute", self._http):
            result = self._gateway.dispute.accept(dispute_id)
        dispute_refusal(result, "accept", dispute_id)

    def add_text_evidence(
        self, dispute_id: str, content: str, *, category: str | None = None
    ) -> str:
        """Send text evidence; returns Braintree's evidence id."""
        request: dict[str, Any] = {"content": content}
        if category:
            request["category"] = category
        with translate_errors("add_text_evidence", self._http):
            result = self._gateway.dispute.add_text_evidence(dispute_id, request)
        dispute_refusal(result, "text evidence", dispute_id)
        return str(result.evidence.id)

    def add_file_evidence(
        self,
        dispute_id: str,
        filename: str,
        content: bytes,
        *,
        content_type: str,
        category: str | None = None,
    ) -> str:
        """Upload a document (kind ``evidence_document``) and attach it to the dispute.
        The SDK sends the part's content type from the file name (``mimetypes``), so the
        name is given the extension of ``content_type``."""
        document = evidence_document(filename, content, content_type)
        with translate_errors("document_upload", self._http):
            upload = self._gateway.document_upload.create(
                {"kind": "evidence_document", "file": document}
            )
        dispute_refusal(upload, "document upload", dispute_id)
        request: dict[str, Any] = {"document_id": str(upload.document_upload.id)}
        if category:
            request["category"] = category
        with translate_errors("add_file_evidence", self._http):
            result = self._gateway.dispute.add_file_evidence(dispute_id, request)
        dispute_refusal(result, "file evidence", dispute_id)
        return str(result.evidence.id)

    def remove_evidence(self, dispute_id: str, evidence_id: str) -> None:
        """Withdraw evidence (``gateway.dispute.remove_evidence``); an unknown evidence id
        raises ``NotFound``."""
        with translate_errors("remove_evidence", self._http):
            result = self._gateway.dispute.remove_evidence(dispute_id, evidence_id)
        dispute_refusal(result, "remove evidence", dispute_id)

    def finalize_dispute(self, dispute_id: str) -> None:
        """Submit the evidence sent so far to the card issuer; no more can be added."""
        with translate_errors("finalize_dispute", self._http):
            result = self._gateway.dispute.finalize(dispute_id)
        dispute_refusal(result, "finalize", dispute_id)

    def iter_disputes(self, first: date, last: date) -> Iterator[PspDispute]:
        """Disputes received from ``first`` to ``last`` (both days included), then those
        with a status change that took effect in those days (a chargeback lost weeks
        after it came), each once. ``gateway.dispute.search`` pages by itself
        (``PaginatedCollection``); dates go as the SDK's own test writes them
        (test_dispute_search.py: ``received_date.between("03/03/2014", "03/05/2014")``)."""
        bounds = (first.strftime("%m/%d/%Y"), last.strftime("%m/%d/%Y"))
        seen: set[str] = set()
        for field in (
            braintree.DisputeSearch.received_date,
            braintree.DisputeSearch.effective_date,
        ):
            with translate_errors("dispute_search", self._http):
                found = iter(self._gateway.dispute.search(field.between(*bounds)).disputes.items)
            while True:
                with translate_errors("dispute_search", self._http):
                    sdk_dispute = next(found, None)
                if sdk_dispute is None:
                    break
                dispute = dispute_from_sdk(sdk_dispute)
                if dispute.id not in seen:
                    seen.add(dispute.id)
                    yield dispute


# A Braintree merchant account id is a short handle chosen in the control panel; this
# bound only keeps a pasted secret or a whole JSON document out of it.
_ACCOUNT_ID_MAX = 64


def check_merchant_accounts(accounts: Mapping[str, str | None]) -> dict[str, str | None]:
    """Validate currency -> merchant account: ISO 4217 codes, each once; ids non-empty
    text without spaces, each used for one currency only (an account settles in one)."""
    if not isinstance(accounts, Mapping) or not accounts:
        raise ConfigurationError(
            "Braintree merchant accounts must map at least one currency to a merchant "
            'account id, e.g. {"USD": "acme_usd", "GBP": "acme_gbp"}'
        )
    checked: dict[str, str | None] = {}
    for raw_currency, account in accounts.items():
        try:
            currency = normalize_currency(raw_currency)
        except ValidationError as exc:
            raise ConfigurationError(f"Braintree merchant accounts: {exc.message}") from None
        if currency in checked:
            raise ConfigurationError(f"Braintree merchant accounts name {currency} twice")
        if account is not None and (
            not isinstance(account, str)
            or not account.strip()
            or len(account) > _ACCOUNT_ID_MAX
            or any(ch.isspace() or not ch.isprintable() for ch in account)
        ):
            raise ConfigurationError(
                f"Braintree merchant account for {currency} must be the account id from the "
                f"control panel (Settings > Business > Merchant Accounts): 1-{_ACCOUNT_ID_MAX} "
                "characters, no spaces"
            )
        if account is not None and account in checked.values():
            raise ConfigurationError(
                f"Braintree merchant account {account!r} is given for two currencies; an "
                "account settles in one currency"
            )
        checked[currency] = account
    if list(checked.values()).count(None) > 1:
        raise ConfigurationError(
            "only one currency may use the merchant's default account (no account id)"
        )
    return checked
