"""Generic signed-webhook CRM connector (write-only).

Event types, payloads, signature verification and retry semantics:
``docs/crm/webhook.md``.
"""

from .config import SECRET_FIELDS, SETTINGS_FIELDS, ConfigField
from .connector import WebhookCrm, event_type_for_status
from .signing import EVENT_ID_HEADER, SIGNATURE_HEADER, event_id, sign, verify_signature

# Settings holding URLs the connector calls: checked by the outbound URL policy on save.
OUTBOUND_URL_SETTINGS = ("url",)

__all__ = [
    "ConfigField",
    "EVENT_ID_HEADER",
    "OUTBOUND_URL_SETTINGS",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "SIGNATURE_HEADER",
    "WebhookCrm",
    "event_id",
    "event_type_for_status",
    "sign",
    "verify_signature",
]
