"""HubSpot connector: payment upserts (batch, multi-status, validation, replay), errors
worth retrying, the PAN guard and balance updates, against HubSpot's documented shapes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.crm.hubspot import HubSpotCrm
from crm_pay.domain.money import Money
from crm_pay.ports import CrmCallFailed, CrmPaymentRecord, RecordResult

API = "https://api.hubapi.com"
PAT = "pat-na1-test-token"
AUTH = matchers.header_matcher({"Authorization": f"Bearer {PAT}"})
UPSERT_URL = f"{API}/crm/v3/objects/p_payments/batch/upsert"
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
VISA_TEST_PAN = "4111 1111 1111 1111"  # published test number: the PAN guard must catch it


@pytest.fixture
def hs() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def crm() -> HubSpotCrm:
    return HubSpotCrm({"auth": "private_app"}, {"access_token": PAT})


def payment(payment_id: str = "pay-1", **changes: Any) -> CrmPaymentRecord:
    values: dict[str, Any] = {
        "payment_id": payment_id,
        "customer_ref": "101",
        "status": "settled",
        "amount": Money(54_130, "USD"),
        "channel": "link",
        "card_brand": "Visa",
        "card_last4": "1111",
        "psp_reference": "bt_7f3k2",
        "receipt_number": "R-2026-000123",
        "created_at": T0,
        "updated_at": T0,
        **changes,
    }
    return CrmPaymentRecord(**values)


def upsert_input(payment_id: str = "pay-1", **props: str) -> dict[str, Any]:
    properties = {
        "crm_pay_payment_id": payment_id,
        "amount": "541.30",
        "currency": "USD",
        "status": "settled",
        "channel": "link",
        "card_brand": "Visa",
        "card_last4": "1111",
        "psp_reference": "bt_7f3k2",
        "receipt_number": "R-2026-000123",
        "crm_pay_contact_id": "101",
        "crm_pay_created_at": "2026-03-02T15:00:00.000Z",
        "crm_pay_updated_at": "2026-03-02T15:00:00.000Z",
        **props,
    }
    return {
        "idProperty": "crm_pay_payment_id",
        "id": payment_id,
        "objectWriteTraceId": payment_id,
        "properties": properties,
    }


def upserted(payment_id: str, hs_id: str, *, new: bool = True) -> dict[str, Any]:
    return {
        "id": hs_id,
        "properties": {"crm_pay_payment_id": payment_id, "hs_object_id": hs_id},
        "createdAt": "2026-03-02T15:00:01.000Z",
        "updatedAt": "2026-03-02T15:00:01.000Z",
        "archived": False,
        "new": new,
    }


def batch_answer(*results: dict[str, Any], errors: list[dict[str, Any]] | None = None) -> Any:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": list(results),
        "startedAt": "2026-03-02T15:00:01.000Z",
        "completedAt": "2026-03-02T15:00:01.200Z",
    }
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
    return body


def expect_upsert(
    hs: responses.RequestsMock, inputs: list[dict[str, Any]], answer: Any, status: int = 200
) -> None:
    hs.post(
        UPSERT_URL,
        json=answer,
        status=status,
        match=[AUTH, matchers.json_params_matcher({"inputs": inputs})],
    )


# ---------------------------------------------------------------------------- batch upsert
def test_batch_upsert_writes_every_payment_by_our_id(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    second = payment("pay-2", status="refunded", card_brand=None, card_last4=None)
    expect_upsert(
        hs,
        [upsert_input(), upsert_input("pay-2", status="refunded", card_brand="", card_last4="")],
        batch_answer(upserted("pay-1", "9001"), upserted("pay-2", "9002")),
    )
    results = crm.upsert_payments([payment(), second])
    assert results == [RecordResult("pay-1", True), RecordResult("pay-2", True)]


def test_multi_status_fails_only_the_refused_records_with_hubspot_words(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    refused = (
        'Property values were not valid: [{"isValid":false,"message":"541,30 is not a valid '
        'number","error":"INVALID_FLOAT","name":"amount"}]'
    )
    expect_upsert(
        hs,
        [upsert_input(), upsert_input("pay-2"), upsert_input("pay-3")],
        batch_answer(
            upserted("pay-1", "9001"),
            upserted("pay-3", "9003"),
            errors=[
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": refused,
                    "context": {"objectWriteTraceId": ["pay-2"]},
                }
            ],
        ),
        status=207,
    )
    results = crm.upsert_payments([payment(), payment("pay-2"), payment("pay-3")])
    assert results == [
        RecordResult("pay-1", True),
        RecordResult("pay-2", False, refused, retryable=False),
        RecordResult("pay-3", True),
    ]


def test_a_refusal_not_naming_its_record_is_given_to_the_unwritten_one(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    expect_upsert(
        hs,
        [upsert_input(), upsert_input("pay-2")],
        batch_answer(
            upserted("pay-1", "9001"),
            errors=[{"status": "error", "category": "CONFLICT", "message": "Conflict on pay-2"}],
        ),
        status=207,
    )
    results = crm.upsert_payments([payment(), payment("pay-2")])
    assert results[1] == RecordResult("pay-2", False, "Conflict on pay-2", retryable=True)


def test_a_whole_batch_refusal_is_split_so_only_the_bad_record_fails(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    message = "Duplicate IDs found in batch input: [pay-2]. IDs must be unique"
    error = {"status": "error", "message": message, "category": "VALIDATION_ERROR"}
    expect_upsert(hs, [upsert_input(), upsert_input("pay-2")], error, status=400)
    expect_upsert(hs, [upsert_input()], batch_answer(upserted("pay-1", "9001")))
    expect_upsert(hs, [upsert_input("pay-2")], error, status=400)
    results = crm.upsert_payments([payment(), payment("pay-2")])
    assert results == [
        RecordResult("pay-1", True),
        RecordResult("pay-2", False, message, retryable=False),
    ]


def test_upserting_the_same_payment_twice_sends_the_same_upsert(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    expect_upsert(hs, [upsert_input()], batch_answer(upserted("pay-1", "9001")))
    expect_upsert(hs, [upsert_input()], batch_answer(upserted("pay-1", "9001", new=False)))
    crm.upsert_payment(payment())
    crm.upsert_payment(payment())  # a replay: same idProperty value -> same HubSpot record
    assert hs.calls[0].request.body == hs.calls[1].request.body


def test_duplicates_in_one_call_are_sent_once_newest_last(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    expect_upsert(hs, [upsert_input(status="refunded")], batch_answer(upserted("pay-1", "9001")))
    results = crm.upsert_payments([payment(), payment(status="refunded")])
    assert [r.ok for r in results] == [True, True]


def test_more_than_a_hundred_payments_take_two_calls(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    ids = [f"pay-{n:03}" for n in range(130)]
    expect_upsert(
        hs,
        [upsert_input(i) for i in ids[:100]],
        batch_answer(*(upserted(i, str(n)) for n, i in enumerate(ids[:100]))),
    )
    expect_upsert(
        hs,
        [upsert_input(i) for i in ids[100:]],
        batch_answer(*(upserted(i, str(n)) for n, i in enumerate(ids[100:]))),
    )
    assert all(r.ok for r in crm.upsert_payments([payment(i) for i in ids]))


def test_a_validation_error_on_one_payment_is_not_retryable_and_verbatim(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    message = 'Property "card_last4" does not exist'
    expect_upsert(
        hs,
        [upsert_input()],
        {
            "status": "error",
            "message": message,
            "correlationId": "3f1e0b7a-0000-4000-8000-000000000000",
            "category": "VALIDATION_ERROR",
        },
        status=400,
    )
    with pytest.raises(CrmCallFailed) as caught:
        crm.upsert_payment(payment())
    assert caught.value.retryable is False
    assert caught.value.crm_message == message


def test_payments_are_associated_with_the_contact_when_mapped(hs: responses.RequestsMock) -> None:
    crm = HubSpotCrm({}, {"access_token": PAT}, {"payment_contact_association": "default"})
    expect_upsert(hs, [upsert_input()], batch_answer(upserted("pay-1", "9001")))
    hs.post(
        f"{API}/crm/v4/associations/p_payments/contacts/batch/associate/default",
        json={
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": "9001"},
                    "to": {"id": "101"},
                    "associationSpec": {
                        "associationCategory": "USER_DEFINED",
                        "associationTypeId": 33,
                    },
                }
            ],
        },
        match=[
            AUTH,
            matchers.json_params_matcher(
                {"inputs": [{"from": {"id": "9001"}, "to": {"id": "101"}}]}
            ),
        ],
    )
    crm.upsert_payment(payment())


# ---------------------------------------------------------------------------- retryable errors
def test_429_is_retryable_after_hubspots_retry_after(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    hs.post(
        UPSERT_URL,
        status=429,
        headers={"Retry-After": "7"},
        json={
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "11111111-0000-4000-8000-000000000000",
            "policyName": "TEN_SECONDLY_ROLLING",
        },
    )
    with pytest.raises(CrmCallFailed) as caught:
        crm.upsert_payments([payment(), payment("pay-2")])
    assert (caught.value.retryable, caught.value.delay) == (True, 7.0)


def test_429_without_retry_after_waits_ten_seconds(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    hs.post(UPSERT_URL, status=429, json={"status": "error", "message": "limit"})
    with pytest.raises(CrmCallFailed) as caught:
        crm.upsert_payment(payment())
    assert (caught.value.retryable, caught.value.delay) == (True, 10.0)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 502, "json": {"status": "error", "message": "Bad Gateway"}},
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ConnectionError("connection reset")},
    ],
)
def test_outages_and_timeouts_are_retryable(
    hs: responses.RequestsMock, crm: HubSpotCrm, answer: dict[str, Any]
) -> None:
    hs.post(UPSERT_URL, **answer)
    with pytest.raises(CrmCallFailed) as caught:
        crm.upsert_payment(payment())
    assert caught.value.retryable is True
    # requests' exceptions carry the request and its Authorization header: never chained.
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


# ---------------------------------------------------------------------------- PAN guard
def test_a_card_number_in_a_payload_is_refused_and_alerted_never_sent(
    hs: responses.RequestsMock, crm: HubSpotCrm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = payment(psp_reference=f"typed by mistake {VISA_TEST_PAN}")
    with pytest.raises(CrmCallFailed) as caught:
        crm.upsert_payment(leaky)
    assert caught.value.retryable is False
    assert len(hs.calls) == 0
    alerts = [r for r in caplog.records if getattr(r, "alert", None) == "pan_in_crm_payload"]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    digits = VISA_TEST_PAN.replace(" ", "")
    assert VISA_TEST_PAN not in caplog.text and digits not in caplog.text
    assert digits not in str(caught.value)


def test_a_card_number_in_a_note_is_refused_too(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    hs.post(f"{API}/crm/v3/objects/notes/search", json={"total": 0, "results": []})
    with pytest.raises(CrmCallFailed, match="card number"):
        crm.add_timeline_note("101", "refund-1", f"customer read out {VISA_TEST_PAN}")
    assert len(hs.calls) == 1  # the marker search only; the note itself was never sent


# ---------------------------------------------------------------------------- balance
def test_update_balance_patches_the_contact(hs: responses.RequestsMock, crm: HubSpotCrm) -> None:
    hs.patch(
        f"{API}/crm/v3/objects/contacts/101",
        json={"id": "101", "properties": {"crm_pay_balance": "120.50"}},
        match=[
            AUTH,
            matchers.json_params_matcher(
                {
                    "properties": {
                        "crm_pay_balance": "120.50",
                        "crm_pay_credit": "0.00",
                        "crm_pay_balance_currency": "USD",
                    }
                }
            ),
        ],
    )
    crm.update_balance("101", Money(12_050, "USD"), Money(0, "USD"))


def test_update_balance_of_a_non_contact_id_is_refused_for_good(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    with pytest.raises(CrmCallFailed) as caught:
        crm.update_balance("CUST-1", Money(1, "USD"), Money(0, "USD"))
    assert caught.value.retryable is False
    with pytest.raises(CrmCallFailed, match="same currency"):
        crm.update_balance("101", Money(1, "USD"), Money(0, "EUR"))
