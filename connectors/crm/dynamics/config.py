"""Settings, secrets and field mapping of the Dynamics 365 / Dataverse connector.

Internal to :mod:`connectors.crm.dynamics`. Everything here is plain data checked once, at
construction, so a wrong configuration shows when the admin saves it rather than at the
first payment. Error messages name the field to fix and never echo a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from connectors.http import timeout_setting
from connectors.outbound import STRICT, OutboundPolicy
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import normalize_currency
from crm_pay.ports import ConfigField

__all__ = [
    "API_PATH",
    "ConfigField",
    "DEFAULT_AUTHORITY",
    "DEFAULT_MAPPING",
    "DynamicsConfig",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "parse_config",
]

DEFAULT_AUTHORITY: Final = "https://login.microsoftonline.com"
API_PATH: Final = "/api/data/v9.2/"
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Dataverse logical names, entity set names and navigation properties (schema names of
# lookups keep their capitals, e.g. ``crmpay_Contact``). Nothing that could bend a URL.
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TENANT: Final = re.compile(r"[A-Za-z0-9.\-]{1,253}")


SETTINGS_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "tenant_id",
        "Directory (tenant) ID",
        "Microsoft Entra admin center > App registrations > your app > Overview.",
        required=True,
    ),
    ConfigField(
        "client_id",
        "Application (client) ID",
        "Same page as the tenant ID. The app must also be an application user of the "
        "Dataverse environment, with a security role.",
        required=True,
    ),
    ConfigField(
        "org_url",
        "Environment URL",
        "https://{org}.crm.dynamics.com (Power Platform admin center > Environments > "
        "your environment > Environment URL).",
        required=True,
    ),
    ConfigField(
        "authority",
        "Sign-in authority",
        f"Leave empty for {DEFAULT_AUTHORITY}; national clouds use their own.",
    ),
    ConfigField(
        "default_country_code",
        "Default country calling code",
        "Country code for phone numbers stored without one in Dataverse (default 1).",
    ),
    ConfigField(
        "default_currency",
        "Default currency",
        "ISO 4217 code of the customers' currency (default USD).",
    ),
    ConfigField("timeout", "Timeout (seconds)", "Per HTTP call (default 30)."),
)

SECRET_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "client_secret",
        "Client secret",
        "App registration > Certificates & secrets > New client secret: the Value "
        "(not the Secret ID). Shown by Microsoft only once.",
        required=True,
    ),
)

#: Where our data lives in Dataverse. Every key can be overridden by the admin's mapping.
#: Names are logical names, except ``payment_customer_lookup`` which is the lookup's
#: navigation property (its schema name, capitals included). An empty column is not sent.
DEFAULT_MAPPING: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Customers are contacts; their crm_ref is the contactid GUID.
        "customer_table": "contact",
        "customer_entity_set": "contacts",
        "customer_id_column": "contactid",
        "customer_name_column": "fullname",
        "customer_phone_columns": "telephone1,mobilephone",
        "customer_email_column": "emailaddress1",
        "customer_psp_id_column": "",  # empty: the PSP customer id is not kept in Dataverse
        "balance_column": "crmpay_balance",
        "credit_column": "crmpay_credit",
        # Payments: a custom table upserted by an alternate key holding our payment id.
        "payment_table": "crmpay_payment",
        "payment_entity_set": "crmpay_payments",
        "payment_key_column": "crmpay_externalid",
        "payment_customer_lookup": "crmpay_Contact",
        "payment_amount_column": "crmpay_amount",
        "payment_currency_column": "crmpay_currency",
        "payment_status_column": "crmpay_status",
        "payment_channel_column": "crmpay_channel",
        "payment_card_brand_column": "crmpay_cardbrand",
        "payment_card_last4_column": "crmpay_cardlast4",
        "payment_psp_reference_column": "crmpay_pspreference",
        "payment_receipt_number_column": "crmpay_receiptnumber",
        "payment_created_at_column": "crmpay_createdat",
        "payment_updated_at_column": "crmpay_updatedat",
    }
)
_OPTIONAL: Final = frozenset(
    {"customer_psp_id_column", "balance_column", "credit_column"}
    | {key for key in DEFAULT_MAPPING if key.startswith("payment_") and key.endswith("_column")}
) - {"payment_key_column"}


@dataclass(frozen=True, slots=True)
class DynamicsConfig:
    """A checked configuration. ``client_secret`` is kept out of ``repr``."""

    tenant_id: str
    client_id: str
    org_url: str  # "https://contoso.crm.dynamics.com", no trailing slash
    authority: str
    default_country_code: str
    default_currency: str
    timeout: float
    mapping: Mapping[str, str]
    client_secret: str = ""

    def __repr__(self) -> str:
        return f"DynamicsConfig(org_url={self.org_url!r}, client_id={self.client_id!r})"

    @property
    def api_url(self) -> str:
        """``https://{org}.crm.dynamics.com/api/data/v9.2/``."""
        return self.org_url + API_PATH

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        return f"{self.org_url}/.default"

    @property
    def phone_columns(self) -> tuple[str, ...]:
        raw = self.mapping["customer_phone_columns"]
        return tuple(name.strip() for name in raw.split(",") if name.strip())


