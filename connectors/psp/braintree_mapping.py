"""Braintree SDK objects → crm-pay port values. Pure functions, no I/O.

Internal to :mod:`connectors.psp.braintree`. The card on a transaction is reduced to
brand, last 4, expiry and BIN here: the SDK's ``masked_number`` (BIN + mask + last 4)
and anything else longer is never read.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import mimetypes
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crm_pay.domain.declines import DeclineCategory, fallback_category
from crm_pay.domain.errors import Conflict, PspProtocolError, ValidationError, WebhookRejected
from crm_pay.domain.money import Money
from crm_pay.ports import (
    CardChecks,
    CardSummary,
    DeclineInfo,
    PspDispute,
    PspTransaction,
    PspTxnStatus,
    SaleOutcome,
    ThreeDSecureResult,
    WebhookEnvelope,
    WebhookNotification,
    WebhookRequest,
)

__all__ = [
    "check_matches",
    "classify_decline",
    "ignored_kind",
    "masked_email",
    "category_of_reference",
    "dispute_from_sdk",
    "dispute_refusal",
    "evidence_document",
    "money_from_psp",
    "notification_from_sdk",
    "outcome_from_result",
    "transaction_from_sdk",
    "utc",
    "webhook_documents",
    "webhook_envelope",
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

# Card wallets on a Braintree transaction: (SDK attribute, our wallet, brand attr, last-4
# attrs in order of preference). braintree_python transaction.py sets ``apple_pay_details``
# from ``<apple-pay>`` and ``android_pay_card_details`` (Google Pay) from
# ``<android-pay-card>``. The customer knows the card in their wallet by its own last 4
# (Apple Pay ``source_card_last4``, "Visa 2006" in ``payment_instrument_name``; Google Pay
# ``source_card_last_4``), not by the device or virtual card number's (``last_4``), which
# is used only when the source is missing. Apple Pay's ``card_type`` reads "Apple Pay -
# Visa" (``ApplePayCard.CardType``): the prefix is dropped.
_CARD_WALLETS = (
    ("apple_pay_details", "apple_pay", "card_type", ("source_card_last4", "last_4")),
    (
        "android_pay_card_details",
        "google_pay",
        "source_card_type",
        ("source_card_last_4", "virtual_card_last_4"),
    ),
)
_APPLE_PAY_PREFIX = "Apple Pay - "


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
    """The PSP must have moved exactly what we asked (amount and currency): an answer
    for any other sum is not trusted and raises :class:`PspProtocolError`, so a wrong
    charge is never recorded as the one we asked for."""
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
    account = _wallet_account(sdk_txn)
    if account is not None:
        return account
    for attr, wallet, brand_attr, last4_attrs in _CARD_WALLETS:
        details = getattr(sdk_txn, attr, None)
        if details is not None:
            brand = _text(getattr(details, brand_attr, None)) or "Unknown"
            last4 = next(
                (d for d in (_last4(getattr(details, a, None)) for a in last4_attrs) if d), ""
            )
            return CardSummary(
                brand=brand.removeprefix(_APPLE_PAY_PREFIX),
                last4=last4,
                exp_month=_text(getattr(details, "expiration_month", None)),
                exp_year=_text(getattr(details, "expiration_year", None)),
                bin=_bin(getattr(details, "bin", None)),
                wallet=wallet,
                vault_token=_text(getattr(details, "token", None)),
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
        vault_token=_text(getattr(card, "token", None)),
    )


def _wallet_account(sdk_txn: Any) -> CardSummary | None:
    """A PayPal or Venmo account (``paypal_details`` from ``<paypal>``,
    ``venmo_account_details`` from ``<venmo-account>``): no card, the account shown as
    a masked e-mail or the Venmo username."""
    paypal = getattr(sdk_txn, "paypal_details", None)
    if paypal is not None:
        email = _text(getattr(paypal, "payer_email", None))
        return CardSummary(
            brand="PayPal",
            last4="",
            wallet="paypal",
            account=masked_email(email or ""),
            vault_token=_text(getattr(paypal, "token", None)),
        )
    venmo = getattr(sdk_txn, "venmo_account_details", None)
    if venmo is not None:
        username = _text(getattr(venmo, "username", None))
        return CardSummary(
            brand="Venmo",
            last4="",
            wallet="venmo",
            account=f"@{username.lstrip('@')}"[:60] if username else None,
            vault_token=_text(getattr(venmo, "token", None)),
        )
    return None


def masked_email(email: str) -> str | None:
    """``"payer@example.com"`` -> ``"p***@example.com"``: enough for the customer to
    recognise the account, not an address anyone can write to (None: no address)."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    return f"{local[0]}***@{domain}"[:120]


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


