"""Test connection for the Salesforce connector: plain answers an admin can act on.

Internal to :mod:`connectors.crm.salesforce`. Each check is ``(name, ok, detail)``;
``detail`` says what works ("field Balance__c writable") or exactly what is wrong, quoting
Salesforce's own message when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm_pay.ports import ConnectionReport, CrmCallFailed

from .client import SalesforceApi
from .mapping import FieldMap
from .settings import Settings

__all__ = ["connection_report"]

Check = tuple[str, bool, str]


def connection_report(api: SalesforceApi, fields: FieldMap, settings: Settings) -> ConnectionReport:
    """Authenticate afresh (the cached token proves nothing about edited credentials),
    then describe every mapped object and check each mapped field."""
    api.auth.forget()
    try:
        token = api.auth.token()
        username = settings.username
        if token.identity_url:
            identity = api.get_json(token.identity_url, "identity")
            if isinstance(identity, dict) and identity.get("username"):
                username = str(identity["username"])
    except CrmCallFailed as exc:
        return ConnectionReport(ok=False, checks=(("authentication", False, _says(exc)),))
    who = (
        f"authenticated as {username} at {token.instance_url}"
        if username
        else (f"authenticated at {token.instance_url}")
    )
    checks: list[Check] = [("authentication", True, who)]
    for obj, read, write, external_id, mode in _wanted(fields):
        checks.extend(_object_checks(api, obj, read, write, external_id, mode))
    return ConnectionReport(ok=all(ok for _, ok, _ in checks), checks=tuple(checks))


def _wanted(fields: FieldMap) -> Iterable[tuple[str, list[str], list[str], str, str]]:
    """``(object, fields read, fields written, external id field, how we write)``, where
    how is "update" (existing records), "upsert" or "create" (new records only)."""
    f = fields
    yield (
        f["customer_object"],
        [
            f["customer_name_field"],
            *f.phone_fields,
            f["customer_email_field"],
            f["customer_currency_field"],
        ],
        [f["customer_balance_field"], f["customer_credit_field"]],
        "",
        "update",
    )
    payment_keys = [
        key for key in f.values if key.startswith("payment_") and key.endswith("_field")
    ]
    payment_keys.remove("payment_external_id_field")
    yield (
        f["payment_object"],
        [],
        [f[k] for k in payment_keys],
        f["payment_external_id_field"],
        "upsert",
    )
    if f["invoice_object"]:
        keys = (
            "invoice_customer_field",
            "invoice_number_field",
            "invoice_issued_field",
            "invoice_due_field",
            "invoice_amount_due_field",
            "invoice_currency_field",
            "invoice_status_field",
        )
        yield f["invoice_object"], [f[k] for k in keys], [], "", "update"
    if f["card_object"]:
        keys = (
            "card_customer_field",
            "card_token_field",
            "card_brand_field",
            "card_last4_field",
            "card_exp_month_field",
            "card_exp_year_field",
            "card_default_field",
        )
        yield f["card_object"], [f[k] for k in keys], [], "", "update"
    receipt_fields = ["Title", "PathOnClient", "VersionData", "FirstPublishLocationId"]
    yield "ContentVersion", [], receipt_fields, "", "create"
    yield f["note_object"], [], ["Subject", "Description", f["note_parent_field"]], "", "create"


def _object_checks(
    api: SalesforceApi, obj: str, read: list[str], write: list[str], external_id: str, mode: str
) -> list[Check]:
    name = f"object {obj}"
    try:
        described = api.get_json(f"sobjects/{obj}/describe", f"describe {obj}", allow_404=True)
    except CrmCallFailed as exc:
        return [(name, False, f"object {obj} cannot be described: {_says(exc)}")]
    if not isinstance(described, dict):
        return [(name, False, f"object {obj} not found (or not visible to the integration user)")]
    checks: list[Check] = []
    if mode != "update" and not described.get("createable"):
        checks.append(
            (name, False, f"object {obj} found, but the integration user cannot create it")
        )
    else:
        checks.append((name, True, f"object {obj} found"))
    by_name: dict[str, dict[str, Any]] = {
        str(d.get("name")): d for d in described.get("fields", []) if isinstance(d, dict)
    }
    for field in dict.fromkeys(n for n in read if n):
        info = by_name.get(field)
        ok = info is not None
        detail = f"field {field} readable" if ok else f"field {field} not found on {obj}"
        checks.append((f"field {obj}.{field}", ok, detail))
    if external_id:
        info = by_name.get(external_id)
        if info is None:
            detail = f"field {external_id} not found on {obj}"
        elif not info.get("externalId"):
            detail = f"field {external_id} is not marked External ID (and Unique)"
        else:
            detail = f"field {external_id} is an external id"
        ok = bool(info and info.get("externalId"))
        checks.append((f"field {obj}.{external_id}", ok, detail))
    for field in dict.fromkeys(n for n in write if n):
        info = by_name.get(field)
        if info is None:
            checks.append((f"field {obj}.{field}", False, f"field {field} not found on {obj}"))
            continue
        # An upsert both creates and updates: its fields must be both.
        writable = all(
            info.get(flag)
            for flag, needed in (("createable", mode != "update"), ("updateable", mode != "create"))
            if needed
        )
        detail = (
            f"field {field} writable"
            if writable
            else (
                f"field {field} is read-only for the integration user (check field-level security)"
            )
        )
        checks.append((f"field {obj}.{field}", writable, detail))
    return checks


def _says(exc: CrmCallFailed) -> str:
    return exc.crm_message or str(exc)
