"""Dynamics 365 connector: idempotent writes against Dataverse's documented shapes.

Offline with ``responses``; matchers check URL, query, headers and body, so a wrong request
fails the test. Amounts are compared as ``Decimal``: money never becomes a float.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.crm.dynamics import DynamicsCrm
from crm_pay.domain.money import Money
from crm_pay.ports import CrmCallFailed, CrmPaymentRecord, RecordResult

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


def exact_json(expected: dict[str, Any]) -> Callable[[Any], tuple[bool, str]]:
    """Match a JSON body exactly, reading numbers as Decimal."""

    def match(request: Any) -> tuple[bool, str]:
        body = json.loads(request.body, parse_float=Decimal)
        return body == expected, f"body {body!r} != {expected!r}"

    return match


def record(payment_id: str = "pay_1", customer: str = C1, **changes: Any) -> CrmPaymentRecord:
    fields: dict[str, Any] = {
        "payment_id": payment_id,
        "customer_ref": customer,
        "status": "settled",
        "amount": Money(1230, "USD"),
        "channel": "link",
        "card_brand": "Visa",
        "card_last4": "1111",
        "psp_reference": "bt_txn_1",
        "receipt_number": "R-2026-000123",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC),
    }
    return CrmPaymentRecord(**{**fields, **changes})


def payment_body(customer: str = C1) -> dict[str, Any]:
    return {
        "crmpay_amount": Decimal("12.30"),
        "crmpay_currency": "USD",
        "crmpay_status": "settled",
        "crmpay_channel": "link",
        "crmpay_cardbrand": "Visa",
        "crmpay_cardlast4": "1111",
        "crmpay_pspreference": "bt_txn_1",
        "crmpay_receiptnumber": "R-2026-000123",
        "crmpay_createdat": "2026-01-02T03:04:05Z",
        "crmpay_updatedat": "2026-01-02T03:05:00Z",
        "crmpay_Contact@odata.bind": f"/contacts({customer})",
    }


# ---------------------------------------------------------------------------- payments
def test_upsert_by_alternate_key_is_idempotent(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    url = f"{API}crmpay_payments(crmpay_externalid='pay_1')"
    for _ in range(2):
        mock.patch(
            url,
            status=204,
            match=[
                matchers.header_matcher(
                    {**AUTH, "Content-Type": "application/json; charset=utf-8"}
                ),
                exact_json(payment_body()),
            ],
        )
    crm.upsert_payment(record())
    crm.upsert_payment(record())  # a replay sends the very same upsert

    patches = [c.request for c in mock.calls if c.request.method == "PATCH"]
    assert patches[0].body == patches[1].body
    assert b'"crmpay_amount":12.30' in patches[0].body  # exact decimal, not a float
    assert "If-Match" not in patches[0].headers and "If-None-Match" not in patches[0].headers


def test_quotes_in_our_id_are_escaped_in_the_key(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.patch(f"{API}crmpay_payments(crmpay_externalid='it''s%2F1')", status=204)
    crm.upsert_payment(record("it's/1"))


def test_service_protection_limit_is_retryable_after_retry_after(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    message = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
    mock.patch(
        f"{API}crmpay_payments(crmpay_externalid='pay_1')",
        status=429,
        headers={"Retry-After": "7"},
        json={"error": {"code": "0x80072322", "message": message}},
    )
    with pytest.raises(CrmCallFailed) as info:
        crm.upsert_payment(record())
    assert (info.value.retryable, info.value.delay, info.value.crm_message) == (True, 7.0, message)


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (404, False), (500, True), (503, True)]
)
def test_errors_carry_dataverses_message_verbatim(
    mock: responses.RequestsMock, crm: DynamicsCrm, status: int, retryable: bool
) -> None:
    message = (
        "A validation error occurred. The length of the 'crmpay_cardlast4' attribute exceeded 4."
    )
    mock.patch(
        f"{API}crmpay_payments(crmpay_externalid='pay_1')",
        status=status,
        json={"error": {"code": "0x80044331", "message": message}},
    )
    with pytest.raises(CrmCallFailed) as info:
        crm.upsert_payment(record())
    assert info.value.retryable is retryable
    assert info.value.crm_message == message and message in str(info.value)


def _batch_matcher(expected: list[tuple[str, dict[str, Any]]]) -> Callable[[Any], tuple[bool, str]]:
    def match(request: Any) -> tuple[bool, str]:
        ctype = request.headers["Content-Type"]
        if request.headers.get("Prefer") != "odata.continue-on-error":
            return False, "no Prefer: odata.continue-on-error"
        message = email.message_from_bytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + request.body, policy=email.policy.compat32
        )
        seen = []
        for changeset in message.get_payload():
            (inner,) = changeset.get_payload()  # one request per change set
            text = inner.get_payload(decode=True).decode()
            head, _, body = text.replace("\r\n", "\n").partition("\n\n")
            seen.append((head.split("\n")[0], json.loads(body, parse_float=Decimal)))
        want = [(f"PATCH {API}{path} HTTP/1.1", body) for path, body in expected]
        return seen == want, f"{seen!r} != {want!r}"

    return match


def _part(status: str, body: str = "", *, changeset: bool) -> str:
    http = f"HTTP/1.1 {status}\r\nOData-Version: 4.0\r\n"
    http += (
        f"Content-Type: application/json; odata.metadata=minimal\r\n\r\n{body}\r\n"
        if body
        else "\r\n"
    )
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if not changeset:
        return f"--batchresponse_1\r\n{head}\r\n{http}"
    return (
        f"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_x\r\n\r\n"
        f"--changesetresponse_x\r\n{head}Content-ID: 1\r\n\r\n{http}--changesetresponse_x--\r\n"
    )


def test_batch_partial_failure_keeps_dataverses_message(
    mock: responses.RequestsMock, crm: DynamicsCrm, caplog: pytest.LogCaptureFixture
) -> None:
    error = json.dumps({"error": {"code": "0x80040217", "message": NOT_FOUND}})
    body = (
        _part("204 No Content", changeset=True)
        + _part("404 Not Found", error, changeset=False)
        + _part("204 No Content", changeset=True)
        + "--batchresponse_1--\r\n"
    )
    mock.post(
        f"{API}$batch",
        body=body,
        content_type="multipart/mixed; boundary=batchresponse_1",
        match=[
            matchers.header_matcher(AUTH),
            _batch_matcher(
                [
                    ("crmpay_payments(crmpay_externalid='pay_1')", payment_body()),
                    ("crmpay_payments(crmpay_externalid='pay_2')", payment_body(MISSING)),
                    ("crmpay_payments(crmpay_externalid='pay_4')", payment_body()),
                ]
            ),
        ],
    )
    results = crm.upsert_payments(
        [
            record("pay_1"),
            record("pay_2", MISSING),
            record("pay_3", "not-a-guid"),  # refused before sending
            record("pay_4"),
            record("pay_5", psp_reference="4111 1111 1111 1111"),  # a card number: never sent
        ]
    )
    assert results[0] == RecordResult("pay_1", True)
    assert results[1] == RecordResult("pay_2", False, NOT_FOUND, retryable=False)
    assert not results[2].ok and not results[2].retryable
    assert results[3] == RecordResult("pay_4", True)
    assert not results[4].ok and not results[4].retryable
    assert "ALERT" in caplog.text and "4111" not in caplog.text
    assert crm.max_batch == 100
    with pytest.raises(ValueError, match="at most 100"):
        crm.upsert_payments([record(f"p{i}") for i in range(101)])


def test_whole_batch_throttled_raises_with_delay(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.post(
        f"{API}$batch",
        status=429,
        headers={"Retry-After": "12"},
        json={"error": {"code": "0x80072321", "message": "Combined execution time exceeded."}},
    )
    with pytest.raises(CrmCallFailed) as info:
        crm.upsert_payments([record()])
    assert info.value.retryable and info.value.delay == 12.0


# ---------------------------------------------------------------------------- balances, notes
def test_balance_update_never_creates_a_contact(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    mock.patch(
        f"{API}contacts({C1})",
        status=204,
        match=[
            matchers.header_matcher({**AUTH, "If-Match": "*"}),
            exact_json({"crmpay_balance": Decimal("12.30"), "crmpay_credit": Decimal("0.00")}),
        ],
    )
    mock.patch(
        f"{API}contacts({MISSING})",
        status=404,
        json={"error": {"code": "0x80040217", "message": NOT_FOUND}},
    )
    crm.update_balance(C1, Money(1230, "USD"), Money(0, "USD"))
    with pytest.raises(CrmCallFailed) as info:
        crm.update_balance(MISSING, Money(1, "USD"), Money(0, "USD"))
    assert info.value.crm_message == NOT_FOUND and not info.value.retryable


def _annotation_lookup(mock: responses.RequestsMock, condition: str, found: bool) -> None:
    mock.get(
        f"{API}annotations",
        json={"value": [{"annotationid": "n1"}] if found else []},
        match=[
            matchers.header_matcher(AUTH),
            matchers.query_param_matcher(
                {
                    "$select": "annotationid",
                    "$top": "1",
                    "$filter": f"_objectid_value eq {C1} and {condition}",
                }
            ),
        ],
    )


def test_receipt_is_attached_as_an_annotation_once(
    mock: responses.RequestsMock, crm: DynamicsCrm
) -> None:
    pdf = b"%PDF-1.4 receipt"
    _annotation_lookup(mock, "subject eq 'R-2026-000123'", found=False)
    mock.post(
        f"{API}annotations",
        status=204,
        match=[
            exact_json(
                {
                    "subject": "R-2026-000123",
                    "notetext": "Receipt R-2026-000123 for payment pay_1",
                    "filename": "R-2026-000123.pdf",
                    "mimetype": "application/pdf",
                    "documentbody": base64.b64encode(pdf).decode(),
                    "objectid_contact@odata.bind": f"/contacts({C1})",
                }
            )
        ],
    )
    crm.attach_receipt(C1, "pay_1", "R-2026-000123", pdf)

    _annotation_lookup(mock, "subject eq 'R-2026-000123'", found=True)
    crm.attach_receipt(C1, "pay_1", "R-2026-000123", pdf)  # already there: no second POST
    assert (
        sum(c.request.method == "POST" and "annotations" in c.request.url for c in mock.calls) == 1
    )


def test_timeline_note_is_keyed(mock: responses.RequestsMock, crm: DynamicsCrm) -> None:
    _annotation_lookup(mock, "startswith(subject,'[refund:re_1]')", found=False)
    mock.post(
        f"{API}annotations",
        status=204,
        match=[
            exact_json(
                {
                    "subject": "[refund:re_1] Refund of USD 5.00",
                    "notetext": "Refund of USD 5.00\nReason: customer request",
                    "objectid_contact@odata.bind": f"/contacts({C1})",
                }
            )
        ],
    )
    crm.add_timeline_note(C1, "refund:re_1", "Refund of USD 5.00\nReason: customer request")
    _annotation_lookup(mock, "startswith(subject,'[refund:re_1]')", found=True)
    crm.add_timeline_note(C1, "refund:re_1", "Refund of USD 5.00\nReason: customer request")


def test_a_card_number_is_never_sent(crm: DynamicsCrm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    with responses.RequestsMock():  # no call at all, not even for a token
        with pytest.raises(CrmCallFailed) as info:
            crm.upsert_payment(record(psp_reference="4111-1111-1111-1111"))
        assert not info.value.retryable
        with pytest.raises(CrmCallFailed) as note:
            crm.add_timeline_note(C1, "n1", "customer read 5555 5555 5555 4444 aloud")
        assert not note.value.retryable
    assert "ALERT" in caplog.text
    assert "4111" not in caplog.text + str(info.value) and "5555 5555 5555 4444" not in caplog.text