# --------------------------------------------------------------------------- declines
def _codes(category: DeclineCategory, codes: str) -> dict[int, DeclineCategory]:
    return dict.fromkeys((int(c) for c in codes.split()), category)


_C = DeclineCategory

# Braintree processor response codes (2000–2999, 3000 for the processor network) by
# family. Codes not listed fall back to ISSUER_DECLINED, the advice Braintree's
# "Processor Declined" calls for.
_PROCESSOR: dict[int, DeclineCategory] = {
    **_codes(_C.ISSUER_DECLINED, "2000 2038 2046"),
    **_codes(_C.INSUFFICIENT_FUNDS, "2001"),
    **_codes(_C.LIMIT_EXCEEDED, "2002 2003"),
    **_codes(_C.EXPIRED_CARD, "2004"),
    **_codes(_C.CARD_DETAILS, "2005 2006 2008 2051"),
    **_codes(_C.SECURITY_CODE, "2010"),
    **_codes(_C.ADDRESS, "2059"),
    **_codes(_C.ADDRESS_AND_SECURITY_CODE, "2060"),
    **_codes(_C.CALL_ISSUER, "2011 2041 2043 2044"),
    # Lost, stolen, suspected fraud, pick up, no such account, card replaced: the customer
    # is told only that the card was declined.
    **_codes(_C.CARD_NOT_USABLE, "2007 2009 2012 2013 2014 2022 2047 2053"),
    **_codes(_C.CARD_RESTRICTED, "2015 2017 2018 2057"),
    **_codes(_C.CARD_TYPE_NOT_ACCEPTED, "2024"),
    **_codes(_C.DUPLICATE, "2016 2069"),
    **_codes(_C.AUTHENTICATION_REQUIRED, "2099"),
    **_codes(
        _C.MERCHANT_SETUP,
        "2023 2025 2026 2027 2028 2029 2030 2031 2032 2040 2042 2045 2058 2079 2087 2088 "
        "2089 2091 2100",
    ),
    **_codes(
        _C.INVALID_TRANSACTION,
        "2019 2020 2021 2033 2034 2035 2039 2048 2049 2050 2055 2056 2061 2062 2064",
    ),
    **_codes(_C.OPERATION_NOT_POSSIBLE, "2036 2037 2054 2065 2067 2090 2094 2095"),
    **_codes(
        _C.WALLET_DECLINED,
        "2063 2066 2068 2070 2071 2072 2073 2074 2075 2076 2077 2078 2081 2082 2083 2084 "
        "2085 2086 2092 2093 2096 2097 2098",
    ),
    **_codes(_C.NETWORK_UNAVAILABLE, "3000"),
}

# Braintree gateway rejection reasons.
_GATEWAY: dict[str, DeclineCategory] = {
    "application_incomplete": _C.MERCHANT_SETUP,
    "avs": _C.ADDRESS,
    "avs_and_cvv": _C.ADDRESS_AND_SECURITY_CODE,
    "cvv": _C.SECURITY_CODE,
    "duplicate": _C.DUPLICATE,
    "excessive_retry": _C.TOO_MANY_ATTEMPTS,
    "fraud": _C.NOT_APPROVED,
    "risk_threshold": _C.NOT_APPROVED,
    "three_d_secure": _C.AUTHENTICATION_FAILED,
    "token_issuance": _C.PAYMENT_METHOD,
}


