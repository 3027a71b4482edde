"""The Payments parameters, checked as Twilio checks them.

Twilio docs "Payments subresource" (twilio.com/docs/voice/api/payment-resource), request
parameters of Create and Update: ``IdempotencyKey`` and ``StatusCallback`` required;
``PaymentMethod`` credit-card (default) or ach-debit; ``ChargeAmount`` "a positive decimal
value less than 1,000,000 ... Leave blank or set to 0 to tokenize"; ``TokenType`` one-time,
reusable (default) or payment-method; ``Timeout`` default 5, maximum 600; ``SecurityCode``
and ``PostalCode`` default true; ``ValidCardTypes`` space-separated, default "visa
mastercard amex"; ``PaymentConnector`` default "Default"; ``Input`` only dtmf; ``Capture``
and ``Status`` enums as in twilio-python's ``PaymentInstance.Capture`` / ``.Status``.
A wrong value is error 64020, an unknown Pay Connector 64004 (Twilio's error dictionary).
The stand-in refuses what crm-pay does not use (a charge, ACH, the ``-matcher`` captures)
with 64020 and says so, rather than pretend.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .keyed_card import CARD_TYPES
from .pay_session import CARD_FIELDS
from .twilio_errors import TwilioError

__all__ = ["check_required", "check_update", "session_options"]

_TOKEN_TYPES = ("one-time", "reusable", "payment-method")
_OTHER_CAPTURES = (
    "bank-routing-number",
    "bank-account-number",
    "payment-card-number-matcher",
    "expiration-date-matcher",
    "security-code-matcher",
    "postal-code-matcher",
)


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise TwilioError.invalid_value(f"{name} must be true or false")
    return value.lower() == "true"


def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise TwilioError.invalid_value(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def check_required(params: Mapping[str, str]) -> None:
    """The two parameters every Create and Update must have."""
    for name in ("IdempotencyKey", "StatusCallback"):
        if not params.get(name):
            raise TwilioError.invalid_value(f"Missing required parameter {name}")
    callback = urlsplit(params["StatusCallback"])
    if callback.scheme not in ("http", "https") or not callback.netloc:
        raise TwilioError.invalid_value("StatusCallback must be an absolute http(s) URL")


def session_options(params: Mapping[str, str], connectors: tuple[str, ...]) -> dict[str, Any]:
    """A Create's parameters as :class:`PaySession` fields, or the refusal."""
    method = params.get("PaymentMethod") or "credit-card"
    if method not in ("credit-card", "ach-debit"):
        raise TwilioError.invalid_value("PaymentMethod must be credit-card or ach-debit")
    if method != "credit-card":
        raise TwilioError.invalid_value("the development stand-in captures credit-card only")
    try:
        amount = Decimal(params.get("ChargeAmount") or "0")
    except InvalidOperation:
        raise TwilioError.invalid_value("ChargeAmount must be a decimal number") from None
    if not Decimal(0) <= amount < Decimal(1_000_000):
        raise TwilioError.invalid_value("ChargeAmount must be from 0 to less than 1,000,000")
    if amount:
        raise TwilioError.invalid_value("the development stand-in only tokenizes (ChargeAmount 0)")
    token_type = params.get("TokenType") or "reusable"
    if token_type not in _TOKEN_TYPES:
        raise TwilioError.invalid_value(f"TokenType must be one of {', '.join(_TOKEN_TYPES)}")
    card_types = tuple((params.get("ValidCardTypes") or "visa mastercard amex").split())
    if not card_types or any(t not in CARD_TYPES for t in card_types):
        raise TwilioError.invalid_value("ValidCardTypes holds an unknown card type")
    connector = params.get("PaymentConnector") or "Default"
    if connector not in connectors:
        raise TwilioError(400, 64004, f"Pay: Invalid paymentConnector '{connector}'")
    if (params.get("Input") or "dtmf") != "dtmf":
        raise TwilioError.invalid_value("Input must be dtmf")
    return {
        "status_callback": params["StatusCallback"],
        "payment_connector": connector,
        "token_type": token_type,
        "currency": (params.get("Currency") or "usd").lower(),
        "timeout": _integer(params, "Timeout", 1, 600) or 5,
        "valid_card_types": card_types,
        "asks_security_code": _flag(params, "SecurityCode", True),
        "asks_postal_code": _flag(params, "PostalCode", True),
        "min_postal_code_length": _integer(params, "MinPostalCodeLength", 1, 10),
    }


def check_update(capture: str, status: str) -> None:
    """An Update's ``Capture`` or ``Status`` value (exactly one was checked present)."""
    if capture and capture not in CARD_FIELDS:
        if capture in _OTHER_CAPTURES:
            raise TwilioError.invalid_value(
                f"Capture {capture} is not supported by the development stand-in"
            )
        raise TwilioError.invalid_value(f"Capture must be one of {', '.join(CARD_FIELDS)}")
    if status and status not in ("complete", "cancel"):
        raise TwilioError.invalid_value("Status must be complete or cancel")
