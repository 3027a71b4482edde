"""Field mapping for the Salesforce connector: which objects and fields hold our data.

Internal to :mod:`connectors.crm.salesforce`. A mapping is a flat ``str -> str`` table an
admin form can edit; :class:`FieldMap` checks it once (every value must be a plain API
name, so nothing from it can change the shape of a SOQL statement) and turns our port
values into Salesforce records and back. An empty value means "not mapped": the field is
neither read nor written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from connectors.crm.builtin import normalize_phone
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import Money
from crm_pay.ports import CardSummary, CrmCustomer, CrmInvoice, CrmInvoiceLine, CrmPaymentRecord

__all__ = [
    "DEFAULT_MAPPING",
    "FieldMap",
    "SalesforceValueError",
    "from_salesforce_money",
    "is_record_id",
    "soql_ends_with",
    "soql_quote",
    "soql_select",
    "to_salesforce_datetime",
    "to_salesforce_money",
]

#: The defaults documented in ``docs/crm/salesforce.md``. Keys are stable: admin forms
#: and stored connector configurations refer to them.
DEFAULT_MAPPING: Final[Mapping[str, str]] = MappingProxyType(
    {
        # The customer: an Account by default (use Contact for B2C orgs).
        "customer_object": "Account",
        "customer_name_field": "Name",
        "customer_phone_fields": "Phone",  # comma-separated, e.g. "Phone,MobilePhone"
        "customer_email_field": "",  # Account has none; "Email" on Contact, "PersonEmail"
        "customer_currency_field": "",  # "CurrencyIsoCode" in multi-currency orgs
        "customer_balance_field": "Balance__c",
        "customer_credit_field": "Credit__c",
        # The payment record we upsert by our own id.
        "payment_object": "Payment__c",
        "payment_external_id_field": "CrmPay_Payment_Id__c",
        "payment_customer_field": "Account__c",
        "payment_amount_field": "Amount__c",
        "payment_currency_field": "Currency__c",
        "payment_status_field": "Status__c",
        "payment_channel_field": "Channel__c",
        "payment_card_brand_field": "Card_Brand__c",
        "payment_card_last4_field": "Card_Last4__c",
        "payment_psp_reference_field": "PSP_Reference__c",
        "payment_receipt_number_field": "Receipt_Number__c",
        "payment_created_at_field": "Created_At__c",
        "payment_updated_at_field": "Updated_At__c",
        # Receipts: ContentVersion linked to the payment record ("payment") or customer.
        "receipt_parent": "payment",
        # Timeline notes (refunds, disputes): a completed Task on the customer.
        "note_object": "Task",
        "note_parent_field": "WhatId",  # "WhoId" when customers are Contacts
        # Invoices: none by default, so crm-pay uses its own ledger.
        "invoice_object": "",
        "invoice_customer_field": "Account__c",
        "invoice_number_field": "Name",
        "invoice_issued_field": "Issued_On__c",
        "invoice_due_field": "Due_On__c",
        "invoice_amount_due_field": "Amount_Due__c",
        "invoice_currency_field": "",
        "invoice_status_field": "Status__c",
        "invoice_open_statuses": "Open,Partially Paid",
        # Cards on file: none by default.
        "card_object": "",
        "card_customer_field": "Account__c",
        "card_token_field": "PSP_Token__c",
        "card_brand_field": "Brand__c",
        "card_last4_field": "Last4__c",
        "card_exp_month_field": "Exp_Month__c",
        "card_exp_year_field": "Exp_Year__c",
        "card_default_field": "Is_Default__c",
    }
)

# Keys whose values are data (not API names); they are quoted wherever they are used.
_LITERAL_KEYS: Final = frozenset({"receipt_parent", "invoice_open_statuses"})
_LIST_KEYS: Final = frozenset({"customer_phone_fields"})
_API_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RECORD_ID: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# SOQL string escapes (SOQL and SOSL reference, "Quoted String Escape Sequences").
_SOQL_ESCAPES: Final = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class SalesforceValueError(ValueError):
    """A value cannot be sent to Salesforce as it is (a non-id, a control character)."""


def is_record_id(value: str) -> bool:
    """True for a 15- or 18-character Salesforce record id (and nothing else)."""
    return isinstance(value, str) and _RECORD_ID.fullmatch(value) is not None


def soql_quote(value: str) -> str:
    """``value`` as a quoted SOQL string literal, every special character escaped."""
    out = []
    for char in value:
        if char in _SOQL_ESCAPES:
            out.append(_SOQL_ESCAPES[char])
        elif ord(char) < 0x20 or char == "\x7f":
            raise SalesforceValueError("control characters cannot be searched in Salesforce")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def soql_select(fields: Sequence[str], obj: str, where: str, limit: int) -> str:
    """``SELECT fields FROM obj WHERE where LIMIT limit``.

    Safe by construction, not by hope: object and field names come from a checked
    :class:`FieldMap` (plain API names) or are constants, and every literal in ``where``
    was written with :func:`soql_quote` or is a checked record id.
    """
    columns = ", ".join(fields)
    return f"SELECT {columns} FROM {obj} WHERE {where} LIMIT {int(limit)}"  # noqa: S608


def soql_ends_with(value: str) -> str:
    """A quoted LIKE pattern matching text that ends with ``value`` (its ``%`` and ``_``
    escaped as ``\\%`` / ``\\_``, so they match themselves only)."""
    quoted = soql_quote(value)[1:-1]
    return "'%" + quoted.replace("%", "\\%").replace("_", "\\_") + "'"


def to_salesforce_money(amount: Money) -> Decimal:
    """The exact decimal Salesforce stores in a number/currency field."""
    return Decimal(amount.to_decimal_str())


def from_salesforce_money(value: Any, currency: str) -> Money:
    """A Salesforce number (parsed as ``Decimal``) as exact ``Money``; never rounds."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(f"Salesforce sent {value!r} where an amount was expected")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError(f"Salesforce sent {value!r} where an amount was expected") from None
    if number < 0:
        return -Money.parse(format(-number, "f"), currency)
    return Money.parse(format(number, "f"), currency)


