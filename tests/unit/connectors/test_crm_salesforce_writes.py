"""Salesforce connector writes: idempotent upserts (one and batched), balances, receipts,
timeline notes, rate limits, verbatim validation errors and the PAN guard."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
import responses
from responses import matchers
from test_crm_salesforce_support import (
    ACCOUNT,
    API,
    PAYMENT_SF_ID,
    FakeClock,
    add_jwt_token,
    bearer,
    make_crm,
    payment,
    payment_fields,
    soql,
)

from crm_pay.domain.money import Money
from crm_pay.ports import CrmCallFailed, RecordResult

UPSERT_URL = f"{API}/sobjects/Payment__c/CrmPay_Payment_Id__c/pay_01HZX3"
BATCH_URL = f"{API}/composite/sobjects/Payment__c/CrmPay_Payment_Id__c"
CARD = "4111 1111 1111 1111"  # a published test card number, never a real one


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


# ---------------------------------------------------------------------- single upsert
def test_upsert_by_external_id_is_idempotent(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    record = payment()
    same_request = [bearer(), matchers.json_params_matcher(payment_fields(record))]
    authed.patch(
        UPSERT_URL,
        status=201,
        match=same_request,
        json={"id": PAYMENT_SF_ID, "success": True, "errors": [], "created": True},
    )
    authed.patch(UPSERT_URL, status=204, match=same_request)
    crm = make_crm(clock)
    crm.upsert_payment(record)  # created
    crm.upsert_payment(record)  # replayed: the same PATCH, the same record
    bodies = [c.request.body for c in authed.calls if c.request.method == "PATCH"]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert b'"Amount__c":541.30' in bodies[0]  # an exact JSON number, never a float


def test_validation_error_is_shown_verbatim_and_not_retried(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    message = "Amount must be positive for a settled payment"
    authed.patch(
        UPSERT_URL,
        status=400,
        json=[{"message": message, "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": []}],
    )
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).upsert_payment(payment())
    assert caught.value.crm_message == message
    assert caught.value.retryable is False
    assert message in str(caught.value)


def test_429_with_retry_after_asks_for_that_delay(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    authed.patch(UPSERT_URL, status=429, headers={"Retry-After": "42"}, json=[])
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).upsert_payment(payment())
    assert caught.value.retryable and caught.value.delay == 42


def test_request_limit_exceeded_is_retryable_with_a_delay(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    authed.patch(
        UPSERT_URL,
        status=403,
        headers={"Retry-After": "600"},
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).upsert_payment(payment())
    assert caught.value.retryable and caught.value.delay == 600
    assert caught.value.crm_message == "TotalRequests Limit exceeded."


def test_server_errors_are_retryable(authed: responses.RequestsMock, clock: FakeClock) -> None:
    authed.patch(UPSERT_URL, status=503, body="Service Unavailable")
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).upsert_payment(payment())
    assert caught.value.retryable and caught.value.delay is None


def test_a_card_number_in_a_payload_is_refused_and_alerted(
    rsps: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = replace(payment(), psp_reference=f"note {CARD}")
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).upsert_payment(record)  # nothing registered: nothing may be sent
    assert caught.value.retryable is False
    assert "ALERT" in caplog.text
    assert CARD not in caplog.text and CARD not in str(caught.value)


def test_a_card_number_in_a_note_is_refused_before_sending(
    authed: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    authed.get(f"{API}/query", json={"totalSize": 0, "done": True, "records": []})
    with pytest.raises(CrmCallFailed) as caught:
        make_crm(clock).add_timeline_note(ACCOUNT, "refund_7", f"Refund; card {CARD}")
    assert not caught.value.retryable
    assert not any(c.request.method == "POST" for c in authed.calls[1:])
    assert CARD not in caplog.text


# ---------------------------------------------------------------------- batch upsert
def test_batch_upsert_reports_each_record_with_salesforces_words(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    good, invalid, locked = payment("pay_a"), payment("pay_b"), payment("pay_c")
    records = [
        {
            "attributes": {"type": "Payment__c"},
            "CrmPay_Payment_Id__c": r.payment_id,
            **payment_fields(r),
        }
        for r in (good, invalid, locked)
    ]
    missing = "Required fields are missing: [Status__c]"
    authed.patch(
        BATCH_URL,
        match=[bearer(), matchers.json_params_matcher({"allOrNone": False, "records": records})],
        json=[
            {"id": "a0BDn00000XyZ01MAF", "success": True, "errors": [], "created": True},
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "REQUIRED_FIELD_MISSING",
                        "message": missing,
                        "fields": ["Status__c"],
                    }
                ],
            },
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "UNABLE_TO_LOCK_ROW",
                        "message": "unable to obtain exclusive access to this record",
                        "fields": [],
                    }
                ],
            },
        ],
    )
    results = make_crm(clock).upsert_payments([good, invalid, locked])
    assert results == [
        RecordResult("pay_a", ok=True),
        RecordResult("pay_b", ok=False, error=missing, retryable=False),
        RecordResult(
            "pay_c",
            ok=False,
            error="unable to obtain exclusive access to this record",
            retryable=True,
        ),
    ]


def test_batch_upsert_splits_at_200_and_refuses_bad_records_locally(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    records = [payment(f"pay_{i:03d}") for i in range(250)]
    records.insert(7, replace(payment("pay_card"), card_brand=CARD))
    records.insert(9, payment("pay_badref", customer_ref="001' OR Name != '"))
    ok = {"id": "a0BDn00000XyZ01MAF", "success": True, "errors": [], "created": False}
    authed.patch(BATCH_URL, json=[ok] * 200)
    authed.patch(BATCH_URL, json=[ok] * 50)
    results = make_crm(clock).upsert_payments(records)
    sizes = [
        len(_json(c.request.body)["records"]) for c in authed.calls if c.request.method == "PATCH"
    ]
    assert sizes == [200, 50]
    assert [r.key for r in results] == [r.payment_id for r in records]
    failed = {r.key: r for r in results if not r.ok}
    assert set(failed) == {"pay_card", "pay_badref"}
    assert not failed["pay_card"].retryable and CARD not in failed["pay_card"].error
    assert "not a Salesforce record id" in failed["pay_badref"].error


# ---------------------------------------------------------------------- balance
def test_update_balance_writes_exact_amounts(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    authed.patch(
        f"{API}/sobjects/Account/{ACCOUNT}",
        status=204,
        match=[bearer(), matchers.json_params_matcher({"Balance__c": 1234.5, "Credit__c": 0.05})],
    )
    make_crm(clock).update_balance(ACCOUNT, Money(123_450, "USD"), Money(5, "USD"))
    assert authed.calls[-1].request.body == b'{"Balance__c":1234.50,"Credit__c":0.05}'


def test_writes_refuse_a_crm_ref_that_is_not_an_id(clock: FakeClock) -> None:
    with pytest.raises(CrmCallFailed, match="not a Salesforce record id") as caught:
        make_crm(clock).update_balance("../Contact/003", Money(1, "USD"), Money(0, "USD"))
    assert not caught.value.retryable


# ---------------------------------------------------------------------- receipts
RECEIPT_QUERY = (
    "SELECT Id FROM ContentVersion WHERE Title = 'R-2026-000123' "
    "AND FirstPublishLocationId = 'a0BDn00000XyZ12MAF' LIMIT 1"
)


def find_payment(rsps: responses.RequestsMock) -> None:
    rsps.get(
        UPSERT_URL,
        match=[bearer(), matchers.query_param_matcher({"fields": "Id"})],
        json={"attributes": {"type": "Payment__c"}, "Id": PAYMENT_SF_ID},
    )


def test_receipt_is_uploaded_as_content_version_on_the_payment(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    pdf = b"%PDF-1.7 receipt"
    find_payment(authed)
    authed.get(
        f"{API}/query",
        match=[soql(RECEIPT_QUERY)],
        json={"totalSize": 0, "done": True, "records": []},
    )
    expected = {
        "Title": "R-2026-000123",
        "PathOnClient": "R-2026-000123.pdf",
        "VersionData": base64.b64encode(pdf).decode(),
        "FirstPublishLocationId": PAYMENT_SF_ID,
    }
    authed.post(
        f"{API}/sobjects/ContentVersion",
        status=201,
        match=[bearer(), matchers.json_params_matcher(expected)],
        json={"id": "068Dn00000AbCdEIAZ", "success": True, "errors": []},
    )
    make_crm(clock).attach_receipt(ACCOUNT, "pay_01HZX3", "R-2026-000123", pdf)


def test_receipt_already_attached_is_skipped(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    find_payment(authed)
    authed.get(
        f"{API}/query",
        match=[soql(RECEIPT_QUERY)],
        json={
            "totalSize": 1,
            "done": True,
            "records": [{"attributes": {"type": "ContentVersion"}, "Id": "068Dn00000AbCdEIAZ"}],
        },
    )
    make_crm(clock).attach_receipt(ACCOUNT, "pay_01HZX3", "R-2026-000123", b"%PDF")
    assert not any(c.request.method == "POST" for c in authed.calls[1:])


def test_receipt_waits_for_its_payment_record(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    authed.get(
        UPSERT_URL,
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    with pytest.raises(CrmCallFailed, match="not in Salesforce yet") as caught:
        make_crm(clock).attach_receipt(ACCOUNT, "pay_01HZX3", "R-2026-000123", b"%PDF")
    assert caught.value.retryable


# ---------------------------------------------------------------------- timeline
NOTE_QUERY = (
    "SELECT Id FROM Task WHERE WhatId = '001Dn00000AbCdEIAZ' "
    "AND Subject LIKE '%[crm-pay:refund\\_7]' LIMIT 1"
)


def test_timeline_note_is_a_completed_task_written_once(
    authed: responses.RequestsMock, clock: FakeClock
) -> None:
    empty = {"totalSize": 0, "done": True, "records": []}
    found = {"totalSize": 1, "done": True, "records": [{"Id": "00TDn00000AbCdEIAZ"}]}
    authed.get(f"{API}/query", match=[soql(NOTE_QUERY)], json=empty)
    task = {
        "Subject": "Refund of USD 12.00 on R-2026-000123 [crm-pay:refund_7]",
        "Description": "Refund of USD 12.00 on R-2026-000123\nBy agent 17",
        "WhatId": ACCOUNT,
        "Status": "Completed",
        "ActivityDate": "2025-12-29",
    }
    authed.post(
        f"{API}/sobjects/Task",
        status=201,
        match=[matchers.json_params_matcher(task)],
        json={"id": "00TDn00000AbCdEIAZ", "success": True, "errors": []},
    )
    authed.get(f"{API}/query", match=[soql(NOTE_QUERY)], json=found)
    crm = make_crm(clock)
    text = "Refund of USD 12.00 on R-2026-000123\nBy agent 17"
    crm.add_timeline_note(ACCOUNT, "refund_7", text)
    crm.add_timeline_note(ACCOUNT, "refund_7", text)  # replay: found, not written again
    assert sum(c.request.method == "POST" for c in authed.calls) == 2  # token + one Task


def test_logs_name_the_call_but_not_the_token(
    authed: responses.RequestsMock, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    authed.patch(UPSERT_URL, status=204)
    make_crm(clock).upsert_payment(payment())
    assert "00Dxx!AQ4AQtok1" not in caplog.text


def _json(body: bytes | str | None) -> dict:
    import json

    return json.loads(body or b"{}")
