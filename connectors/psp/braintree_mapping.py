"""Braintree SDK objects → crm-pay port values. Pure functions, no I/O.

Internal to :mod:`connectors.psp.braintree`. The card on a transaction is reduced to
brand, last 4, expiry and BIN here: the SDK's ``masked_number`` (BIN + mask + last 4)
and anything else longer is never read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crm_pay.domain.errors import PspProtocolError, ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import (
    CardSummary,
    DeclineInfo,
    PspTransaction,
    PspTxnStatus,
    SaleOutcome,
    WebhookNotification,
)

__all__ = [
    "check_matches",
    "money_from_psp",
    "notification_from_sdk",
    "outcome_from_result",
    "transaction_from_sdk",
    "utc",
]

_STATUSES: dict[str, PspTxnStatus] = {
    "authorized": PspTxnStatus.AUTHORIZED,
    "submitted_for_settlement": PspTxnStatus.SUBMITTED_FOR_SETTLEMENT,
    "settling": PspTxnStatus.SETTLING,
    "settlement_pending": PspTxnStatus.SETTLING,
    "settled": PspTxnStatus.SETTLED,
    "settlement_confirmed": PspTxnStatus.SETTLED,
    "voided": PspTxnStatus.VOIDED,
    "processor_declined": PspTxnStatus.PROCESSOR_DECLINED,
    "gateway_rejected": PspTxnStatus.GATEWAY_REJECTED,
    "failed": PspTxnStatus.FAILED,
    "settlement_declined": PspTxnStatus.SETTLEMENT_DECLINED,
    # "authorizing", "authorization_expired" and anything Braintree adds later.
}

# Wallet details on a Braintree transaction: (attribute, wallet, brand attr, last-4 attr).
_WALLETS = (
    ("apple_pay_details", "apple_pay", "card_type", "last_4"),
    ("android_pay_card_details", "google_pay", "source_card_type", "source_card_last_4"),
)


def utc(value: datetime | None) -> datetime | None:
    """The SDK parses timestamps to naive UTC datetimes; make them aware."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def money_from_psp(amount: Any, currency: Any) -> Money:
    """Exact :class:`Money` from an SDK ``Decimal`` (or string) amount, never via float.

    Braintree writes amounts like ``"10.00"``; zeros past the currency's exponent carry
    no value and are dropped, any other surplus digit is a protocol error.
    """
    if not isinstance(currency, str) or not currency:
        raise PspProtocolError("Braintree answered without a currency_iso_code")
    if isinstance(amount, Decimal):
        if not amount.is_finite():
            raise PspProtocolError("Braintree answered with a non-finite amount")
        text = format(amount, "f")
    elif isinstance(amount, str):
        text = amount.strip()
    else:
        raise PspProtocolError("Braintree answered without an amount")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    try:
        return Money.parse(text, currency)
    except ValidationError:
        raise PspProtocolError(
            f"Braintree answered with amount {text!r} {currency!r}, which is not an exact "
            "amount in a currency we support"
        ) from None


def check_matches(
    txn: PspTransaction, *, expected_currency: str, expected_amount: Money | None
) -> None:
    """DESIGN.md reliability rule 3: the PSP must have moved exactly what we asked."""
    if txn.amount.currency != expected_currency:
        raise PspProtocolError(
            f"Braintree transaction {txn.id} is in {txn.amount.currency}, we asked for "
            f"{expected_currency}",
            code="psp_currency_mismatch",
        )
    if expected_amount is not None and txn.amount != expected_amount:
        raise PspProtocolError(
            f"Braintree transaction {txn.id} is for {txn.amount}, we asked for {expected_amount}",
            code="psp_amount_mismatch",
        )


