"""HubSpot CRM connector: contacts are customers, a custom object holds payments, receipts
are private files noted on the contact's timeline.

Implements :class:`crm_pay.ports.CrmConnector`, :class:`~crm_pay.ports.BatchingCrm`
(batch upsert, 100 per call) and :class:`~crm_pay.ports.CrmTimeline`. Authenticates with a
private app's token or OAuth 2 (refresh token, through authlib). Setup: docs/crm/hubspot.md.
"""

from .config import DEFAULT_MAPPING, SECRET_FIELDS, SETTINGS_FIELDS, ConfigField
from .connector import HubSpotCrm
from .signature import hubspot_signature_v3, verify_hubspot_signature_v3

# Settings holding URLs the connector calls: checked by the outbound URL policy on save.
OUTBOUND_URL_SETTINGS = ("base_url",)

__all__ = [
    "ConfigField",
    "DEFAULT_MAPPING",
    "HubSpotCrm",
    "OUTBOUND_URL_SETTINGS",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "hubspot_signature_v3",
    "verify_hubspot_signature_v3",
]
