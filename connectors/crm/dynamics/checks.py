"""``test_connection`` of the Dynamics 365 connector: plain answers for the admin.

Internal to :mod:`connectors.crm.dynamics`. Each check is ``(name, ok, detail)``; a failed
detail carries Microsoft's or Dataverse's own message verbatim, plus what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_pay.ports import ConnectionReport, CrmCallFailed

from .auth import TokenSource
from .config import DynamicsConfig
from .web_api import DataverseApi, odata_error, odata_string

__all__ = ["run_checks"]

Check = tuple[str, bool, str]

_READ_COLUMNS = ("customer_id_column", "customer_name_column", "customer_email_column")
_WRITE_CUSTOMER_COLUMNS = ("balance_column", "credit_column")


def run_checks(api: DataverseApi, tokens: TokenSource, config: DynamicsConfig) -> ConnectionReport:
    """Sign in, ``WhoAmI``, then the customer and payment tables and their columns."""
    checks: list[Check] = []
    try:
        tokens.bearer()
    except CrmCallFailed as exc:
        checks.append(("sign-in", False, f"{exc}. Check the tenant ID, client ID and secret."))
        return ConnectionReport(ok=False, checks=tuple(checks))
    checks.append(
        ("sign-in", True, f"Microsoft identity platform issued a token for {config.scope}")
    )
    try:
        who = api.get("WhoAmI", what="WhoAmI") or {}
    except CrmCallFailed as exc:
        hint = (
            " Add the app as an application user of this environment (Power Platform admin "
            "center > Environments > Settings > Users + permissions > Application users) and "
            "give it a security role."
        )
        checks.append(("identity", False, str(exc) + hint))
        return ConnectionReport(ok=False, checks=tuple(checks))
    checks.append(
        (
            "identity",
            True,
            f"authenticated as application {config.client_id} (WhoAmI UserId "
            f"{who.get('UserId')}, organization {who.get('OrganizationId')})",
        )
    )
    mapping = config.mapping
    customer_read = [mapping[key] for key in _READ_COLUMNS] + list(config.phone_columns)
    if mapping["customer_psp_id_column"]:
        customer_read.append(mapping["customer_psp_id_column"])
    customer_write = [mapping[key] for key in _WRITE_CUSTOMER_COLUMNS if mapping[key]]
    checks += _table_checks(
        api,
        mapping["customer_table"],
        mapping["customer_entity_set"],
        customer_read,
        customer_write,
    )
    payment_write = [
        value
        for key, value in mapping.items()
        if key.startswith("payment_") and key.endswith("_column") and value
    ] + [mapping["payment_customer_lookup"].lower()]
    checks += _table_checks(
        api,
        mapping["payment_table"],
        mapping["payment_entity_set"],
        [],
        payment_write,
        key_column=mapping["payment_key_column"],
    )
    return ConnectionReport(ok=all(ok for _, ok, _ in checks), checks=tuple(checks))


def _table_checks(
    api: DataverseApi,
    table: str,
    entity_set: str,
    readable: list[str],
    writable: list[str],
    *,
    key_column: str | None = None,
) -> list[Check]:
    name = f"table {table}"
    expand = "Attributes($select=LogicalName,IsValidForUpdate,IsValidForCreate)"
    if key_column:
        expand += ",Keys($select=LogicalName,KeyAttributes,EntityKeyIndexStatus)"
    params = {"$select": "LogicalName,EntitySetName", "$expand": expand}
    try:
        response = api.send(
            "GET",
            f"EntityDefinitions(LogicalName={odata_string(table)})",
            params=params,
            what=f"metadata of table {table}",
            allow=(404,),
        )
    except CrmCallFailed as exc:
        return [(name, False, str(exc))]
    if response.status_code == 404:
        _, message = odata_error(404, response.text)
        return [
            (
                name,
                False,
                f"table {table} not found: {message}. Create it as described in "
                "docs/crm/dynamics.md, or fix the mapping.",
            )
        ]
    meta: Mapping[str, Any] = response.json()
    checks: list[Check] = []
    actual_set = meta.get("EntitySetName")
    if actual_set != entity_set:
        checks.append(
            (
                name,
                False,
                f"table {table} found, but its entity set is {actual_set!r}, not "
                f"{entity_set!r}: fix the mapping",
            )
        )
    else:
        checks.append((name, True, f"table {table} found (entity set {entity_set})"))
    attributes = {a.get("LogicalName"): a for a in meta.get("Attributes") or []}
    for column in readable:
        found = column.lower() in attributes
        detail = "readable" if found else "not found: create it or fix the mapping"
        checks.append((f"column {table}.{column}", found, f"column {column} {detail}"))
    for column in writable:
        attribute = attributes.get(column.lower())
        if attribute is None:
            checks.append(
                (
                    f"column {table}.{column}",
                    False,
                    f"column {column} not found: create it or fix the mapping",
                )
            )
        elif not attribute.get("IsValidForUpdate"):
            checks.append(
                (
                    f"column {table}.{column}",
                    False,
                    f"column {column} exists but is not writable (IsValidForUpdate is false)",
                )
            )
        else:
            checks.append((f"column {table}.{column}", True, f"column {column} writable"))
    if key_column:
        checks.append(_key_check(table, key_column, meta.get("Keys") or []))
    return checks


def _key_check(table: str, column: str, keys: list[Mapping[str, Any]]) -> Check:
    name = f"alternate key {table}({column})"
    for key in keys:
        if [a.lower() for a in key.get("KeyAttributes") or []] == [column.lower()]:
            status = key.get("EntityKeyIndexStatus")
            if status == "Active":
                return (name, True, f"alternate key {key.get('LogicalName')} on {column} active")
            return (
                name,
                False,
                f"alternate key {key.get('LogicalName')} on {column} is {status}: "
                + (
                    "wait until Dataverse has built it"
                    if status in ("Pending", "InProgress")
                    else "delete and recreate it (duplicate values block it)"
                ),
            )
    return (
        name,
        False,
        f"no alternate key on {column} alone: create one, or upserts would fail",
    )