def classify_decline(kind: str, code: str, raw_text: str = "") -> DeclineInfo:
    """A Braintree decline as a port value: ``kind`` "processor" (code = processor
    response code, e.g. "2001"), "failed" (the processor could not be reached; its code
    is a processor code too, e.g. "3000"), "gateway" (a gateway rejection reason such as
    "cvv"), "validation" (an API error code) or "settlement" (a settlement response
    code), mapped to crm-pay's category and to the reference kept and shown
    (``processor.2001``, ``gateway.cvv``, ``processor.other`` for a code of any other
    shape: nothing Braintree sends is echoed)."""
    kind = str(kind).strip().lower()
    raw = str(code).strip()
    # Only short runs of ASCII digits are kept (isdigit() alone would accept other
    # scripts' digits).
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else None
    if kind in ("processor", "failed"):
        # Braintree's processor codes, whether declined or failed: stored as processor.*
        if number is not None and (number in _PROCESSOR or 2000 <= number <= 2999):
            category = _PROCESSOR.get(number, _C.ISSUER_DECLINED)
            return DeclineInfo(kind, raw, raw_text, category.value, f"processor.{number}")
        return DeclineInfo(kind, raw, raw_text, _C.ISSUER_DECLINED.value, "processor.other")
    if kind == "gateway":
        reason = raw.lower()
        if reason in _GATEWAY:
            return DeclineInfo(kind, raw, raw_text, _GATEWAY[reason].value, f"gateway.{reason}")
        return DeclineInfo(kind, raw, raw_text, _C.NOT_APPROVED.value, "gateway.other")
    if kind in ("validation", "settlement"):
        reference = f"{kind}.{number}" if number is not None else f"{kind}.other"
        return DeclineInfo(kind, raw, raw_text, fallback_category(kind).value, reference)
    kind = kind if kind == "not_at_psp" else "unknown"
    return DeclineInfo(kind, raw, raw_text, fallback_category(kind).value, kind)


def category_of_reference(reference: str) -> str:
    """The category of a stored reference (``processor.2001``): for payments recorded
    before the category was stored with them. (Migration 0008 keeps its own frozen copy
    of this mapping: a migration must not change when this code does.)"""
    kind, _, raw = str(reference).partition(".")
    if kind in ("unknown", "not_at_psp") or not raw:
        return fallback_category(kind).value
    return classify_decline(kind, raw).category


_DECLINED = frozenset(
    {
        PspTxnStatus.PROCESSOR_DECLINED,
        PspTxnStatus.GATEWAY_REJECTED,
        PspTxnStatus.FAILED,
        PspTxnStatus.SETTLEMENT_DECLINED,
    }
)


def transaction_from_sdk(sdk_txn: Any) -> PspTransaction:
    """Map a ``braintree.Transaction`` to a :class:`PspTransaction`."""
    txn_id = getattr(sdk_txn, "id", None)
    if not txn_id:
        raise PspProtocolError("Braintree answered with a transaction that has no id")
    status = str(getattr(sdk_txn, "status", "") or "")
    txn = _transaction(sdk_txn, str(txn_id), _STATUSES.get(status, PspTxnStatus.OTHER))
    if txn.status in _DECLINED:
        txn = dataclasses.replace(txn, decline=_decline(sdk_txn, txn))
    return txn


def _transaction(sdk_txn: Any, txn_id: str, status: PspTxnStatus) -> PspTransaction:
    return PspTransaction(
        id=txn_id,
        status=status,
        amount=money_from_psp(
            getattr(sdk_txn, "amount", None), getattr(sdk_txn, "currency_iso_code", None)
        ),
        order_id=_text(getattr(sdk_txn, "order_id", None)),
        kind="credit" if getattr(sdk_txn, "type", None) == "credit" else "sale",
        card=_card_summary(sdk_txn),
        created_at=utc(getattr(sdk_txn, "created_at", None)),
        processor_response_code=_text(getattr(sdk_txn, "processor_response_code", None)),
        refunded_transaction_id=_text(getattr(sdk_txn, "refunded_transaction_id", None)),
        merchant_account_id=_text(getattr(sdk_txn, "merchant_account_id", None)),
        settlement_response_code=_text(
            getattr(sdk_txn, "processor_settlement_response_code", None)
        ),
        updated_at=utc(getattr(sdk_txn, "updated_at", None)),
        checks=_checks(sdk_txn),
        three_d_secure=_three_d_secure(sdk_txn),
    )


