"""HubSpot connector: receipts (private file + note on the contact) and timeline notes,
each written once however often the outbox replays them."""

from __future__ import annotations

import json
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
NOW = 1_767_000_000.0  # 2025-12-29T09:20:00Z
PDF = b"%PDF-1.7\n% a receipt showing Visa ending 1111\n%%EOF\n"
NOTE_TO_CONTACT = [
    {
        "to": {"id": "101"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
    }
]


@pytest.fixture
def hs() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def crm() -> HubSpotCrm:
    return HubSpotCrm({"auth": "private_app"}, {"access_token": PAT}, clock=lambda: NOW)


def marker_search(hs: responses.RequestsMock, total: int) -> list[str]:
    """Expect one note search by marker; return the marker it searched for (filled later)."""
    seen: list[str] = []

    def by_marker(request: Any) -> tuple[bool, str]:
        body = json.loads(request.body)
        (flt,) = body["filterGroups"][0]["filters"]
        ok = (
            flt["propertyName"] == "hs_note_body"
            and flt["operator"] == "CONTAINS_TOKEN"
            and flt["value"].isalnum()
            and body["limit"] == 1
        )
        seen.append(flt["value"])
        return ok, "" if ok else f"unexpected note search {body}"

    results = [{"id": "7001", "properties": {"hs_note_body": "..."}}] * total
    hs.post(
        f"{API}/crm/v3/objects/notes/search",
        json={"total": total, "results": results},
        match=[AUTH, by_marker],
    )
    return seen


def files_search(hs: responses.RequestsMock, *found: dict[str, Any]) -> None:
    hs.get(
        f"{API}/files/v3/files/search",
        json={"results": list(found)},
        match=[AUTH, matchers.query_param_matcher({"name": "receipt-R-2026-000123"})],
    )


def test_a_receipt_is_uploaded_privately_and_noted_on_the_contact(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    files_search(hs)
    hs.post(
        f"{API}/files/v3/files",
        status=201,
        json={
            "id": "55501",
            "name": "receipt-R-2026-000123",
            "extension": "pdf",
            "access": "PRIVATE",
            "parentFolderId": "4242",
        },
        match=[
            AUTH,
            matchers.multipart_matcher(
                files={"file": ("receipt-R-2026-000123.pdf", PDF, "application/pdf")},
                data={
                    "folderPath": "/crm-pay/receipts",
                    "fileName": "receipt-R-2026-000123",
                    "options": json.dumps(
                        {
                            "access": "PRIVATE",
                            "overwrite": False,
                            "duplicateValidationStrategy": "NONE",
                            "duplicateValidationScope": "EXACT_FOLDER",
                        }
                    ),
                },
            ),
        ],
    )
    searched = marker_search(hs, total=0)
    created: list[dict[str, Any]] = []

    def note_shape(request: Any) -> tuple[bool, str]:
        body = json.loads(request.body)
        created.append(body)
        props = body["properties"]
        ok = (
            body["associations"] == NOTE_TO_CONTACT
            and props["hs_attachment_ids"] == "55501"
            and props["hs_timestamp"] == "2025-12-29T09:20:00.000Z"
            and "Receipt R-2026-000123 for payment pay-1" in props["hs_note_body"]
        )
        return ok, "" if ok else f"unexpected note {body}"

    hs.post(
        f"{API}/crm/v3/objects/notes", status=201, json={"id": "7001"}, match=[AUTH, note_shape]
    )
    crm.attach_receipt("101", "pay-1", "R-2026-000123", PDF)
    assert searched[0] in created[0]["properties"]["hs_note_body"]  # the marker is findable


def test_a_receipt_already_attached_is_not_uploaded_or_noted_again(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    files_search(
        hs,
        {"id": "1", "name": "receipt-R-2026-000123-old", "extension": "pdf"},
        {"id": "55501", "name": "receipt-R-2026-000123", "extension": "pdf"},
    )
    marker_search(hs, total=1)
    crm.attach_receipt("101", "pay-1", "R-2026-000123", PDF)
    assert len(hs.calls) == 2  # two lookups; no upload, no note


def test_a_receipt_uploaded_before_a_crash_gets_its_note(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    files_search(hs, {"id": "55501", "name": "receipt-R-2026-000123", "extension": "pdf"})
    marker_search(hs, total=0)
    hs.post(f"{API}/crm/v3/objects/notes", status=201, json={"id": "7001"})
    crm.attach_receipt("101", "pay-1", "R-2026-000123", PDF)
    assert json.loads(hs.calls[2].request.body)["properties"]["hs_attachment_ids"] == "55501"


@pytest.mark.parametrize(("ref", "number"), [("CUST-1", "R-1"), ("101", "../etc/passwd")])
def test_bad_receipt_targets_are_refused_for_good(
    hs: responses.RequestsMock, crm: HubSpotCrm, ref: str, number: str
) -> None:
    with pytest.raises(CrmCallFailed) as caught:
        crm.attach_receipt(ref, "pay-1", number, PDF)
    assert caught.value.retryable is False
    assert len(hs.calls) == 0


def test_a_timeline_note_is_written_once_per_key(
    hs: responses.RequestsMock, crm: HubSpotCrm
) -> None:
    first = marker_search(hs, total=0)
    hs.post(
        f"{API}/crm/v3/objects/notes",
        status=201,
        json={"id": "7002"},
        match=[
            AUTH,
            matchers.json_params_matcher(
                {
                    "properties": {
                        "hs_timestamp": "2025-12-29T09:20:00.000Z",
                        "hs_note_body": (
                            "<p>Refund of $12.00 on payment pay-1</p>"
                            "<p>Reason: customer &lt;changed mind&gt;</p>"
                            f"<p><small>ref {_marker('refund-1')}</small></p>"
                        ),
                    },
                    "associations": NOTE_TO_CONTACT,
                }
            ),
        ],
    )
    text = "Refund of $12.00 on payment pay-1\nReason: customer <changed mind>"
    crm.add_timeline_note("101", "refund-1", text)
    second = marker_search(hs, total=1)
    crm.add_timeline_note("101", "refund-1", text)  # replay: found, nothing created
    assert set(first) == set(second) == {_marker("refund-1")}
    assert len(hs.calls) == 3


def _marker(key: str) -> str:
    from connectors.crm.hubspot.records import note_marker

    return note_marker("timeline", key)
