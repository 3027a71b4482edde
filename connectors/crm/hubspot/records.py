"""Translation between HubSpot records and our port values.

Internal to :mod:`connectors.crm.hubspot`: pure functions, no I/O, so the shapes HubSpot
sees are easy to read and to test.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from connectors.crm.builtin import normalize_phone
from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.ports import CrmCustomer, CrmPaymentRecord

from .config import HubSpotConfig

__all__ = [
    "CONTACT_PROPERTIES",
    "balance_properties",
    "contact_properties",
    "customer_from_contact",
    "hs_datetime",
    "note_body",
    "note_marker",
    "payment_properties",
    "phone_spellings",
    "receipt_file_name",
]

CONTACT_PROPERTIES: Final = ("firstname", "lastname", "email", "company")
_RECEIPT_NUMBER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def contact_properties(config: HubSpotConfig) -> list[str]:
    """Every contact property a lookup asks for, in a stable order."""
    names = [*CONTACT_PROPERTIES, *config.phone_properties()]
    for key in ("customer_currency_property", "customer_psp_id_property"):
        if config.prop(key):
            names.append(config.prop(key))
    return list(dict.fromkeys(names))


def customer_from_contact(config: HubSpotConfig, contact: Mapping[str, Any]) -> CrmCustomer:
    """A :class:`CrmCustomer` from a contact as the CRM v3 objects API returns it."""
    props: Mapping[str, Any] = contact.get("properties") or {}

    def text(name: str) -> str:
        value = props.get(name) if name else None
        return value.strip() if isinstance(value, str) else ""

    name = " ".join(part for part in (text("firstname"), text("lastname")) if part)
    phone = None
    for prop in config.phone_properties():
        phone = normalize_phone(text(prop), config.default_country_code)
        if phone:
            break
    currency = config.default_currency
    if text(config.prop("customer_currency_property")):
        # An unknown code in the CRM must not hide the customer from the agent.
        with contextlib.suppress(ValidationError):
            currency = normalize_currency(text(config.prop("customer_currency_property")))
    return CrmCustomer(
        crm_ref=str(contact["id"]),
        name=name or text("email") or f"HubSpot contact {contact['id']}",
        email=text("email") or None,
        phone=phone,
        company=text("company") or None,
        currency=currency,
        psp_customer_id=text(config.prop("customer_psp_id_property")) or None,
    )


def phone_spellings(e164: str) -> list[str]:
    """Ways a person may have typed ``e164`` into HubSpot (the search is exact-match).

    Results are still checked with :func:`normalize_phone`, so a spelling that matches
    another number by accident never returns the wrong customer.
    """
    digits = e164.lstrip("+")
    found = [e164, digits, "00" + digits]
    if digits.startswith("1") and len(digits) == 11:
        area, exchange, line = digits[1:4], digits[4:7], digits[7:]
        found += [
            digits[1:],
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area} {exchange} {line}",
            f"1-{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            f"+1 ({area}) {exchange}-{line}",
            f"+1-{area}-{exchange}-{line}",
        ]
    else:
        for cc_len in (1, 2, 3):  # we do not know where the country code ends: try each
            cc, national = digits[:cc_len], digits[cc_len:]
            found += [f"+{cc} {national}", f"0{national}"]
    return list(dict.fromkeys(found))


def payment_properties(config: HubSpotConfig, record: CrmPaymentRecord) -> dict[str, str]:
    """The payment object's properties for ``record`` (HubSpot takes every value as text)."""
    values: dict[str, str | None] = {
        "payment_id_property": record.payment_id,
        "payment_amount_property": record.amount.to_decimal_str(),
        "payment_currency_property": record.amount.currency,
        "payment_status_property": record.status,
        "payment_channel_property": record.channel,
        "payment_card_brand_property": record.card_brand or "",
        "payment_card_last4_property": record.card_last4 or "",
        "payment_psp_reference_property": record.psp_reference or "",
        "payment_receipt_number_property": record.receipt_number or "",
        "payment_customer_property": record.customer_ref,
        "payment_created_at_property": hs_datetime(record.created_at),
        "payment_updated_at_property": hs_datetime(record.updated_at),
    }
    return {
        config.prop(key): value or ""
        for key, value in values.items()
        if config.prop(key) and (value is not None)
    }


def balance_properties(config: HubSpotConfig, balance: Money, credit: Money) -> dict[str, str]:
    """The contact properties that hold the account balance and credit."""
    if balance.currency != credit.currency:
        raise ValidationError("balance and credit must be in the same currency")
    props = {
        config.prop("balance_property"): balance.to_decimal_str(),
        config.prop("credit_property"): credit.to_decimal_str(),
    }
    if config.prop("balance_currency_property"):
        props[config.prop("balance_currency_property")] = balance.currency
    return props


def hs_datetime(moment: datetime | None) -> str | None:
    """A HubSpot datetime value: ISO 8601 in UTC with milliseconds (naive means UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def note_marker(kind: str, key: str) -> str:
    """A single search token that identifies one note of ours (letters and digits only,
    so HubSpot's ``CONTAINS_TOKEN`` matches it whole)."""
    return "crmpay" + hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:32]


def note_body(text: str, marker: str) -> str:
    """Note HTML: the text (escaped, line breaks kept) and the marker in small print."""
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() or [""])
    return f"{paragraphs}<p><small>ref {marker}</small></p>"


def receipt_file_name(number: str) -> str:
    """The file name (without extension) of receipt ``number`` in the file manager."""
    if not _RECEIPT_NUMBER.fullmatch(number):
        raise ValidationError(f"receipt number {number!r} cannot name a file")
    return f"receipt-{number}"
