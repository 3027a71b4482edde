"""HubSpot connector: customer lookups (id, phone in any stored format, e-mail) and the
admin's test connection, against HubSpot's documented request and response shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.crm.hubspot import HubSpotCrm
from crm_pay.ports import CrmCallFailed

API = "https://api.hubapi.com"
PAT = "pat-na1-test-token"
AUTH = matchers.header_matcher({"Authorization": f"Bearer {PAT}"})
CONTACT_PROPS = "firstname,lastname,email,company,phone,mobilephone"
SEARCH_PROPS = CONTACT_PROPS.split(",")


@pytest.fixture
def hs() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def crm() -> HubSpotCrm:
    return HubSpotCrm({"auth": "private_app"}, {"access_token": PAT})


def contact(record_id: str, **props: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "properties": {"hs_object_id": record_id, **props},
        "createdAt": "2026-01-05T10:00:00.000Z",
        "updatedAt": "2026-02-01T09:30:00.000Z",
        "archived": False,
    }


def search_answer(*contacts: dict[str, Any]) -> dict[str, Any]:
    return {"total": len(contacts), "results": list(contacts)}


# ---------------------------------------------------------------------------- by id
def test_find_customer_reads_the_contact(hs: responses.RequestsMock, crm: HubSpotCrm) -> None:
    hs.get(
        f"{API}/crm/v3/objects/contacts/512",
        json=contact(
            "512",
            firstname="Grace",
            lastname="Hopper",
            email="grace@example.com",
            phone="(415) 555-0142",
            company="Navy",
        ),
        match=[AUTH, matchers.query_param_matcher({"properties": CONTACT_PROPS})],
    )
    found = crm.find_customer("512")
    assert found is not None
    assert (found.crm_ref, found.name, found.email) == ("512", "Grace Hopper", "grace@example.com")
    assert (found.phone, found.company, found.currency) == ("+14155550142", "Navy", "USD")


def test_find_customer_not_found_is_none(hs: responses.RequestsMock, crm: HubSpotCrm) -> None:
    hs.get(
        f"{API}/crm/v3/objects/contacts/999",
        status=404,
        json={
            "status": "error",
            "message": "Object not found.  objectId are usually numeric.",
            "correlationId": "c0ffee00-0000-4000-8000-000000000000",
            "category": "OBJECT_NOT_FOUND",
        },
        match=[AUTH],
    )
    assert crm.find_customer("999") is None


@pytest.mark.parametrize("ref", ["CUST-0001", "", "12a", "1/../2", "１２３"])
def test_find_customer_with_a_non_numeric_id_asks_nothing(
    hs: responses.RequestsMock, crm: HubSpotCrm, ref: str
) -> None:
    assert crm.find_customer(ref) is None
    assert len(hs.calls) == 0


# ---------------------------------------------------------------------------- by phone
def test_phone_lookup_finds_every_stored_format(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    def body_of(request: Any) -> tuple[bool, str]:
        import json

        body = json.loads(request.body)
        groups = body["filterGroups"]
        ok = (
            [g["filters"][0]["propertyName"] for g in groups] == ["phone", "mobilephone"]
            and all(g["filters"][0]["operator"] == "IN" for g in groups)
            and {"+14155550142", "4155550142", "(415) 555-0142", "415.555.0142"}
            <= set(groups[0]["filters"][0]["values"])
            and body["properties"] == SEARCH_PROPS
            and body["limit"] == 100
        )
        return ok, "" if ok else f"unexpected search {body}"

    hs.post(
        f"{API}/crm/v3/objects/contacts/search",
        json=search_answer(
            contact("3", firstname="C", phone="415.555.0142"),
            contact("1", firstname="A", phone="+1 (415) 555-0142"),
            contact("2", firstname="B", mobilephone="4155550142", phone="+44 20 7946 0000"),
            contact("4", firstname="D", phone="415-555-0143"),  # a near miss HubSpot sent
        ),
        match=[AUTH, body_of],
    )
    found = crm.find_customers_by_phone("+14155550142")
    assert [c.crm_ref for c in found] == ["1", "2", "3"]


def test_phone_lookup_of_a_non_number_asks_nothing(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    assert crm.find_customers_by_phone("call me maybe") == []
    assert len(hs.calls) == 0


# ---------------------------------------------------------------------------- by e-mail
def test_email_lookup_is_exact_and_case_insensitive(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    hs.post(
        f"{API}/crm/v3/objects/contacts/search",
        json=search_answer(contact("7", email="Ada@Example.com", firstname="Ada")),
        match=[
            AUTH,
            matchers.json_params_matcher(
                {
                    "filterGroups": [
                        {
                            "filters": [
                                {
                                    "propertyName": "email",
                                    "operator": "EQ",
                                    "value": "ada@example.com",
                                }
                            ]
                        }
                    ],
                    "properties": SEARCH_PROPS,
                    "limit": 100,
                }
            ),
        ],
    )
    found = crm.find_customers_by_email("  ADA@example.COM ")
    assert [(c.crm_ref, c.email) for c in found] == [("7", "Ada@Example.com")]


def test_invoices_and_cards_are_not_kept_in_hubspot(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    assert crm.open_invoices("7") == []
    assert crm.cards_on_file("7") == []
    assert len(hs.calls) == 0


def test_a_rate_limited_lookup_is_retryable_after_the_given_delay(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    hs.post(
        f"{API}/crm/v3/objects/contacts/search",
        status=429,
        headers={"Retry-After": "3"},
        json={
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "aa11bb22-0000-4000-8000-000000000000",
            "policyName": "SECONDLY",
        },
    )
    with pytest.raises(CrmCallFailed) as caught:
        crm.find_customers_by_email("ada@example.com")
    assert (caught.value.retryable, caught.value.delay) == (True, 3.0)
    assert caught.value.crm_message == "You have reached your secondly limit."


# ---------------------------------------------------------------------------- test connection
PAYMENT_PROPS = [
    "crm_pay_payment_id",
    "amount",
    "currency",
    "status",
    "channel",
    "card_brand",
    "card_last4",
    "psp_reference",
    "receipt_number",
    "crm_pay_contact_id",
    "crm_pay_created_at",
    "crm_pay_updated_at",
]


def property_answer(name: str, *, read_only: bool = False, unique: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": "string",
        "fieldType": "text",
        "groupName": "crm_pay",
        "hasUniqueValue": unique,
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": False,
            "readOnlyValue": read_only,
        },
    }


def test_connection_good(hs: responses.RequestsMock, crm: HubSpotCrm) -> None:
    hs.get(
        f"{API}/account-info/v3/details",
        json={"portalId": 24_681_357, "accountType": "STANDARD", "timeZone": "US/Eastern"},
        match=[AUTH],
    )
    hs.get(
        f"{API}/crm/v3/schemas/p_payments",
        json={"name": "payments", "objectTypeId": "2-1234567", "fullyQualifiedName": "p_payments"},
        match=[AUTH],
    )
    for name in PAYMENT_PROPS:
        hs.get(
            f"{API}/crm/v3/properties/p_payments/{name}",
            json=property_answer(name, unique=name == "crm_pay_payment_id"),
            match=[AUTH],
        )
    for name in ("crm_pay_balance", "crm_pay_credit", "crm_pay_balance_currency"):
        hs.get(f"{API}/crm/v3/properties/contacts/{name}", json=property_answer(name))
    report = crm.test_connection()
    assert report.ok
    details = [detail for _, _, detail in report.checks]
    assert details[:3] == [
        "authenticated (portal 24681357)",
        "object type p_payments found",
        "property crm_pay_payment_id writable and unique",
    ]
    assert "property crm_pay_balance writable" in details


def test_connection_with_a_bad_token_says_exactly_what_hubspot_said(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    message = (
        "Authentication credentials not found. This API supports OAuth 2.0 authentication "
        "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    )
    hs.get(
        f"{API}/account-info/v3/details",
        status=401,
        json={
            "status": "error",
            "message": message,
            "correlationId": "0b5c7d3e-0000-4000-8000-000000000000",
            "category": "INVALID_AUTHENTICATION",
        },
    )
    report = crm.test_connection()
    assert not report.ok
    assert report.checks == (("authentication", False, message),)


def test_connection_names_the_missing_object_and_the_wrong_properties(
    hs: responses.RequestsMock,
) -> None:
    crm = HubSpotCrm(
        {"auth": "private_app"},
        {"access_token": PAT},
        {"payment_object": "2-7654321", "balance_currency_property": ""},
    )
    hs.get(f"{API}/account-info/v3/details", json={"portalId": 42})
    hs.get(
        f"{API}/crm/v3/schemas/2-7654321",
        status=404,
        json={"status": "error", "message": "Unable to infer object type from: 2-7654321"},
    )
    hs.get(
        f"{API}/crm/v3/properties/contacts/crm_pay_balance",
        json=property_answer("crm_pay_balance", read_only=True),
    )
    hs.get(
        re.compile(rf"{API}/crm/v3/properties/contacts/crm_pay_credit"),
        status=404,
        json={"status": "error", "message": "Unable to find property crm_pay_credit"},
    )
    report = crm.test_connection()
    assert not report.ok
    assert report.checks[1][1] is False and "2-7654321 not found" in report.checks[1][2]
    assert report.checks[2] == (
        "property contacts.crm_pay_balance",
        False,
        "property crm_pay_balance is read-only in HubSpot; map a writable property",
    )
    assert report.checks[3][1] is False and "crm_pay_credit not found" in report.checks[3][2]


def test_connection_reports_a_missing_scope_verbatim(hs: responses.RequestsMock) -> None:
    crm = HubSpotCrm({}, {"access_token": PAT}, {"balance_currency_property": ""})
    hs.get(f"{API}/account-info/v3/details", json={"portalId": 42})
    scope_message = (
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes."
    )
    hs.get(
        f"{API}/crm/v3/schemas/p_payments",
        status=403,
        json={"status": "error", "message": scope_message, "category": "MISSING_SCOPES"},
    )
    hs.get(f"{API}/crm/v3/properties/contacts/crm_pay_balance", json=property_answer("b"))
    hs.get(f"{API}/crm/v3/properties/contacts/crm_pay_credit", json=property_answer("c"))
    report = crm.test_connection()
    assert report.checks[1] == ("payment object", False, scope_message)
    assert not report.ok
