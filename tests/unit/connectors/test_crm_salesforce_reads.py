"""Salesforce connector reads (customer by id, phone, e-mail; invoices; cards) and the
admin's test connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import responses
from test_crm_salesforce_support import (
    ACCOUNT,
    ACCOUNT_2,
    API,
    FakeClock,
    add_jwt_token,
    bearer,
    make_crm,
    soql,
)

from crm_pay.domain.money import Money
from crm_pay.ports import CardSummary, CrmCustomer, StoredCard


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


def rows(*records: dict[str, Any], sobject: str = "Account") -> dict[str, Any]:
    listed = [{"attributes": {"type": sobject}, **r} for r in records]
    return {"totalSize": len(listed), "done": True, "records": listed}


# ---------------------------------------------------------------------- by id
def test_find_customer_by_id(authed: responses.RequestsMock, clock: FakeClock) -> None:
    query = "SELECT Id, Name, Phone FROM Account WHERE Id = '001Dn00000AbCdEIAZ' LIMIT 1"
    authed.get(
        f"{API}/query",
        match=[bearer(), soql(query)],
        json=rows({"Id": ACCOUNT, "Name": "Ada Lovelace", "Phone": "(415) 555-0142"}),
    )
    assert make_crm(clock).find_customer(ACCOUNT) == CrmCustomer(
        crm_ref=ACCOUNT, name="Ada Lovelace", phone="+14155550142", currency="USD"
    )


@pytest.mark.parametrize(
    "attempt",
    ["001' OR Name != '", "001Dn00000AbCdEIAZ' OR Id != '", "001Dn00000AbCdEI", "", "001\\'x"],
)
def test_soql_injection_in_crm_ref_is_refused_without_a_call(
    rsps: responses.RequestsMock, clock: FakeClock, attempt: str
) -> None:
    crm = make_crm(clock)
    assert crm.find_customer(attempt) is None  # nothing registered: any request would fail
    assert crm.open_invoices(attempt) == [] and crm.cards_on_file(attempt) == []


# ---------------------------------------------------------------------- by phone
PHONE_QUERY = (
    "SELECT Id, Name, Phone FROM Account WHERE Phone IN ('+14155550142', '14155550142', "
    "'4155550142', '(415) 555-0142', '415-555-0142', '415.555.0142', '415 555 0142', "
    "'+1 415 555 0142', '+1 (415) 555-0142', '+1-415-555-0142', '1-415-555-0142', "
    "'1 (415) 555-0142', '+1 415-555-0142') LIMIT 200"
)
PHONE_SEARCH = (
    "FIND {14155550142 OR 4155550142} IN PHONE FIELDS RETURNING Account(Id, Name, Phone) LIMIT 200"
)


def test_phone_lookup_tolerates_how_numbers_are_stored(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    authed.get(
        f"{API}/query",
        match=[bearer(), soql(PHONE_QUERY)],
        json=rows({"Id": ACCOUNT, "Name": "Ada", "Phone": "(415) 555-0142"}),
    )
    authed.get(
        f"{API}/search",
        match=[bearer(), soql(PHONE_SEARCH)],
        json={
            "searchRecords": [
                {
                    "attributes": {"type": "Account"},
                    "Id": ACCOUNT,
                    "Name": "Ada",
                    "Phone": "(415) 555-0142",
                },
                {
                    "attributes": {"type": "Account"},
                    "Id": ACCOUNT_2,
                    "Name": "Bea",
                    "Phone": "+1 415.555.0142",
                },
                {
                    "attributes": {"type": "Account"},
                    "Id": "001Dn00000AbCdGIAZ",
                    "Name": "Cy",
                    "Phone": "415-555-0199",
                },
            ]
        },
    )
    found = make_crm(clock).find_customers_by_phone("+1 415 555 0142")
    assert [(c.crm_ref, c.phone) for c in found] == [
        (ACCOUNT, "+14155550142"),
        (ACCOUNT_2, "+14155550142"),
    ]


def test_phone_lookup_of_something_that_is_no_number_makes_no_call(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    assert make_crm(clock).find_customers_by_phone("') OR Id != ('") == []


# ---------------------------------------------------------------------- by e-mail
def test_email_lookup_escapes_the_literal(authed: responses.RequestsMock, clock: FakeClock) -> None:
    query = (
        "SELECT Id, Name, Phone, PersonEmail FROM Account "
        "WHERE PersonEmail = 'o\\'brien@example.com' LIMIT 200"
    )
    authed.get(
        f"{API}/query",
        match=[soql(query)],
        json=rows(
            {
                "Id": ACCOUNT,
                "Name": "Pat O'Brien",
                "Phone": None,
                "PersonEmail": "O'Brien@Example.com",
            }
        ),
    )
    crm = make_crm(clock, mapping={"customer_email_field": "PersonEmail"})
    found = crm.find_customers_by_email(" o'brien@example.com ")
    assert [(c.crm_ref, c.email) for c in found] == [(ACCOUNT, "O'Brien@Example.com")]


def test_email_lookup_without_a_mapped_field_is_empty(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    assert make_crm(clock).find_customers_by_email("ada@example.com") == []


# ---------------------------------------------------------------------- invoices, cards
def test_no_invoice_object_means_crm_pay_keeps_the_ledger(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    crm = make_crm(clock)
    assert crm.open_invoices(ACCOUNT) == [] and crm.cards_on_file(ACCOUNT) == []


def test_open_invoices_from_a_mapped_object(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    customer = "SELECT Id, Name, Phone FROM Account WHERE Id = '001Dn00000AbCdEIAZ' LIMIT 1"
    invoices = (
        "SELECT Id, Name, Issued_On__c, Due_On__c, Amount_Due__c FROM Invoice__c "
        "WHERE Account__c = '001Dn00000AbCdEIAZ' "
        "AND Status__c IN ('Open', 'Partially Paid') LIMIT 200"
    )
    authed.get(
        f"{API}/query",
        match=[soql(invoices)],
        json=rows(
            {
                "Id": "a0CDn0000000002MAA",
                "Name": "INV-1002",
                "Issued_On__c": "2026-02-01",
                "Due_On__c": "2026-03-01",
                "Amount_Due__c": 120.5,
            },
            {
                "Id": "a0CDn0000000001MAA",
                "Name": "INV-1001",
                "Issued_On__c": "2026-01-01",
                "Due_On__c": "2026-02-01",
                "Amount_Due__c": 0.1,
            },
            {
                "Id": "a0CDn0000000003MAA",
                "Name": "INV-1003",
                "Issued_On__c": "2026-01-05",
                "Due_On__c": "2026-02-05",
                "Amount_Due__c": 0,
            },
            sobject="Invoice__c",
        ),
    )
    authed.get(
        f"{API}/query",
        match=[soql(customer)],
        json=rows({"Id": ACCOUNT, "Name": "Ada", "Phone": None}),
    )
    found = make_crm(clock, mapping={"invoice_object": "Invoice__c"}).open_invoices(ACCOUNT)
    assert [(i.crm_ref, i.due_on, i.total) for i in found] == [
        ("INV-1001", date(2026, 2, 1), Money(10, "USD")),  # 0.1 read exactly, not as a float
        ("INV-1002", date(2026, 3, 1), Money(12050, "USD")),
    ]


def test_cards_on_file_show_brand_and_last4_only(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    query = (
        "SELECT Id, PSP_Token__c, Brand__c, Last4__c, Exp_Month__c, Exp_Year__c, Is_Default__c "
        "FROM Card__c WHERE Account__c = '001Dn00000AbCdEIAZ' LIMIT 50"
    )
    authed.get(
        f"{API}/query",
        match=[soql(query)],
        json=rows(
            {
                "Id": "a0DDn0000000001MAA",
                "PSP_Token__c": "tok_visa",
                "Brand__c": "Visa",
                "Last4__c": "1111",
                "Exp_Month__c": "12",
                "Exp_Year__c": "2030",
                "Is_Default__c": False,
            },
            {
                "Id": "a0DDn0000000002MAA",
                "PSP_Token__c": "tok_mc",
                "Brand__c": "MasterCard",
                "Last4__c": "4444",
                "Exp_Month__c": "01",
                "Exp_Year__c": "2029",
                "Is_Default__c": True,
            },
            {
                "Id": "a0DDn0000000003MAA",
                "PSP_Token__c": "tok_bad",
                "Brand__c": "Visa",
                "Last4__c": "4111111111111111",
                "Is_Default__c": False,
            },
            sobject="Card__c",
        ),
    )
    cards = make_crm(clock, mapping={"card_object": "Card__c"}).cards_on_file(ACCOUNT)
    assert cards == [
        StoredCard("tok_mc", CardSummary("MasterCard", "4444", "01", "2029"), is_default=True),
        StoredCard("tok_visa", CardSummary("Visa", "1111", "12", "2030")),
    ]
