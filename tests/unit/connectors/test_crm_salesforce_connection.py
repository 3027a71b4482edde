"""Salesforce connector: the admin's test connection gives plain answers, or exactly what
is wrong in Salesforce's own words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from test_crm_salesforce_support import (
    API,
    INSTANCE,
    TOKEN_URL,
    USERNAME,
    FakeClock,
    add_identity,
    add_jwt_token,
    bearer,
    make_crm,
)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authed(rsps: responses.RequestsMock, clock: FakeClock) -> responses.RequestsMock:
    add_jwt_token(rsps, clock)
    return rsps


def describe(
    rsps: responses.RequestsMock,
    sobject: str,
    fields: dict[str, dict[str, bool]],
    *,
    createable: bool = True,
) -> None:
    body = {
        "name": sobject,
        "createable": createable,
        "updateable": True,
        "fields": [
            {
                "name": name,
                "type": "string",
                "createable": True,
                "updateable": True,
                "externalId": False,
                **flags,
            }
            for name, flags in fields.items()
        ],
    }
    rsps.get(f"{API}/sobjects/{sobject}/describe", match=[bearer()], json=body)


PAYMENT_FIELDS = [
    "Account__c",
    "Amount__c",
    "Currency__c",
    "Status__c",
    "Channel__c",
    "Card_Brand__c",
    "Card_Last4__c",
    "PSP_Reference__c",
    "Receipt_Number__c",
    "Created_At__c",
    "Updated_At__c",
]


def describe_all(rsps: responses.RequestsMock, *, balance_updateable: bool = True) -> None:
    describe(
        rsps,
        "Account",
        {
            "Id": {},
            "Name": {},
            "Phone": {},
            "Balance__c": {"updateable": balance_updateable},
            "Credit__c": {},
        },
    )
    payment = {name: {} for name in PAYMENT_FIELDS}
    describe(rsps, "Payment__c", {**payment, "CrmPay_Payment_Id__c": {"externalId": True}})
    describe(
        rsps,
        "ContentVersion",
        {n: {} for n in ("Title", "PathOnClient", "VersionData", "FirstPublishLocationId")},
    )
    describe(rsps, "Task", {"Subject": {}, "Description": {}, "WhatId": {}})


def test_connection_good_gives_plain_answers(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    add_identity(authed)
    describe_all(authed)
    report = make_crm(clock).test_connection()
    details = [detail for _, _, detail in report.checks]
    assert report.ok, report.checks
    assert details[0] == f"authenticated as {USERNAME} at {INSTANCE}"
    assert "object Payment__c found" in details
    assert "field Balance__c writable" in details
    assert "field CrmPay_Payment_Id__c is an external id" in details


def test_connection_names_exactly_what_is_wrong(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    add_identity(authed)
    describe(
        authed, "Account", {"Id": {}, "Name": {}, "Phone": {}, "Balance__c": {"updateable": False}}
    )
    authed.get(
        f"{API}/sobjects/Payment__c/describe",
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    describe(
        authed,
        "ContentVersion",
        {n: {} for n in ("Title", "PathOnClient", "VersionData", "FirstPublishLocationId")},
    )
    describe(authed, "Task", {"Subject": {}, "Description": {}, "WhatId": {}})
    report = make_crm(clock).test_connection()
    failed = [detail for _, ok, detail in report.checks if not ok]
    assert not report.ok
    assert failed == [
        "field Balance__c is read-only for the integration user (check field-level security)",
        "field Credit__c not found on Account",
        "object Payment__c not found (or not visible to the integration user)",
    ]


def test_connection_with_wrong_credentials_quotes_salesforce(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "invalid assertion"},
    )
    report = make_crm(clock).test_connection()
    assert report.ok is False
    assert report.checks == (("authentication", False, "invalid_grant: invalid assertion"),)


def test_connection_after_fixing_credentials_authenticates_again(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "expired authorization code"},
    )
    add_jwt_token(rsps, clock)
    add_identity(rsps)
    describe_all(rsps)
    crm = make_crm(clock)
    assert not crm.test_connection().ok
    assert crm.test_connection().ok
