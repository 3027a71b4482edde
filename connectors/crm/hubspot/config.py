"""Settings, secrets and field mapping of the HubSpot connector, and their admin-form fields.

Internal to :mod:`connectors.crm.hubspot`. Everything here is plain data checked once, at
construction, so a wrong configuration shows when the admin saves it rather than at the
first payment. Error messages name the field to fix and never echo a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from connectors.outbound import STRICT, OutboundPolicy
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import normalize_currency
from crm_pay.ports import ConfigField

__all__ = [
    "ConfigField",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAPPING",
    "HubSpotConfig",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "parse_config",
]

DEFAULT_BASE_URL: Final = "https://api.hubapi.com"
_AUTH_MODES: Final = ("private_app", "oauth")
# HubSpot internal names: lower-case letters, digits, underscores (custom object names such
# as ``p_payments``) or an objectTypeId such as ``2-1234567``.
_OBJECT_TYPE: Final = re.compile(r"[a-z][a-z0-9_]{0,99}|[0-9]+-[0-9]+")
_PROPERTY: Final = re.compile(r"[a-z][a-z0-9_]{0,99}")
_FOLDER: Final = re.compile(r"/[A-Za-z0-9 _\-/]{0,200}")


SETTINGS_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "auth",
        "Authentication",
        '"private_app" (an access token of a private app in your portal) or "oauth" '
        "(a public app installed in your portal, with a refresh token).",
        required=True,
    ),
    ConfigField("base_url", "API base URL", f"Leave empty for {DEFAULT_BASE_URL}.", required=False),
    ConfigField(
        "client_id",
        "OAuth client ID",
        'The public app\'s client ID (Auth tab of the app). Needed when auth is "oauth".',
    ),
    ConfigField(
        "receipts_folder",
        "Receipts folder",
        "Folder of the HubSpot file manager that receives receipt PDFs "
        "(default /crm-pay/receipts). Files are uploaded as private.",
    ),
    ConfigField(
        "default_country_code",
        "Default country calling code",
        "Country code for phone numbers stored without one in HubSpot (default 1).",
    ),
    ConfigField(
        "default_currency",
        "Default currency",
        "Currency of customers whose currency property is empty (default USD).",
    ),
)

SECRET_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "access_token",
        "Private app access token",
        "Settings > Integrations > Private Apps > your app > Auth > Access token. "
        'Needed when auth is "private_app".',
    ),
    ConfigField(
        "client_secret",
        "OAuth client secret",
        'The public app\'s client secret. Needed when auth is "oauth"; it also verifies '
        "the signature of the CRM card's requests.",
    ),
    ConfigField(
        "refresh_token",
        "OAuth refresh token",
        "The refresh token obtained when the app was installed in your portal. "
        'Needed when auth is "oauth".',
    ),
)

#: Where our data lives in HubSpot. Every key can be overridden by the admin's mapping.
DEFAULT_MAPPING: Final[Mapping[str, str]] = {
    # Customers are contacts; their crm_ref is the contact's record ID (hs_object_id).
    "customer_phone_properties": "phone,mobilephone",
    "customer_currency_property": "",  # empty: every customer pays in default_currency
    "customer_psp_id_property": "",  # empty: the PSP customer id is not kept in HubSpot
    "balance_property": "crm_pay_balance",
    "credit_property": "crm_pay_credit",
    "balance_currency_property": "crm_pay_balance_currency",
    # Payments: a custom object, upserted by our payment id (a unique-value property).
    "payment_object": "p_payments",
    "payment_id_property": "crm_pay_payment_id",
    "payment_amount_property": "amount",
    "payment_currency_property": "currency",
    "payment_status_property": "status",
    "payment_channel_property": "channel",
    "payment_card_brand_property": "card_brand",
    "payment_card_last4_property": "card_last4",
    "payment_psp_reference_property": "psp_reference",
    "payment_receipt_number_property": "receipt_number",
    "payment_customer_property": "crm_pay_contact_id",
    "payment_created_at_property": "crm_pay_created_at",
    "payment_updated_at_property": "crm_pay_updated_at",
    # Empty: the payment names its contact in payment_customer_property only. "default":
    # also associate it with the contact (v4 default association; the portal must have
    # one between the payment object and contacts, see docs/crm/hubspot.md).
    "payment_contact_association": "",
    # Invoices: HubSpot has none we read by default, so open_invoices() answers [].
    "invoice_object": "",
}

_OPTIONAL_PROPERTIES: Final = frozenset(
    {
        "customer_currency_property",
        "customer_psp_id_property",
        "balance_currency_property",
        "payment_channel_property",
        "payment_customer_property",
        "payment_created_at_property",
        "payment_updated_at_property",
    }
)


@dataclass(frozen=True, slots=True)
class HubSpotConfig:
    """Checked settings and mapping (secrets stay with the token source)."""

    auth: str
    base_url: str
    client_id: str
    receipts_folder: str
    default_country_code: str
    default_currency: str
    mapping: Mapping[str, str]

    def prop(self, key: str) -> str:
        """The HubSpot property name mapped to ``key`` ("" when the mapping leaves it out)."""
        return self.mapping[key]

    def phone_properties(self) -> tuple[str, ...]:
        return tuple(p for p in self.mapping["customer_phone_properties"].split(",") if p)


def parse_config(
    settings: Mapping[str, str],
    secrets: Mapping[str, str],
    mapping: Mapping[str, str] | None,
    *,
    outbound: OutboundPolicy = STRICT,
) -> HubSpotConfig:
    """Check everything the admin entered; raise ``ConfigurationError`` naming the field.
    ``base_url`` must pass the outbound URL policy (public https hosts unless allowed)."""
    auth = (settings.get("auth") or "private_app").strip()
    if auth not in _AUTH_MODES:
        raise ConfigurationError(
            f"HubSpot setting 'auth' is {auth!r}; use 'private_app' or 'oauth'"
        )
    needed = ("access_token",) if auth == "private_app" else ("client_secret", "refresh_token")
    missing = [name for name in needed if not (secrets.get(name) or "").strip()]
    if auth == "oauth" and not (settings.get("client_id") or "").strip():
        missing.insert(0, "client_id")
    if missing:
        raise ConfigurationError(
            f"HubSpot {auth} authentication needs {', '.join(missing)}; enter "
            f"{'it' if len(missing) == 1 else 'them'} in the connector form"
        )
    base_url = (settings.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
    outbound.check_url(base_url, setting="HubSpot setting 'base_url'")
    merged = {**DEFAULT_MAPPING, **{k: v.strip() for k, v in (mapping or {}).items()}}
    unknown = sorted(set(merged) - set(DEFAULT_MAPPING))
    if unknown:
        raise ConfigurationError(f"HubSpot mapping has unknown keys: {', '.join(unknown)}")
    _check_mapping(merged)
    folder = (settings.get("receipts_folder") or "/crm-pay/receipts").strip()
    if not _FOLDER.fullmatch(folder):
        raise ConfigurationError(
            "HubSpot setting 'receipts_folder' must be a folder path such as /crm-pay/receipts"
        )
    country = (settings.get("default_country_code") or "1").strip().lstrip("+")
    if not country.isdigit() or not 1 <= len(country) <= 3:
        raise ConfigurationError(
            "HubSpot setting 'default_country_code' must be 1 to 3 digits, e.g. 1 or 44"
        )
    try:
        currency = normalize_currency(settings.get("default_currency") or "USD")
    except ValidationError as exc:
        raise ConfigurationError(f"HubSpot setting 'default_currency': {exc}") from None
    return HubSpotConfig(
        auth=auth,
        base_url=base_url,
        client_id=(settings.get("client_id") or "").strip(),
        receipts_folder=folder.rstrip("/") or "/",
        default_country_code=country,
        default_currency=currency,
        mapping=merged,
    )


def _check_mapping(mapping: Mapping[str, str]) -> None:
    for key, value in mapping.items():
        if key == "payment_contact_association":
            if value not in ("", "default"):
                raise ConfigurationError(
                    "HubSpot mapping 'payment_contact_association' must be 'default' or empty"
                )
        elif key in ("payment_object", "invoice_object"):
            if (value or key == "payment_object") and not _OBJECT_TYPE.fullmatch(value):
                raise ConfigurationError(
                    f"HubSpot mapping {key!r} must be an object name such as p_payments "
                    "or an objectTypeId such as 2-1234567"
                )
        elif key == "customer_phone_properties":
            names = [n for n in value.split(",") if n]
            # HubSpot's search takes at most 5 filter groups: one per phone property.
            if not 1 <= len(names) <= 5 or not all(_PROPERTY.fullmatch(n) for n in names):
                raise ConfigurationError(
                    "HubSpot mapping 'customer_phone_properties' must list 1 to 5 property "
                    "names, e.g. phone,mobilephone"
                )
        elif (value or key not in _OPTIONAL_PROPERTIES) and not _PROPERTY.fullmatch(value):
            raise ConfigurationError(
                f"HubSpot mapping {key!r} must be a property's internal name "
                "(lower-case letters, digits and underscores)"
            )