def parse_config(
    settings: Mapping[str, object],
    secrets: Mapping[str, object],
    mapping: Mapping[str, str] | None = None,
    *,
    outbound: OutboundPolicy = STRICT,
) -> DynamicsConfig:
    """Check ``settings``, ``secrets`` and ``mapping``; raise ``ConfigurationError`` naming
    the field to fix. ``org_url`` and ``authority`` must pass the outbound URL policy."""
    tenant_id = _text(settings, "tenant_id")
    if not (_GUID.fullmatch(tenant_id) or _TENANT.fullmatch(tenant_id)):
        raise ConfigurationError("tenant_id must be the directory (tenant) ID, a GUID")
    client_id = _text(settings, "client_id")
    if not _GUID.fullmatch(client_id):
        raise ConfigurationError("client_id must be the application (client) ID, a GUID")
    org_url = _https_origin(_text(settings, "org_url"), "org_url", outbound)
    authority = _https_origin(
        _text(settings, "authority", required=False) or DEFAULT_AUTHORITY, "authority", outbound
    )
    country = _text(settings, "default_country_code", required=False) or "1"
    if not country.isdigit() or len(country) > 3:
        raise ConfigurationError("default_country_code must be 1 to 3 digits, such as 1 or 44")
    try:
        currency = normalize_currency(_text(settings, "default_currency", required=False) or "USD")
    except ValidationError as exc:
        raise ConfigurationError(f"default_currency: {exc.message}") from None
    timeout = timeout_setting(settings.get("timeout"), default=30.0, low=1, high=300)
    secret = secrets.get("client_secret")
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigurationError(
            "client_secret is missing: create one under the app registration's "
            "Certificates & secrets and paste its Value"
        )
    return DynamicsConfig(
        tenant_id=tenant_id,
        client_id=client_id,
        org_url=org_url,
        authority=authority,
        default_country_code=country,
        default_currency=currency,
        timeout=timeout,
        mapping=_mapping(mapping or {}),
        client_secret=secret.strip(),
    )


def _text(settings: Mapping[str, object], key: str, *, required: bool = True) -> str:
    value = settings.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigurationError(f"{key} is required for the Dynamics 365 connector")
        return ""
    if not isinstance(value, str):
        raise ConfigurationError(f"{key} must be text")
    return value.strip()


def _https_origin(url: str, key: str, outbound: OutboundPolicy) -> str:
    outbound.check_url(url, setting=key)
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme != "https" or not parts.hostname or parts.path or parts.query:
        raise ConfigurationError(
            f"{key} must be an https URL without a path, such as https://contoso.crm.dynamics.com"
        )
    return f"https://{parts.netloc}"


def _mapping(overrides: Mapping[str, str]) -> Mapping[str, str]:
    unknown = sorted(set(overrides) - set(DEFAULT_MAPPING))
    if unknown:
        raise ConfigurationError(
            f"unknown mapping keys {', '.join(unknown)}; known keys: "
            + ", ".join(sorted(DEFAULT_MAPPING))
        )
    merged = {**DEFAULT_MAPPING, **{k: (v or "").strip() for k, v in overrides.items()}}
    for key, value in merged.items():
        names = value.split(",") if key == "customer_phone_columns" else [value]
        for name in (n.strip() for n in names):
            if not name and (key in _OPTIONAL or key == "customer_phone_columns"):
                continue
            if not _NAME.fullmatch(name):
                raise ConfigurationError(
                    f"mapping {key}: {name!r} is not a Dataverse name (letters, digits and "
                    "underscores, starting with a letter)"
                )
    return MappingProxyType(merged)
