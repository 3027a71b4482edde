"""A simulated call, its Pay session, and the documents Twilio makes of them.

Sources, Twilio docs "Payments subresource" (twilio.com/docs/voice/api/payment-resource):

* the resource (``account_sid``, ``call_sid``, ``sid`` "PK" + 32 hex, ``date_created``,
  ``date_updated`` in RFC 2822, ``uri`` relative to ``https://api.twilio.com``), also the
  properties the SDK reads (twilio-python ``rest/api/v2010/account/call/payment.py``,
  ``PaymentInstance.__init__``, dates through ``deserialize.rfc2822_datetime``);
* "StatusCallback": every callback carries ``AccountSid``, ``CallSid``, ``Sid``,
  ``DateCreated``, ``PaymentConnector``, ``PaymentMethod``, and ``TokenType`` when
  tokenizing (``ChargeAmount`` when charging; the stand-in only tokenizes);
* "StatusCallback (update)": adds ``DateUpdated``, ``Capture``, ``PartialResult``,
  ``ErrorType``, ``Required``, ``PaymentCardNumber`` (last 4 visible), ``PaymentCardType``,
  ``ExpirationDate`` (clear), ``SecurityCode`` (redacted), ``PaymentCardPostalCode``;
* "StatusCallback (cancel/complete)": adds ``Result``, ``PaymentToken``, ``ProfileId``,
  ``PaymentConfirmationCode``, ``PaymentError``.

Callback dates are ISO 8601 with milliseconds (the docs' samples: "2021-08-10T03:55:53.408Z").
``Required`` lists the fields still to capture, comma-separated, in Capture's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from .keyed_card import AcceptedCard, masked_partial

__all__ = ["CARD_FIELDS", "Call", "PaySession"]

#: Capture values for a credit card, in the order Twilio's docs list them.
CARD_FIELDS = ("payment-card-number", "expiration-date", "security-code", "postal-code")


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Call:
    """A simulated call: ``in-progress`` until the caller hangs up (``completed``)."""

    sid: str
    account_sid: str
    caller: str
    called: str
    status: str = "in-progress"
    payment_sid: str | None = None  # the Pay session in progress on the call, if any
    agent: str | None = None  # the crm-pay username of the agent who took it, if known


@dataclass
class PaySession:
    """One Pay session. Digits being keyed live in ``keyed`` until the field ends, then
    are dropped; accepted values are kept masked (the card as brand, BIN and last 4)."""

    sid: str
    account_sid: str
    call_sid: str
    status_callback: str
    payment_connector: str
    token_type: str
    currency: str
    timeout: int
    valid_card_types: tuple[str, ...]
    asks_security_code: bool
    asks_postal_code: bool
    min_postal_code_length: int | None
    date_created: datetime
    date_updated: datetime
    state: str = "in-progress"  # then "complete" or "cancelled"
    capturing: str | None = None
    keyed: list[str] = field(default_factory=list, repr=False)
    card: AcceptedCard | None = None
    expiration_date: str | None = None
    security_code: str | None = None  # redacted, "xxx"
    postal_code: str | None = None
    payment_token: str | None = None
    last_error: str | None = None  # the ErrorType of the field last ended, for the phone

    @property
    def uri(self) -> str:
        call = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{self.call_sid}"
        return f"{call}/Payments/{self.sid}.json"

    @property
    def required(self) -> tuple[str, ...]:
        """The fields still to capture."""
        wanted = {
            "payment-card-number": self.card is None,
            "expiration-date": self.expiration_date is None,
            "security-code": self.asks_security_code and self.security_code is None,
            "postal-code": self.asks_postal_code and self.postal_code is None,
        }
        return tuple(name for name in CARD_FIELDS if wanted[name])

    def forget(self, name: str) -> None:
        """Drop a field's value (it is being asked for again)."""
        if name == "payment-card-number":
            self.card = None
        elif name == "expiration-date":
            self.expiration_date = None
        elif name == "security-code":
            self.security_code = None
        elif name == "postal-code":
            self.postal_code = None

    # ---------------------------------------------------------------- documents
    def resource(self) -> dict[str, Any]:
        """The JSON the REST API answers for the session."""
        return {
            "account_sid": self.account_sid,
            "call_sid": self.call_sid,
            "sid": self.sid,
            "date_created": format_datetime(self.date_created, usegmt=False),
            "date_updated": format_datetime(self.date_updated, usegmt=False),
            "uri": self.uri,
        }

    def common_form(self) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "CallSid": self.call_sid,
            "Sid": self.sid,
            "DateCreated": _iso(self.date_created),
            "PaymentConnector": self.payment_connector,
            "PaymentMethod": "credit-card",
            "TokenType": self.token_type,
        }

    def _values(self) -> dict[str, str]:
        values: dict[str, str] = {}
        if self.card is not None:
            values["PaymentCardNumber"] = self.card.masked
            values["PaymentCardType"] = self.card.card_type
        if self.expiration_date is not None:
            values["ExpirationDate"] = self.expiration_date
        if self.security_code is not None:
            values["SecurityCode"] = self.security_code
        if self.postal_code is not None:
            values["PaymentCardPostalCode"] = self.postal_code
        return values

    def update_form(
        self, capture: str, *, partial: bool, error_type: str | None = None
    ) -> dict[str, str]:
        """A "StatusCallback (update)" form for ``capture``; while digits are being keyed
        (``partial``) the field shows how many so far and never a digit of a card number
        or security code (expiry and postal code are not PCI data and show as keyed)."""
        form = {
            **self.common_form(),
            "DateUpdated": _iso(self.date_updated),
            "Capture": capture,
            "PartialResult": "true" if partial else "false",
            "Required": ",".join(self.required),
            **self._values(),
        }
        if partial and self.keyed:
            count = len(self.keyed)
            if capture == "payment-card-number":
                form["PaymentCardNumber"] = masked_partial(count)
            elif capture == "security-code":
                form["SecurityCode"] = masked_partial(count)
            elif capture == "expiration-date":
                form["ExpirationDate"] = "".join(self.keyed)
            else:
                form["PaymentCardPostalCode"] = "".join(self.keyed)
        if error_type:
            form["ErrorType"] = error_type
        return form

    def end_form(self, result: str, **extra: str) -> dict[str, str]:
        """A "StatusCallback (cancel/complete)" form."""
        return {
            **self.common_form(),
            "DateUpdated": _iso(self.date_updated),
            "Result": result,
            **self._values(),
            **extra,
        }
