"""Admin-form fields of the webhook connector. Internal to :mod:`connectors.crm.webhook`."""

from __future__ import annotations

from typing import Final

from crm_pay.ports import ConfigField

__all__ = ["ConfigField", "SECRET_FIELDS", "SETTINGS_FIELDS"]


SETTINGS_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "url",
        "Receiver URL",
        "Where events are POSTed. https to a public host (private hosts only when named in "
        "CRM_PAY_OUTBOUND_ALLOW_HOSTS; http only to localhost in demo mode).",
        required=True,
    ),
    ConfigField("timeout", "Timeout (seconds)", "Per delivery attempt (default 10)."),
    ConfigField(
        "include_pdf",
        "Include receipt PDFs",
        'Set to "true" to send the receipt PDF in base64 with receipt.issued (default: '
        "metadata and SHA-256 only).",
    ),
)

SECRET_FIELDS: Final[tuple[ConfigField, ...]] = (
    ConfigField(
        "signing_secret",
        "Signing secret",
        "A random value of at least 16 characters shared with the receiver, which uses it "
        "to verify the CrmPay-Signature header.",
        required=True,
    ),
)
