"""Salesforce as crm-pay's CRM: OAuth 2.0 (JWT bearer or client credentials), REST API.

:class:`SalesforceCrm` implements :class:`crm_pay.ports.CrmConnector`, ``BatchingCrm``
(sObject Collections, 200 records a call) and ``CrmTimeline`` (completed Tasks).
:data:`SETTINGS_FIELDS` and :data:`SECRET_FIELDS` describe what an admin enters,
:data:`DEFAULT_MAPPING` which Salesforce objects and fields hold our data. Setting it up
on the Salesforce side is described in ``docs/crm/salesforce.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.outbound import policy_from_config

from .connector import SalesforceCrm
from .mapping import DEFAULT_MAPPING
from .settings import SECRET_FIELDS, SETTINGS_FIELDS, ConfigField

# Settings holding URLs the connector calls: checked by the outbound URL policy on save.
OUTBOUND_URL_SETTINGS = ("login_url",)

__all__ = [
    "DEFAULT_MAPPING",
    "OUTBOUND_URL_SETTINGS",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "ConfigField",
    "SalesforceCrm",
    "from_config",
]


def from_config(
    config: Mapping[str, Any], *, instance_path: str, secret: Callable[[str], str | None]
) -> SalesforceCrm:
    """Factory for the ``crm_pay.crm`` entry point ``salesforce``.

    Settings come from ``CRM_PAY_SALESFORCE_<NAME>`` (e.g. ``CRM_PAY_SALESFORCE_CLIENT_ID``),
    secrets from the vault as ``crm.salesforce.private_key`` / ``crm.salesforce.client_secret``,
    and mapping overrides from the dict ``CRM_PAY_SALESFORCE_MAPPING``.
    """
    settings = {
        spec.name: str(config[key])
        for spec in SETTINGS_FIELDS
        if (key := f"CRM_PAY_SALESFORCE_{spec.name.upper()}") in config
    }
    secrets = {
        spec.name: value
        for spec in SECRET_FIELDS
        if (value := secret(f"crm.salesforce.{spec.name}"))
    }
    mapping = config.get("CRM_PAY_SALESFORCE_MAPPING") or None
    return SalesforceCrm(settings, secrets, mapping, outbound=policy_from_config(config))
