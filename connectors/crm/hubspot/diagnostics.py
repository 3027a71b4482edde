"""Test connection: plain answers for the admin, or exactly what HubSpot said is wrong.

Internal to :mod:`connectors.crm.hubspot`. Read-only calls only: the account details
(which also proves the token), the payment object's schema, and every mapped property.
"""

from __future__ import annotations

import re
from typing import Any, Final

from crm_pay.ports import ConnectionReport, CrmCallFailed

from .config import HubSpotConfig
from .transport import HubSpotApi

__all__ = ["run_checks"]

_CUSTOM_OBJECT: Final = re.compile(r"p_[a-z0-9_]+|2-[0-9]+")
_PAYMENT_KEYS: Final = (
    "payment_id_property",
    "payment_amount_property",
    "payment_currency_property",
    "payment_status_property",
    "payment_channel_property",
    "payment_card_brand_property",
    "payment_card_last4_property",
    "payment_psp_reference_property",
    "payment_receipt_number_property",
    "payment_customer_property",
    "payment_created_at_property",
    "payment_updated_at_property",
)
_CONTACT_KEYS: Final = ("balance_property", "credit_property", "balance_currency_property")

Check = tuple[str, bool, str]


def run_checks(api: HubSpotApi, config: HubSpotConfig) -> ConnectionReport:
    """Run every check; stop after the first if the credentials themselves fail."""
    checks: list[Check] = []
    try:
        details = api.call("GET", "/account-info/v3/details")
        checks.append(("authentication", True, f"authenticated (portal {details['portalId']})"))
    except CrmCallFailed as exc:
        checks.append(("authentication", False, _said(exc)))
        return ConnectionReport(ok=False, checks=tuple(checks))
    payment_object = config.prop("payment_object")
    checks.append(_object_check(api, payment_object))
    if checks[-1][1]:
        for key in _PAYMENT_KEYS:
            if config.prop(key):
                unique = key == "payment_id_property"
                checks.append(_property_check(api, payment_object, config.prop(key), unique))
    for key in _CONTACT_KEYS:
        if config.prop(key):
            checks.append(_property_check(api, "contacts", config.prop(key), False))
    return ConnectionReport(ok=all(ok for _, ok, _ in checks), checks=tuple(checks))


def _object_check(api: HubSpotApi, object_type: str) -> Check:
    name = "payment object"
    if not _CUSTOM_OBJECT.fullmatch(object_type):
        return name, True, f"object type {object_type} (a standard object)"
    try:
        schema = api.call("GET", f"/crm/v3/schemas/{object_type}", allow_404=True)
    except CrmCallFailed as exc:
        return name, False, _said(exc)
    if schema is None:
        return (
            name,
            False,
            f"object type {object_type} not found: create the custom object "
            "(docs/crm/hubspot.md) or fix the mapping 'payment_object'",
        )
    return name, True, f"object type {object_type} found"


def _property_check(api: HubSpotApi, object_type: str, prop: str, unique: bool) -> Check:
    name = f"property {object_type}.{prop}"
    try:
        found: Any = api.call("GET", f"/crm/v3/properties/{object_type}/{prop}", allow_404=True)
    except CrmCallFailed as exc:
        return name, False, _said(exc)
    if found is None:
        return name, False, f"property {prop} not found on {object_type}: create it or fix mapping"
    if (found.get("modificationMetadata") or {}).get("readOnlyValue"):
        return name, False, f"property {prop} is read-only in HubSpot; map a writable property"
    if unique and not found.get("hasUniqueValue"):
        return (
            name,
            False,
            f"property {prop} must require unique values: upserts find payments by it",
        )
    return name, True, f"property {prop} writable" + (" and unique" if unique else "")


def _said(exc: CrmCallFailed) -> str:
    """HubSpot's own words when it gave some, else our description of the failure."""
    return exc.crm_message or str(exc)
