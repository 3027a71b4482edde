"""Generic signed-webhook connector: events, signatures, stable ids, retry semantics."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.crm.webhook import WebhookCrm, event_id, verify_signature
from connectors.outbound import OutboundPolicy, OutboundUrlRefused
from crm_pay.domain.errors import ConfigurationError
from crm_pay.domain.money import Money
from crm_pay.ports import CrmCallFailed, CrmConnector, CrmPaymentRecord, CrmTimeline

URL = "https://crm.example.com/hooks/crm-pay"
SECRET = "whsec_0123456789abcdef"
NOW = 1_767_225_600


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def crm() -> WebhookCrm:
    return WebhookCrm({"url": URL}, {"signing_secret": SECRET}, clock=lambda: float(NOW))


def record(**changes: Any) -> CrmPaymentRecord:
    fields: dict[str, Any] = {
        "payment_id": "pay_1",
        "customer_ref": "C-1001",
        "status": "settled",
        "amount": Money(1230, "USD"),
        "channel": "link",
        "card_brand": "Visa",
        "card_last4": "1111",
        "psp_reference": "bt_txn_1",
        "receipt_number": "R-2026-000123",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "updated_at": None,
        "allocations": (("INV-1", Money(1230, "USD")),),
    }
    return CrmPaymentRecord(**{**fields, **changes})


def sent(mock: responses.RequestsMock, index: int = -1) -> tuple[dict[str, str], bytes]:
    request = mock.calls[index].request
    return dict(request.headers), request.body


def test_is_a_write_only_crm_connector(crm: WebhookCrm) -> None:
    assert isinstance(crm, CrmConnector) and isinstance(crm, CrmTimeline)
    with responses.RequestsMock():  # reads make no call
        assert crm.find_customer("C-1001") is None
        assert crm.find_customers_by_phone("+14155550142") == []
        assert crm.find_customers_by_email("a@example.com") == []
        assert crm.open_invoices("C-1001") == [] and crm.cards_on_file("C-1001") == []


def test_payment_event_shape_and_headers(mock: responses.RequestsMock, crm: WebhookCrm) -> None:
    evt = event_id("payment.succeeded", "pay_1", "settled", "R-2026-000123")
    mock.post(
        URL,
        status=204,
        match=[
            matchers.header_matcher(
                {
                    "Content-Type": "application/json",
                    "CrmPay-Event-Id": evt,
                    "CrmPay-Signature": re.compile(rf"^t={NOW},v1=[0-9a-f]{{64}}$"),
                }
            ),
            matchers.json_params_matcher(
                {
                    "id": evt,
                    "type": "payment.succeeded",
                    "created": NOW,
                    "data": {
                        "payment_id": "pay_1",
                        "customer_ref": "C-1001",
                        "status": "settled",
                        "amount": "12.30",
                        "amount_minor": 1230,
                        "currency": "USD",
                        "channel": "link",
                        "card": {"brand": "Visa", "last4": "1111"},
                        "psp_reference": "bt_txn_1",
                        "receipt_number": "R-2026-000123",
                        "created_at": "2026-01-02T03:04:05Z",
                        "updated_at": None,
                        "allocations": [
                            {
                                "invoice": "INV-1",
                                "amount": "12.30",
                                "amount_minor": 1230,
                                "currency": "USD",
                            }
                        ],
                    },
                }
            ),
        ],
    )
    crm.upsert_payment(record())
    assert evt.startswith("evt_") and len(evt) == 28


def test_signature_verifies_and_tampering_fails(
    mock: responses.RequestsMock, crm: WebhookCrm
) -> None:
    mock.post(URL, status=200)
    crm.upsert_payment(record())
    headers, body = sent(mock)
    header = headers["CrmPay-Signature"]

    assert verify_signature(header, body, SECRET, now=NOW)
    assert verify_signature(header, body.decode(), SECRET, now=NOW + 299)
    assert not verify_signature(header, body.replace(b"12.30", b"99.30"), SECRET, now=NOW)
    assert not verify_signature(header, body, "whsec_another_secret_value", now=NOW)
    assert not verify_signature(header, body, SECRET, now=NOW + 301)  # too old: a replay
    assert not verify_signature(header, body, SECRET, now=NOW - 301)  # from the future
    assert not verify_signature(header.replace(f"t={NOW}", f"t={NOW + 1}"), body, SECRET, now=NOW)
    for bad in ("", "t=,v1=", f"t={NOW}", "v1=00", f"t={NOW},v1=zz\u00e9"):
        assert not verify_signature(bad, body, SECRET, now=NOW)
    rotated = f"t={NOW},v1={'0' * 64},{header.split(',')[1]}"
    assert verify_signature(rotated, body, SECRET, now=NOW)


def test_same_record_same_event_id(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=200)
    times = iter([NOW, NOW, NOW + 3600, NOW + 3600])
    crm = WebhookCrm({"url": URL}, {"signing_secret": SECRET}, clock=lambda: float(next(times)))
    crm.upsert_payment(record())
    crm.upsert_payment(record())  # a replay an hour later
    first, second = (json.loads(sent(mock, i)[1]) for i in (0, 1))
    assert first["id"] == second["id"] and first["created"] != second["created"]
    assert sent(mock, 0)[0]["CrmPay-Event-Id"] == sent(mock, 1)[0]["CrmPay-Event-Id"]
    assert event_id("payment.failed", "pay_1", "declined", "") != first["id"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("authorized", "payment.succeeded"),
        ("submitted_for_settlement", "payment.succeeded"),
        ("settled", "payment.succeeded"),
        ("declined", "payment.failed"),
        ("failed", "payment.failed"),
        ("refunded", "payment.refunded"),
        ("disputed", "dispute.opened"),
        ("unknown", "payment.updated"),
        ("voided", "payment.updated"),
    ],
)
def test_event_type_follows_the_status(
    mock: responses.RequestsMock, crm: WebhookCrm, status: str, kind: str
) -> None:
    mock.post(URL, status=200)
    crm.upsert_payment(record(status=status))
    assert json.loads(sent(mock)[1])["type"] == kind


def test_balance_receipt_and_note_events(mock: responses.RequestsMock, crm: WebhookCrm) -> None:
    mock.post(URL, status=200)
    crm.update_balance("C-1001", Money(500, "USD"), Money(0, "USD"), version="ledger-42")
    crm.attach_receipt("C-1001", "pay_1", "R-2026-000123", b"%PDF-1.4")
    crm.add_timeline_note("C-1001", "refund:re_1", "Refund of USD 5.00")
    balance, receipt, note = (json.loads(sent(mock, i)[1]) for i in range(3))
    assert balance["type"] == "balance.changed"
    assert balance["data"] == {
        "customer_ref": "C-1001",
        "balance": "5.00",
        "balance_minor": 500,
        "currency": "USD",
        "credit": "0.00",
        "credit_minor": 0,
        "version": "ledger-42",
    }
    assert receipt["type"] == "receipt.issued" and "pdf_base64" not in receipt["data"]
    assert receipt["data"]["pdf_size"] == 8
    assert note == {
        "id": event_id("note.added", "C-1001", "refund:re_1"),
        "type": "note.added",
        "created": NOW,
        "data": {"customer_ref": "C-1001", "key": "refund:re_1", "text": "Refund of USD 5.00"},
    }


def test_pdf_only_behind_the_setting(mock: responses.RequestsMock) -> None:
    mock.post(URL, status=200)
    crm = WebhookCrm({"url": URL, "include_pdf": "true"}, {"signing_secret": SECRET})
    crm.attach_receipt("C-1001", "pay_1", "R-1", b"%PDF")
    assert json.loads(sent(mock)[1])["data"]["pdf_base64"] == "JVBERg=="


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (409, True),
        (400, False),
        (404, False),
        (410, False),
    ],
)
def test_non_2xx_is_a_failure(
    mock: responses.RequestsMock, crm: WebhookCrm, status: int, retryable: bool
) -> None:
    mock.post(
        URL, status=status, body="receiver says: invalid payload", headers={"Retry-After": "30"}
    )
    with pytest.raises(CrmCallFailed) as info:
        crm.upsert_payment(record())
    assert info.value.retryable is retryable
    assert info.value.crm_message == "receiver says: invalid payload"
    assert info.value.delay == (30.0 if retryable else None)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_wait_for_the_admin(
    mock: responses.RequestsMock, crm: WebhookCrm, status: int
) -> None:
    from crm_pay.ports import CrmAuthFailed

    mock.post(URL, status=status, body="bad signature")
    with pytest.raises(CrmAuthFailed) as info:
        crm.upsert_payment(record())
    assert info.value.retryable and info.value.keep_retrying
    assert info.value.crm_message == "bad signature"


def test_unreachable_receiver_is_retryable(mock: responses.RequestsMock, crm: WebhookCrm) -> None:
    mock.post(URL, body=requests.exceptions.ConnectTimeout("slow"))
    with pytest.raises(CrmCallFailed) as info:
        crm.add_timeline_note("C-1001", "n1", "hello")
    assert info.value.retryable


def test_a_card_number_is_never_sent(crm: WebhookCrm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    with responses.RequestsMock(), pytest.raises(CrmCallFailed) as info:
        crm.add_timeline_note("C-1001", "n1", "card 4111 1111 1111 1111 read aloud")
    assert not info.value.retryable
    assert "ALERT" in caplog.text and "4111" not in caplog.text + str(info.value)


def test_secret_is_not_in_requests_or_repr(mock: responses.RequestsMock, crm: WebhookCrm) -> None:
    mock.post(URL, status=200)
    crm.upsert_payment(record())
    headers, body = sent(mock)
    assert SECRET not in json.dumps(headers) + body.decode() + repr(crm)


@pytest.mark.parametrize(
    ("settings", "secrets", "word"),
    [
        ({"url": "http://crm.example.com/hook"}, {"signing_secret": SECRET}, "https"),
        ({"url": "https://u:p@crm.example.com/"}, {"signing_secret": SECRET}, "credentials"),
        ({}, {"signing_secret": SECRET}, "url"),
        ({"url": URL}, {"signing_secret": "short"}, "16"),
        ({"url": URL, "timeout": "0"}, {"signing_secret": SECRET}, "timeout"),
    ],
)
def test_bad_configuration(settings: dict[str, str], secrets: dict[str, str], word: str) -> None:
    with pytest.raises(ConfigurationError, match=word):
        WebhookCrm(settings, secrets)


def test_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no field mapping"):
        WebhookCrm({"url": URL}, {"signing_secret": SECRET}, {"payment_status": "x"})


def test_http_to_localhost_only_when_loopback_is_allowed() -> None:
    settings, secrets = {"url": "http://127.0.0.1:9000/h"}, {"signing_secret": SECRET}
    demo = OutboundPolicy(allow_loopback=True)  # demo mode and tests
    assert WebhookCrm(settings, secrets, outbound=demo).url == "http://127.0.0.1:9000/h"
    with pytest.raises(OutboundUrlRefused, match="https"):
        WebhookCrm(settings, secrets)
    with pytest.raises(OutboundUrlRefused, match="loopback.*CRM_PAY_OUTBOUND_ALLOW_HOSTS"):
        WebhookCrm({"url": "https://127.0.0.1:9000/h"}, secrets)


def test_test_connection_sends_a_signed_ping(mock: responses.RequestsMock, crm: WebhookCrm) -> None:
    mock.post(URL, status=200)
    mock.post(URL, status=401, body="bad signature")
    assert crm.test_connection().ok
    assert json.loads(sent(mock)[1])["type"] == "ping"
    report = crm.test_connection()
    # The status, never the receiver's answer: Test connection is no way to read a host.
    assert not report.ok and "HTTP 401" in report.checks[0][2]
    assert "bad signature" not in report.checks[0][2]


def test_the_documented_verification_snippet_works(
    mock: responses.RequestsMock, crm: WebhookCrm
) -> None:
    doc = Path(__file__).parents[3] / "docs" / "crm" / "webhook.md"
    snippet = re.search(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(doc), "exec"), namespace)  # noqa: S102 - our own docs
    mock.post(URL, status=200)
    crm.upsert_payment(record())
    headers, body = sent(mock)
    verify = namespace["verify"]
    assert verify(headers["CrmPay-Signature"], body, SECRET, now=NOW)
    assert not verify(headers["CrmPay-Signature"], body + b" ", SECRET, now=NOW)
    assert not verify(headers["CrmPay-Signature"], body, SECRET, now=NOW + 301)
