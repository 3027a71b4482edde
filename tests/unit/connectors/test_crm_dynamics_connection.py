"""Dynamics 365 connector: ``test_connection`` gives plain answers, or exactly what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.crm.dynamics import DEFAULT_MAPPING, DynamicsCrm

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
USER = "99999999-0000-0000-0000-000000000001"
AUTH = {"Authorization": "Bearer tok", "OData-Version": "4.0"}
ATTRS = "Attributes($select=LogicalName,IsValidForUpdate,IsValidForCreate)"
KEYS = "Keys($select=LogicalName,KeyAttributes,EntityKeyIndexStatus)"

PAYMENT_COLUMNS = [
    v for k, v in DEFAULT_MAPPING.items() if k.startswith("payment_") and k.endswith("_column")
]


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def crm() -> DynamicsCrm:
    settings = {"tenant_id": TENANT, "client_id": CLIENT, "org_url": ORG}
    return DynamicsCrm(settings, {"client_secret": "not-a-real-secret"})


def signed_in(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"})
    mock.get(
        API + "WhoAmI",
        json={"BusinessUnitId": "b1", "UserId": USER, "OrganizationId": "o1"},
        match=[matchers.header_matcher(AUTH)],
    )


def attribute(name: str, writable: bool = True) -> dict[str, Any]:
    return {"LogicalName": name, "IsValidForUpdate": writable, "IsValidForCreate": writable}


def table(
    mock: responses.RequestsMock,
    name: str,
    *,
    status: int = 200,
    body: dict[str, Any] | None = None,
    keys: bool = False,
) -> None:
    expand = ATTRS + ("," + KEYS if keys else "")
    mock.get(
        f"{API}EntityDefinitions(LogicalName='{name}')",
        status=status,
        json=body,
        match=[
            matchers.header_matcher(AUTH),
            matchers.query_param_matcher(
                {"$select": "LogicalName,EntitySetName", "$expand": expand}
            ),
        ],
    )


def contact_table(mock: responses.RequestsMock) -> None:
    names = ["contactid", "fullname", "emailaddress1", "telephone1", "mobilephone"]
    attributes = [attribute(n) for n in names] + [
        attribute("crmpay_balance"),
        attribute("crmpay_credit"),
    ]
    table(mock, "contact", body={"EntitySetName": "contacts", "Attributes": attributes})


def payment_table(
    mock: responses.RequestsMock, *, key_status: str = "Active", readonly: str = ""
) -> None:
    attributes = [attribute(c, writable=c != readonly) for c in PAYMENT_COLUMNS]
    attributes.append(attribute("crmpay_contact"))
    key = {
        "LogicalName": "crmpay_externalid_key",
        "KeyAttributes": ["crmpay_externalid"],
        "EntityKeyIndexStatus": key_status,
    }
    body = {"EntitySetName": "crmpay_payments", "Attributes": attributes, "Keys": [key]}
    table(mock, "crmpay_payment", body=body, keys=True)


def test_all_good_says_so_plainly(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    signed_in(mock)
    contact_table(mock)
    payment_table(mock)

    report = crm.test_connection()

    assert report.ok, report.checks
    details = {name: detail for name, _, detail in report.checks}
    assert details["identity"] == (
        f"authenticated as application {CLIENT} (WhoAmI UserId {USER}, organization o1)"
    )
    assert (
        details["table crmpay_payment"] == "table crmpay_payment found (entity set crmpay_payments)"
    )
    assert details["column crmpay_payment.crmpay_amount"] == "column crmpay_amount writable"
    assert details["column contact.crmpay_balance"] == "column crmpay_balance writable"
    assert "active" in details["alternate key crmpay_payment(crmpay_externalid)"]


def test_wrong_secret_stops_at_sign_in_with_microsofts_words(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    text = "AADSTS7000215: Invalid client secret provided."
    mock.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": text})

    report = crm.test_connection()

    assert not report.ok
    ((name, ok, detail),) = report.checks
    assert (name, ok) == ("sign-in", False) and text in detail


def test_app_without_application_user_is_named(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"})
    message = f"The user with id {USER} has not been assigned any roles."
    mock.get(API + "WhoAmI", status=403, json={"error": {"code": "0x80072560", "message": message}})

    report = crm.test_connection()

    name, ok, detail = report.checks[-1]
    assert (name, ok) == ("identity", False)
    assert message in detail and "application user" in detail


def test_missing_table_is_reported_verbatim(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    signed_in(mock)
    contact_table(mock)
    message = "Could not find entity with name 'crmpay_payment'"
    table(
        mock,
        "crmpay_payment",
        status=404,
        keys=True,
        body={"error": {"code": "0x80060888", "message": message}},
    )

    report = crm.test_connection()

    assert not report.ok
    name, ok, detail = report.checks[-1]
    assert (name, ok) == ("table crmpay_payment", False)
    assert message in detail and "docs/crm/dynamics.md" in detail


def test_unwritable_column_and_unbuilt_key_are_named(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    signed_in(mock)
    contact_table(mock)
    payment_table(mock, key_status="Pending", readonly="crmpay_status")

    report = crm.test_connection()

    failed = {name: detail for name, ok, detail in report.checks if not ok}
    assert set(failed) == {
        "column crmpay_payment.crmpay_status",
        "alternate key crmpay_payment(crmpay_externalid)",
    }
    assert (
        "not writable (IsValidForUpdate is false)" in failed["column crmpay_payment.crmpay_status"]
    )
    assert "Pending" in failed["alternate key crmpay_payment(crmpay_externalid)"]