def _card_summary(sdk_txn: Any) -> CardSummary | None:
    for attr, wallet, brand_attr, last4_attr in _WALLETS:
        details = getattr(sdk_txn, attr, None)
        if details is not None:
            return CardSummary(
                brand=_text(getattr(details, brand_attr, None)) or "Unknown",
                last4=_last4(getattr(details, last4_attr, None)),
                exp_month=_text(getattr(details, "expiration_month", None)),
                exp_year=_text(getattr(details, "expiration_year", None)),
                bin=_bin(getattr(details, "bin", None)),
                wallet=wallet,
            )
    card = getattr(sdk_txn, "credit_card_details", None)
    if card is None or not _last4(getattr(card, "last_4", None)):
        return None
    return CardSummary(
        brand=_text(getattr(card, "card_type", None)) or "Unknown",
        last4=_last4(card.last_4),
        exp_month=_text(getattr(card, "expiration_month", None)),
        exp_year=_text(getattr(card, "expiration_year", None)),
        bin=_bin(getattr(card, "bin", None)),
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _last4(value: Any) -> str:
    # Keep at most four digits whatever the PSP sends; a longer run would be part of a PAN.
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[-4:]


def _bin(value: Any) -> str | None:
    # The 6-digit BIN at most (PCI DSS allows first six + last four for display).
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[:6] or None


def transaction_from_sdk(sdk_txn: Any) -> PspTransaction:
    """Map a ``braintree.Transaction`` to a :class:`PspTransaction`."""
    txn_id = getattr(sdk_txn, "id", None)
    if not txn_id:
        raise PspProtocolError("Braintree answered with a transaction that has no id")
    status = str(getattr(sdk_txn, "status", "") or "")
    return PspTransaction(
        id=str(txn_id),
        status=_STATUSES.get(status, PspTxnStatus.OTHER),
        amount=money_from_psp(
            getattr(sdk_txn, "amount", None), getattr(sdk_txn, "currency_iso_code", None)
        ),
        order_id=_text(getattr(sdk_txn, "order_id", None)),
        kind="credit" if getattr(sdk_txn, "type", None) == "credit" else "sale",
        card=_card_summary(sdk_txn),
        created_at=utc(getattr(sdk_txn, "created_at", None)),
        processor_response_code=_text(getattr(sdk_txn, "processor_response_code", None)),
        refunded_transaction_id=_text(getattr(sdk_txn, "refunded_transaction_id", None)),
    )


def _decline(sdk_txn: Any, txn: PspTransaction) -> DeclineInfo:
    """Why a transaction Braintree returned was not successful.

    ``kind`` is "processor" (code = processor response code, e.g. "2001"), "gateway"
    (code = gateway rejection reason, e.g. "cvv"), "failed" (Braintree could not reach
    the processor; code e.g. "3000", worth retrying later) or "settlement".
    """
    if txn.status is PspTxnStatus.GATEWAY_REJECTED:
        reason = _text(getattr(sdk_txn, "gateway_rejection_reason", None)) or "unknown"
        return DeclineInfo(kind="gateway", code=reason, raw_text=reason)
    if txn.status is PspTxnStatus.FAILED:
        kind = "failed"
    elif txn.status is PspTxnStatus.SETTLEMENT_DECLINED:
        code = _text(getattr(sdk_txn, "processor_settlement_response_code", None)) or "unknown"
        text = _text(getattr(sdk_txn, "processor_settlement_response_text", None)) or ""
        return DeclineInfo(kind="settlement", code=code, raw_text=text)
    else:
        kind = "processor"
    return DeclineInfo(
        kind=kind,
        code=txn.processor_response_code or "unknown",
        raw_text=_text(getattr(sdk_txn, "processor_response_text", None)) or "",
    )


def outcome_from_result(
    result: Any, *, expected_currency: str, expected_amount: Money | None
) -> SaleOutcome:
    """Map a ``SuccessfulResult``/``ErrorResult`` and check amount and currency.

    Validation failures (no transaction created) become ``DeclineInfo(kind="validation",
    code=<first Braintree error code>)``.
    """
    if result is None:
        raise PspProtocolError("Braintree answered with neither a transaction nor errors")
    sdk_txn = getattr(result, "transaction", None)
    if sdk_txn is None:
        if result.is_success:
            raise PspProtocolError("Braintree reported success without a transaction")
        errors = result.errors.deep_errors
        code = str(errors[0].code) if errors else "unknown"
        return SaleOutcome(
            approved=False,
            decline=DeclineInfo(kind="validation", code=code, raw_text=str(result.message or "")),
        )
    txn = transaction_from_sdk(sdk_txn)
    check_matches(txn, expected_currency=expected_currency, expected_amount=expected_amount)
    if result.is_success:
        return SaleOutcome(approved=True, transaction=txn)
    return SaleOutcome(approved=False, transaction=txn, decline=_decline(sdk_txn, txn))


def notification_from_sdk(notification: Any) -> WebhookNotification:
    """Map a verified ``braintree.WebhookNotification``.

    ``event_id`` is ``"{kind}:{subject id}:{timestamp}"``: Braintree re-sends the same
    notification with the same kind, subject and timestamp, so replays dedupe on it.
    For dispute notifications Braintree sends only a summary of the disputed transaction;
    it is mapped with status ``OTHER`` and must not be read as a status change.
    """
    kind = str(notification.kind)
    timestamp = utc(getattr(notification, "timestamp", None))
    if timestamp is None:
        raise PspProtocolError("Braintree webhook has no timestamp")
    transaction: PspTransaction | None = None
    dispute_id: str | None = None
    dispute_amount: Money | None = None
    subject_id = ""
    dispute = getattr(notification, "dispute", None)
    sdk_txn = getattr(notification, "transaction", None)
    if dispute is not None:
        dispute_id = subject_id = str(dispute.id)
        currency = getattr(dispute, "currency_iso_code", None)
        disputed = getattr(dispute, "amount_disputed", None) or getattr(dispute, "amount", None)
        if disputed is not None:
            dispute_amount = money_from_psp(disputed, currency)
        details = getattr(dispute, "transaction_details", None)
        if details is not None and getattr(details, "id", None):
            transaction = PspTransaction(
                id=str(details.id),
                status=PspTxnStatus.OTHER,
                amount=money_from_psp(getattr(details, "amount", None), currency),
                order_id=_text(getattr(details, "order_id", None)),
            )
    elif sdk_txn is not None:
        transaction = transaction_from_sdk(sdk_txn)
        subject_id = transaction.id
    else:
        for attr in ("subscription", "merchant_account", "disbursement", "account_updater"):
            subject = getattr(notification, attr, None)
            if subject is not None and getattr(subject, "id", None):
                subject_id = str(subject.id)
                break
    return WebhookNotification(
        kind=kind,
        event_id=f"{kind}:{subject_id}:{timestamp.isoformat()}",
        timestamp=timestamp,
        transaction=transaction,
        dispute_id=dispute_id,
        dispute_amount=dispute_amount,
    )