# Braintree's 3DS statuses are lower-case words joined by "_" ("authenticate_successful",
# "lookup_not_enrolled": docs "3DS status codes"); anything else is not kept.
_THREE_D_SECURE_STATUS = re.compile(r"[a-z][a-z0-9_]{0,59}")


def _three_d_secure(sdk_txn: Any) -> ThreeDSecureResult | None:
    """The transaction's ``three_d_secure_info`` (braintree_python ``ThreeDSecureInfo``:
    ``status``, ``liability_shifted``, ``liability_shift_possible``,
    ``three_d_secure_version``; None when the sale had no 3DS check)."""
    info = getattr(sdk_txn, "three_d_secure_info", None)
    if info is None:
        return None
    status = _text(getattr(info, "status", None)) or ""
    if not _THREE_D_SECURE_STATUS.fullmatch(status):
        return None
    version = _text(getattr(info, "three_d_secure_version", None))
    return ThreeDSecureResult(
        status=status,
        liability_shifted=getattr(info, "liability_shifted", None) is True,
        liability_shift_possible=getattr(info, "liability_shift_possible", None) is True,
        version=version[:10] if version else None,
    )


# Braintree's AVS/CVV answers are one letter (M, N, U, I, S, A, B: Braintree docs "AVS
# and CVV response codes"); its risk decisions a few words ("Approve", "Review",
# "Decline", "Not Evaluated"); unique_number_identifier 32 word characters (braintree_
# python tests/integration/test_credit_card.py asserts r"\A\w{32}\Z"). Anything else is
# dropped rather than echoed into a rule, a case or the audit.
_CHECK_CODE = re.compile(r"[A-Z]")
_RISK_DECISION = re.compile(r"[A-Za-z][A-Za-z ]{0,29}")
_FINGERPRINT = re.compile(r"\w{16,64}")


def _checks(sdk_txn: Any) -> CardChecks | None:
    def matching(pattern: re.Pattern[str], value: Any) -> str | None:
        text = _text(value)
        return text if text is not None and pattern.fullmatch(text) else None

    card = getattr(sdk_txn, "credit_card_details", None)
    risk = getattr(sdk_txn, "risk_data", None)
    checks = CardChecks(
        cvv=matching(_CHECK_CODE, getattr(sdk_txn, "cvv_response_code", None)),
        avs_postal_code=matching(
            _CHECK_CODE, getattr(sdk_txn, "avs_postal_code_response_code", None)
        ),
        avs_street_address=matching(
            _CHECK_CODE, getattr(sdk_txn, "avs_street_address_response_code", None)
        ),
        risk_decision=matching(_RISK_DECISION, getattr(risk, "decision", None)),
        card_fingerprint=matching(_FINGERPRINT, getattr(card, "unique_number_identifier", None)),
    )
    return None if checks == CardChecks() else checks