def to_salesforce_datetime(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, as Salesforce writes date-times."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # naive means UTC throughout crm-pay
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class FieldMap:
    """A checked mapping. Build it with :meth:`from_mapping`."""

    values: Mapping[str, str]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str] | None) -> FieldMap:
        """Merge ``mapping`` over :data:`DEFAULT_MAPPING` and check every value."""
        merged = dict(DEFAULT_MAPPING)
        for key, value in (mapping or {}).items():
            if key not in DEFAULT_MAPPING:
                known = ", ".join(sorted(DEFAULT_MAPPING))
                raise ConfigurationError(
                    f"unknown Salesforce mapping key {key!r}; use one of {known}"
                )
            merged[key] = (value or "").strip()
        for key, value in merged.items():
            if key in _LITERAL_KEYS or not value:
                continue
            names = [part.strip() for part in value.split(",")] if key in _LIST_KEYS else [value]
            for name in names:
                if not _API_NAME.fullmatch(name):
                    raise ConfigurationError(
                        f"Salesforce mapping {key}={value!r}: {name!r} is not an API name "
                        "(letters, digits and underscores, e.g. Balance__c)"
                    )
        if merged["receipt_parent"] not in ("payment", "customer"):
            raise ConfigurationError(
                "Salesforce mapping receipt_parent must be 'payment' or 'customer'"
            )
        for required in (
            "customer_object",
            "customer_name_field",
            "payment_object",
            "payment_external_id_field",
            "payment_customer_field",
        ):
            if not merged[required]:
                raise ConfigurationError(f"Salesforce mapping {required} must not be empty")
        return cls(MappingProxyType(merged))

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    @property
    def phone_fields(self) -> list[str]:
        raw = self.values["customer_phone_fields"]
        return [part.strip() for part in raw.split(",") if part.strip()]

    # ------------------------------------------------------------------ customers
    def customer_fields(self) -> list[str]:
        """Fields to SELECT for a :class:`CrmCustomer`."""
        wanted = [
            "Id",
            self["customer_name_field"],
            *self.phone_fields,
            self["customer_email_field"],
            self["customer_currency_field"],
        ]
        return list(dict.fromkeys(name for name in wanted if name))

    def customer_from(
        self, row: Mapping[str, Any], *, default_currency: str, country_code: str
    ) -> CrmCustomer:
        """A :class:`CrmCustomer` from a SOQL row; the first valid phone, as E.164."""
        phones = [_text(row.get(name)) for name in self.phone_fields]
        e164 = next((p for p in (normalize_phone(x, country_code) for x in phones if x) if p), None)
        currency_field = self["customer_currency_field"]
        currency = _text(row.get(currency_field)) if currency_field else None
        email_field = self["customer_email_field"]
        return CrmCustomer(
            crm_ref=str(row["Id"]),
            name=_text(row.get(self["customer_name_field"])) or "",
            email=_text(row.get(email_field)) if email_field else None,
            phone=e164,
            currency=currency or default_currency,
        )

    def stored_phones(self, row: Mapping[str, Any]) -> list[str]:
        return [text for text in (_text(row.get(name)) for name in self.phone_fields) if text]

    # ------------------------------------------------------------------ payments
    def payment_fields(self, record: CrmPaymentRecord) -> dict[str, Any]:
        """The payment's fields (without the external id and ``attributes``).

        Every mapped field is sent, ``None`` as ``null``: a record is the payment's whole
        state, so a replay of an older delivery and a newer one each leave exactly it.
        """
        if not is_record_id(record.customer_ref):
            raise SalesforceValueError(
                f"customer {record.customer_ref!r} is not a Salesforce record id"
            )
        values: dict[str, Any] = {
            "payment_customer_field": record.customer_ref,
            "payment_amount_field": to_salesforce_money(record.amount),
            "payment_currency_field": record.amount.currency,
            "payment_status_field": record.status,
            "payment_channel_field": record.channel,
            "payment_card_brand_field": record.card_brand,
            "payment_card_last4_field": record.card_last4,
            "payment_psp_reference_field": record.psp_reference,
            "payment_receipt_number_field": record.receipt_number,
            "payment_created_at_field": to_salesforce_datetime(record.created_at),
            "payment_updated_at_field": to_salesforce_datetime(record.updated_at),
        }
        return {self[key]: value for key, value in values.items() if self[key]}

    # ------------------------------------------------------------------ invoices
    def invoice_fields(self) -> list[str]:
        wanted = [
            "Id",
            self["invoice_number_field"],
            self["invoice_issued_field"],
            self["invoice_due_field"],
            self["invoice_amount_due_field"],
            self["invoice_currency_field"],
        ]
        return list(dict.fromkeys(name for name in wanted if name))

    def open_statuses(self) -> list[str]:
        raw = self.values["invoice_open_statuses"]
        return [part.strip() for part in raw.split(",") if part.strip()]

    def invoice_from(
        self, row: Mapping[str, Any], *, customer_ref: str, default_currency: str
    ) -> CrmInvoice:
        """One invoice from a SOQL row: a single line for the amount still due."""
        currency_field = self["invoice_currency_field"]
        currency = (_text(row.get(currency_field)) if currency_field else None) or default_currency
        number = _text(row.get(self["invoice_number_field"])) or str(row["Id"])
        due = from_salesforce_money(row.get(self["invoice_amount_due_field"]), currency)
        issued = _date(row.get(self["invoice_issued_field"]))
        due_on = _date(row.get(self["invoice_due_field"])) or issued
        issued = issued or due_on
        if issued is None or due_on is None:
            raise ValidationError(f"invoice {number} has neither an issue nor a due date")
        line = CrmInvoiceLine(f"Invoice {number}", 1, due, Money.zero(currency))
        return CrmInvoice(
            crm_ref=number,
            customer_ref=customer_ref,
            currency=due.currency,
            issued_on=issued,
            due_on=due_on,
            lines=(line,),
            shipping=Money.zero(currency),
        )

    # ------------------------------------------------------------------ cards
    def card_fields(self) -> list[str]:
        keys = (
            "card_token_field",
            "card_brand_field",
            "card_last4_field",
            "card_exp_month_field",
            "card_exp_year_field",
            "card_default_field",
        )
        return list(dict.fromkeys(["Id", *(self[key] for key in keys if self[key])]))

    def card_from(self, row: Mapping[str, Any]) -> tuple[str, CardSummary, bool] | None:
        """``(token, card, is_default)``, or ``None`` for a row without token or last 4."""
        token = _text(row.get(self["card_token_field"]))
        last4 = _text(row.get(self["card_last4_field"]))
        if not token or not last4 or not re.fullmatch(r"[0-9]{4}", last4):
            return None  # never display anything but four digits as "last 4"
        summary = CardSummary(
            brand=_text(row.get(self["card_brand_field"])) or "Card",
            last4=last4,
            exp_month=_optional(row, self["card_exp_month_field"]),
            exp_year=_optional(row, self["card_exp_year_field"]),
        )
        default_field = self["card_default_field"]
        return token, summary, bool(default_field and row.get(default_field) is True)


def _optional(row: Mapping[str, Any], field: str) -> str | None:
    return _text(row.get(field)) if field else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    text = str(value).strip()
    return text or None


def _date(value: Any) -> date | None:
    text = _text(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValidationError(f"Salesforce sent {text!r} where a date was expected") from None
