"""What an admin enters for a Salesforce connector: settings, secrets, and their checks.

Internal to :mod:`connectors.crm.salesforce`; the field lists are re-exported by the
package so an admin form can render them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from connectors.outbound import STRICT, OutboundPolicy
from crm_pay.domain.errors import ConfigurationError, ValidationError
from crm_pay.domain.money import normalize_currency
from crm_pay.ports import ConfigField

__all__ = ["ConfigField", "SETTINGS_FIELDS", "SECRET_FIELDS", "Settings"]


SETTINGS_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "login_url",
        "Login URL",
        "https://login.salesforce.com for production, https://test.salesforce.com "
        "for sandboxes, or your My Domain URL (required for client credentials).",
        required=True,
        default="https://login.salesforce.com",
    ),
    ConfigField(
        "auth_flow",
        "Authentication",
        "jwt_bearer: signed assertion with the private key (recommended). "
        "client_credentials: consumer key and secret, run as the app's integration user.",
        required=True,
        default="jwt_bearer",
        choices=("jwt_bearer", "client_credentials"),
    ),
    ConfigField(
        "client_id",
        "Consumer key",
        "The consumer key of the connected app or external client app.",
        required=True,
    ),
    ConfigField(
        "username",
        "Integration username",
        "The Salesforce username crm-pay acts as (JWT bearer only; the app must be "
        "pre-authorized for this user's profile or permission set).",
        required=False,
    ),
    ConfigField(
        "api_version",
        "API version",
        "REST API version, e.g. v60.0.",
        required=True,
        default="v60.0",
    ),
    ConfigField(
        "jwt_audience",
        "JWT audience",
        "Leave empty to use the login URL. Set https://test.salesforce.com when "
        "logging in to a sandbox through its My Domain URL.",
        required=False,
    ),
    ConfigField(
        "default_currency",
        "Default currency",
        "ISO 4217 currency of customers whose record has none.",
        required=False,
        default="USD",
    ),
    ConfigField(
        "phone_country_code",
        "Phone country code",
        "Country calling code assumed for phone numbers stored without one "
        "(1 for North America, 44 for the UK).",
        required=False,
        default="1",
    ),
    ConfigField(
        "session_timeout_minutes",
        "Session timeout (minutes)",
        "Your org's session timeout (Setup > Session Settings). crm-pay renews the "
        "token before it, and at once if Salesforce ends the session early.",
        required=False,
        default="120",
    ),
    ConfigField(
        "timeout_seconds",
        "Request timeout (seconds)",
        "How long one call to Salesforce may take.",
        required=False,
        default="20",
    ),
)

SECRET_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "private_key",
        "Private key (PEM)",
        "The RSA private key whose certificate is uploaded to the app "
        "(JWT bearer). Stored encrypted, never shown again.",
        required=False,
    ),
    ConfigField(
        "client_secret",
        "Consumer secret",
        "The app's consumer secret (client credentials). Stored encrypted, never shown again.",
        required=False,
    ),
)

_API_VERSION: Final = re.compile(r"v[1-9][0-9]{1,2}\.[0-9]")
_COUNTRY_CODE: Final = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Checked settings; every problem is reported with how to fix it."""

    login_url: str
    auth_flow: str
    client_id: str
    username: str
    api_version: str
    jwt_audience: str
    default_currency: str
    phone_country_code: str
    session_lifetime: float
    timeout: float

    @classmethod
    def from_mapping(cls, raw: Mapping[str, str], *, outbound: OutboundPolicy = STRICT) -> Settings:
        """Check the admin's values; ``login_url`` must pass the outbound URL policy."""
        known = {f.name for f in SETTINGS_FIELDS}
        unknown = sorted(set(raw) - known)
        if unknown:
            listed = ", ".join(sorted(known))
            raise ConfigurationError(
                f"unknown Salesforce setting(s) {', '.join(unknown)}; use {listed}"
            )
        values = {
            f.name: (str(raw.get(f.name) or "").strip() or f.default) for f in SETTINGS_FIELDS
        }
        for spec in SETTINGS_FIELDS:
            if spec.required and not values[spec.name]:
                raise ConfigurationError(
                    f"Salesforce setting {spec.name} ({spec.label}) is required"
                )
            if spec.choices and values[spec.name] not in spec.choices:
                raise ConfigurationError(
                    f"Salesforce setting {spec.name} must be one of {', '.join(spec.choices)}"
                )
        login_url = values["login_url"].rstrip("/")
        parts = urlsplit(login_url)
        if parts.scheme != "https" or not parts.hostname or parts.path or parts.query:
            raise ConfigurationError(
                f"Salesforce login_url {login_url!r} must be an https URL without a path, "
                "e.g. https://login.salesforce.com"
            )
        outbound.check_url(login_url, setting="Salesforce login_url")
        if values["auth_flow"] == "jwt_bearer" and not values["username"]:
            raise ConfigurationError("Salesforce setting username is required for JWT bearer")
        if not _API_VERSION.fullmatch(values["api_version"]):
            raise ConfigurationError("Salesforce api_version must look like v60.0")
        if not _COUNTRY_CODE.fullmatch(values["phone_country_code"]):
            raise ConfigurationError("Salesforce phone_country_code must be digits, e.g. 1 or 44")
        return cls(
            login_url=login_url,
            auth_flow=values["auth_flow"],
            client_id=values["client_id"],
            username=values["username"],
            api_version=values["api_version"],
            jwt_audience=values["jwt_audience"].rstrip("/") or login_url,
            default_currency=_currency(values["default_currency"]),
            phone_country_code=values["phone_country_code"],
            session_lifetime=_positive(values, "session_timeout_minutes") * 60.0,
            timeout=_positive(values, "timeout_seconds"),
        )


def _currency(code: str) -> str:
    try:
        return normalize_currency(code)
    except ValidationError as exc:
        raise ConfigurationError(f"Salesforce setting default_currency: {exc}") from None


def _positive(values: Mapping[str, str], name: str) -> float:
    text = values[name]
    if not text.isdigit() or int(text) == 0:
        raise ConfigurationError(f"Salesforce setting {name} must be a whole number above 0")
    return float(text)