def _decline(sdk_txn: Any, txn: PspTransaction) -> DeclineInfo:
    """Why a transaction Braintree returned was not successful.

    ``kind`` is "processor" (code = processor response code, e.g. "2001"), "gateway"
    (code = gateway rejection reason, e.g. "cvv"), "failed" (Braintree could not reach
    the processor; code e.g. "3000", worth retrying later) or "settlement".
    """
    if txn.status is PspTxnStatus.GATEWAY_REJECTED:
        reason = _text(getattr(sdk_txn, "gateway_rejection_reason", None)) or "unknown"
        return classify_decline("gateway", reason, reason)
    if txn.status is PspTxnStatus.FAILED:
        kind = "failed"
    elif txn.status is PspTxnStatus.SETTLEMENT_DECLINED:
        code = _text(getattr(sdk_txn, "processor_settlement_response_code", None)) or "unknown"
        text = _text(getattr(sdk_txn, "processor_settlement_response_text", None)) or ""
        return classify_decline("settlement", code, text)
    else:
        kind = "processor"
    return classify_decline(
        kind,
        txn.processor_response_code or "unknown",
        _text(getattr(sdk_txn, "processor_response_text", None)) or "",
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
            decline=classify_decline("validation", code, str(result.message or "")),
        )
    txn = transaction_from_sdk(sdk_txn)
    check_matches(txn, expected_currency=expected_currency, expected_amount=expected_amount)
    if result.is_success:
        return SaleOutcome(approved=True, transaction=txn)
    return SaleOutcome(
        approved=False, transaction=txn, decline=txn.decline or _decline(sdk_txn, txn)
    )


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _money_or_none(amount: Any, currency: Any) -> Money | None:
    # A dispute must never be lost for an amount we cannot read: it is kept with the
    # amount unknown (None) and the services layer opens a case instead of booking.
    if amount is None or currency in (None, ""):
        return None
    try:
        return money_from_psp(amount, currency)
    except PspProtocolError:
        return None


def dispute_from_sdk(dispute: Any) -> PspDispute:
    """Map a ``braintree.Dispute`` (from a webhook or ``gateway.dispute.find``).

    Braintree sends the disputed transaction as a summary (id, amount, order id) in the
    dispute's currency; see the SDK's ``webhook_testing_gateway.py`` dispute samples.
    """
    dispute_id = _text(getattr(dispute, "id", None))
    if dispute_id is None:
        raise PspProtocolError("Braintree sent a dispute without an id")
    currency = getattr(dispute, "currency_iso_code", None)
    disputed = getattr(dispute, "amount_disputed", None)
    if disputed is None:
        disputed = getattr(dispute, "amount", None)
    details = getattr(dispute, "transaction_details", None)
    history = tuple(
        (str(getattr(h, "status", "") or ""), utc(getattr(h, "timestamp", None)))
        for h in (getattr(dispute, "status_history", None) or ())
    )
    return PspDispute(
        id=dispute_id,
        status=_text(getattr(dispute, "status", None)) or "open",
        kind=_text(getattr(dispute, "kind", None)) or "chargeback",
        reason=_text(getattr(dispute, "reason", None)) or "",
        amount=_money_or_none(disputed, currency),
        transaction_id=_text(getattr(details, "id", None)),
        transaction_amount=_money_or_none(getattr(details, "amount", None), currency),
        order_id=_text(getattr(details, "order_id", None)),
        reply_by=_day(getattr(dispute, "reply_by_date", None)),
        received_on=_day(getattr(dispute, "received_date", None)),
        case_number=_text(getattr(dispute, "case_number", None)),
        updated_at=utc(getattr(dispute, "updated_at", None)),
        status_history=history,
        evidence_ids=tuple(
            str(e.id) for e in (getattr(dispute, "evidence", None) or ()) if getattr(e, "id", None)
        ),
    )


# Subjects other than transactions and disputes that carry an id worth keeping.
_SUBJECTS = (
    "subscription",
    "merchant_account",
    "disbursement",
    "partner_merchant",
    "local_payment_completed",
    "local_payment_reversed",
    "local_payment_funded",
    "local_payment_expired",
)


# Braintree notice kinds crm-pay has no use for, by prefix, with the reason kept on the
# stored row (checked against every kind of the SDK's WebhookNotification.Kind in
# tests/unit/connectors/test_psp_braintree_webhook_kinds.py).
_IGNORED: tuple[tuple[str, str], ...] = (
    ("check", "Braintree's test notification; nothing to apply"),
    ("subscription_", "crm-pay does not use Braintree subscriptions"),
    ("disbursement", "a payout to the merchant's bank; no customer money moved"),
    ("transaction_disbursed", "a payout to the merchant's bank; no customer money moved"),
    ("transaction_retried", "an ACH retry; crm-pay takes card and wallet payments only"),
    ("transaction_reviewed", "a fraud-review decision made at Braintree; no money moved"),
    ("partner_merchant_", "a Braintree partner notice; it concerns no payment"),
    ("connected_merchant_", "a Braintree partner notice; it concerns no payment"),
    ("oauth_access_revoked", "a Braintree OAuth notice; crm-pay uses API keys"),
    ("local_payment_", "crm-pay does not offer local payment methods"),
    ("account_updater_", "cards on file live in the CRM; no payment changes"),
    ("granted_payment_", "cards on file live in the CRM; no payment changes"),
    ("grantor_updated_", "cards on file live in the CRM; no payment changes"),
    ("recipient_updated_", "cards on file live in the CRM; no payment changes"),
    ("payment_method_", "cards on file live in the CRM; no payment changes"),
)


