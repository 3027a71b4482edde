"""Microsoft Dynamics 365 / Dataverse CRM connector (Web API, client credentials).

Setup and mapping: ``docs/crm/dynamics.md``.
"""

from .config import DEFAULT_MAPPING, SECRET_FIELDS, SETTINGS_FIELDS, ConfigField
from .connector import DynamicsCrm

__all__ = ["ConfigField", "DEFAULT_MAPPING", "DynamicsCrm", "SECRET_FIELDS", "SETTINGS_FIELDS"]
