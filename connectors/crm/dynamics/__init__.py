"""Microsoft Dynamics 365 / Dataverse CRM connector (Web API, client credentials).

Setup and mapping: ``docs/crm/dynamics.md``.
"""

from .config import DEFAULT_MAPPING, SECRET_FIELDS, SETTINGS_FIELDS, ConfigField
from .connector import DynamicsCrm

# Settings holding URLs the connector calls: checked by the outbound URL policy on save.
OUTBOUND_URL_SETTINGS = ("org_url", "authority")

__all__ = [
    "ConfigField",
    "DEFAULT_MAPPING",
    "DynamicsCrm",
    "OUTBOUND_URL_SETTINGS",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
]