def ignored_kind(kind: str) -> str | None:
    """Why crm-pay has no use for a Braintree notice of ``kind`` (``None``: a kind it
    applies, or one this list does not know)."""
    for prefix, reason in _IGNORED:
        if kind.startswith(prefix):
            return reason
    return None


def notification_from_sdk(notification: Any) -> WebhookNotification:
    """Map a verified ``braintree.WebhookNotification`` of any kind.

    ``event_id`` is ``"{kind}:{subject id}:{timestamp}"``: Braintree re-sends the same
    notification with the same kind, subject and timestamp, so replays dedupe on it.

    Raises ``WebhookRejected`` when the notice has no kind or timestamp (nothing to
    dedupe on). A transaction the notice describes only in part (the SDK's
    ``refund_failed`` and ``transaction_disbursed`` samples carry no currency) is kept
    as ``transaction_id`` alone: such kinds are not read as money movements.
    """
    kind = _text(getattr(notification, "kind", None))
    if kind is None:
        raise WebhookRejected(
            "Braintree webhook has no kind",
            code="webhook_undecodable",
        )
    timestamp = utc(getattr(notification, "timestamp", None))
    if timestamp is None:
        raise WebhookRejected(
            f"Braintree webhook {kind} has no timestamp, so it cannot be deduplicated",
            code="webhook_undecodable",
        )
    transaction: PspTransaction | None = None
    transaction_id: str | None = None
    dispute: PspDispute | None = None
    subject_id = ""
    sdk_dispute = getattr(notification, "dispute", None)
    sdk_txn = getattr(notification, "transaction", None)
    review = getattr(notification, "transaction_review", None)
    try:
        if sdk_dispute is not None:
            dispute = dispute_from_sdk(sdk_dispute)
            subject_id = dispute.id
            transaction_id = dispute.transaction_id
            if dispute.transaction_id and dispute.transaction_amount is not None:
                transaction = PspTransaction(
                    id=dispute.transaction_id,
                    status=PspTxnStatus.OTHER,  # a summary: never read as a status change
                    amount=dispute.transaction_amount,
                    order_id=dispute.order_id,
                )
        elif sdk_txn is not None:
            transaction_id = subject_id = _text(getattr(sdk_txn, "id", None)) or ""
            if getattr(sdk_txn, "currency_iso_code", None):
                transaction = transaction_from_sdk(sdk_txn)
        elif review is not None:
            transaction_id = subject_id = _text(getattr(review, "transaction_id", None)) or ""
        else:
            for attr in _SUBJECTS:
                subject = getattr(notification, attr, None)
                if subject is not None and getattr(subject, "id", None):
                    subject_id = str(subject.id)
                    break
    except PspProtocolError as exc:
        raise WebhookRejected(
            f"Braintree webhook {kind} could not be read: {exc.message}",
            code="webhook_undecodable",
        ) from None
    return WebhookNotification(
        kind=kind,
        event_id=f"{kind}:{subject_id}:{timestamp.isoformat()}",
        timestamp=timestamp,
        transaction=transaction,
        dispute_id=dispute.id if dispute is not None else None,
        dispute_amount=dispute.amount if dispute is not None else None,
        subject_id=subject_id,
        transaction_id=transaction_id or None,
        dispute=dispute,
        ignored=ignored_kind(kind),
    )


