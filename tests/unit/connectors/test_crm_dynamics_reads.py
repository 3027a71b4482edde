"""Dynamics 365 connector: finding contacts by id, phone and e-mail.

Offline with ``responses``; matchers check URL, query and headers, so a wrong request fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from connectors.crm.dynamics import DynamicsCrm
from crm_pay.domain.money import Money
from crm_pay.ports import CrmCallFailed

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
C1 = "00000000-0000-0000-0000-0000000000c1"
C2 = "00000000-0000-0000-0000-0000000000c2"
MISSING = "00000000-0000-0000-0000-0000000000c9"
AUTH = {"Authorization": "Bearer tok", "OData-Version": "4.0", "Accept": "application/json"}
SELECT = "contactid,fullname,emailaddress1,telephone1,mobilephone"
NOT_FOUND = f"Entity 'contact' With Id = {MISSING} Does Not Exist"


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        rsps.post(
            TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"}
        )
        yield rsps


@pytest.fixture
def crm() -> DynamicsCrm:
    settings = {"tenant_id": TENANT, "client_id": CLIENT, "org_url": ORG}
    return DynamicsCrm(settings, {"client_secret": "not-a-real-secret"})


# ---------------------------------------------------------------------------- reads
def test_find_customer_maps_the_contact(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    mock.get(
        f"{API}contacts({C1})",
        json={
            "contactid": C1,
            "fullname": "Ada Lovelace",
            "emailaddress1": "ada@example.com",
            "telephone1": None,
            "mobilephone": "(415) 555-0142",
        },
        match=[matchers.header_matcher(AUTH), matchers.query_param_matcher({"$select": SELECT})],
    )
    customer = crm.find_customer(C1)
    assert customer is not None
    assert (customer.crm_ref, customer.name, customer.email, customer.phone, customer.currency) == (
        C1,
        "Ada Lovelace",
        "ada@example.com",
        "+14155550142",
        "USD",
    )


def test_unknown_contact_is_none(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    mock.get(
        f"{API}contacts({MISSING})",
        status=404,
        json={"error": {"code": "0x80040217", "message": NOT_FOUND}},
    )
    assert crm.find_customer(MISSING) is None


@pytest.mark.parametrize("ref", ["42", "not-a-guid", f"{C1})?$select=fullname", f"{C1[:-1]}g"])
def test_a_reference_that_is_not_a_guid_is_never_sent(crm: DynamicsCrm, ref: str) -> None:
    with responses.RequestsMock():  # any HTTP call would fail the test
        assert crm.find_customer(ref) is None
        with pytest.raises(CrmCallFailed) as info:
            crm.update_balance(ref, Money(1, "USD"), Money(0, "USD"))
        assert not info.value.retryable
        with pytest.raises(CrmCallFailed):
            crm.attach_receipt(ref, "pay_1", "R-1", b"%PDF")


def test_find_by_phone_tolerates_the_stored_formats(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.get(
        f"{API}contacts",
        json={
            "value": [
                {
                    "contactid": C2,
                    "fullname": "B",
                    "telephone1": None,
                    "mobilephone": "+1 415.555.0142",
                },
                {
                    "contactid": C1,
                    "fullname": "A",
                    "telephone1": "(415) 555-0142",
                    "mobilephone": None,
                },
                {"contactid": MISSING, "fullname": "Other", "telephone1": "212-555-0142"},
            ]
        },
        match=[
            matchers.header_matcher(AUTH),
            matchers.query_param_matcher(
                {
                    "$select": SELECT,
                    "$filter": "endswith(telephone1,'0142') or endswith(mobilephone,'0142')",
                    "$top": "50",
                }
            ),
        ],
    )
    found = crm.find_customers_by_phone("+1 (415) 555-0142")
    assert [c.crm_ref for c in found] == [C1, C2]


def test_find_by_email_escapes_the_odata_literal(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.get(
        f"{API}contacts",
        json={
            "value": [
                {"contactid": C1, "fullname": "Pat O'Brien", "emailaddress1": "o'brien@example.com"}
            ]
        },
        match=[
            matchers.query_param_matcher(
                {
                    "$select": SELECT,
                    "$filter": "emailaddress1 eq 'o''brien@example.com'",
                    "$top": "50",
                }
            )
        ],
    )
    assert [c.name for c in crm.find_customers_by_email(" o'brien@example.com ")] == ["Pat O'Brien"]
    request_url = mock.calls[-1].request.url
    assert "emailaddress1%20eq%20'o''brien@example.com'" in request_url  # %20, never '+'


def test_invoices_and_cards_are_not_read_from_dataverse(crm: DynamicsCrm) -> None:
    with responses.RequestsMock():
        assert crm.open_invoices(C1) == [] and crm.cards_on_file(C1) == []