# Braintree's dispute error codes (SDK ``error_codes.py`` ErrorCodes.Dispute and
# DocumentUpload) in plain words for the supervisor.
_DISPUTE_REFUSALS = {
    "95701": "evidence can only be added while the dispute is open",
    "95702": "evidence can only be removed while the dispute is open",
    "95703": "only evidence documents can be attached to a dispute",
    "95704": "only an open dispute can be accepted",
    "95705": "only an open dispute can be finalized",
    "95706": "that evidence category is not valid",
    "95708": "the evidence text is too long",
    "95711": "that evidence category takes text only",
    "95712": "that evidence category takes a document only",
    "95714": "evidence of that category was already sent",
    "95726": "the dispute needs valid evidence before it can be finalized",
    "84902": "the file is too large",
    "84903": "the file type is not accepted (PDF, PNG, JPG)",
    "84904": "the file is malformed or encrypted",
    "84905": "the file has too many pages",
    "84906": "the file is empty",
}


def dispute_refusal(result: Any, operation: str, dispute_id: str) -> None:
    """Raise ``Conflict`` in plain words when Braintree refused a dispute operation."""
    if result is None:
        raise PspProtocolError(f"Braintree answered {operation} with nothing")
    if result.is_success:
        return
    errors = getattr(getattr(result, "errors", None), "deep_errors", None) or []
    code = str(errors[0].code) if errors else ""
    words = _DISPUTE_REFUSALS.get(code, "Braintree refused it")
    raise Conflict(
        f"dispute {dispute_id}: {operation} refused: {words}" + (f" ({code})" if code else ""),
        code="dispute_refused",
    )


# The extension the SDK's DocumentUploadGateway.__content_type (mimetypes.guess_type on
# the file's name) turns into the part's Content-Type.
_EVIDENCE_EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def evidence_document(filename: str, content: bytes, content_type: str) -> io.BytesIO:
    """A file object the SDK's ``document_upload.create`` accepts: it reads ``.name``
    for the upload's filename and content type, so the name ends in the extension of
    ``content_type``. The bytes stay in memory only."""
    extension = _EVIDENCE_EXTENSIONS.get(content_type)
    if extension is None:
        raise ValueError(f"evidence documents are PDF, PNG or JPEG, not {content_type!r}")
    stem, dot, _ = filename.rpartition(".")
    same = dot and mimetypes.guess_type(filename)[0] == content_type
    document = io.BytesIO(content)
    document.name = filename if same else f"{stem if dot else filename}{extension}"
    return document


# --------------------------------------------------------------------------- webhooks
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{32,128}")


def webhook_envelope(request: WebhookRequest) -> WebhookEnvelope:
    """Braintree posts a notice as the form fields ``bt_signature`` (``public_key|
    sha1-hmac``, ``&``-joined when several keys sign) and ``bt_payload`` (base64 XML)."""
    signature = str(request.form.get("bt_signature", "") or "")
    payload = str(request.form.get("bt_payload", "") or "")
    if not signature or not payload:
        raise WebhookRejected("bt_signature and bt_payload are required")
    return WebhookEnvelope(signature=signature, payload=payload)


def _decoded(payload: str) -> str | None:
    try:
        return base64.b64decode(payload, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def _signature_text(signature: str) -> str:
    """The parts of a ``bt_signature`` that are not a digest: its public keys. A SHA-1
    digest is 40 hex digits whose decimal runs pass the Luhn check now and then; it is
    not card data and must not get a genuine notification refused."""
    parts = []
    for pair in signature.split("&"):
        key, _, digest = pair.partition("|")
        parts.append(key)
        if not _HEX_DIGEST.fullmatch(digest):
            parts.append(digest)
    return "\n".join(parts)


def webhook_documents(envelope: WebhookEnvelope) -> tuple[str, ...]:
    """What a person could read in a Braintree notice: the signature's public keys, the
    raw payload and the XML document it encodes. A genuine notice masks card numbers
    (``411111******1111``), so a card number in any of them means it is not genuine."""
    decoded = _decoded(envelope.payload)
    return (_signature_text(envelope.signature), envelope.payload, decoded or "")
