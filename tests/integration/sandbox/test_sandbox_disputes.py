"""Disputes through the SDK's dispute and document-upload API, and their webhooks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import braintree
import pytest
import requests

from connectors.psp.braintree_sandbox import DISPUTE_OUTCOMES, SandboxServer

pytestmark = pytest.mark.sandbox

Dispute = braintree.Dispute
# The PNG signature and an empty IHDR-sized tail: enough for the type check, no image data.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
# braintree_python test/credit_card_numbers.py CreditCardNumbers.Disputes.Chargeback
CHARGEBACK_TEST_CARD = "4023898493988028"


def _drain(receiver) -> None:
    while not receiver.received.empty():
        receiver.received.get_nowait()


def _parse(gateway, form):
    return gateway.webhook_notification.parse(form["bt_signature"], form["bt_payload"])


def _dispute(gateway, sandbox, webhook_receiver, amount: str = "100.00") -> str:
    sale = gateway.transaction.sale(
        {
            "amount": amount,
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    sandbox.settle(sale.id)
    dispute_id = sandbox.open_dispute(sale.id)
    assert _parse(gateway, webhook_receiver.next()).kind == "dispute_opened"
    return dispute_id


def _upload(gateway, path: Path, content: bytes, kind: str = "evidence_document"):
    path.write_bytes(content)
    with path.open("rb") as handle:
        return gateway.document_upload.create({"kind": kind, "file": handle})


def test_the_chargeback_test_card_comes_back_disputed(gateway, sandbox, webhook_receiver):
    # test_disputes.py::create_sample_dispute: a sale with this card has disputes[0].
    _drain(webhook_receiver)
    token = json.loads(base64.b64decode(gateway.client_token.generate()))
    card = {"number": CHARGEBACK_TEST_CARD, "expirationDate": "12/39", "cvv": "123"}
    with requests.post(
        sandbox.assets_url + "/tokenize",
        json={"authorizationFingerprint": token["authorizationFingerprint"], **card},
        timeout=5,
    ) as response:
        nonce = response.json()["nonce"]

    sale = gateway.transaction.sale({"amount": "100.00", "payment_method_nonce": nonce})

    assert sale.is_success
    dispute = sale.transaction.disputes[0]
    assert (dispute.status, dispute.amount_disputed) == ("open", Decimal("100.00"))
    assert _parse(gateway, webhook_receiver.next()).dispute.id == dispute.id


def test_find_reads_the_dispute_as_the_sdk_parses_it(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver, "80.00")

    dispute = gateway.dispute.find(dispute_id)

    assert (dispute.id, dispute.status, dispute.kind) == (dispute_id, "open", "chargeback")
    assert dispute.reason == Dispute.Reason.Fraud
    assert dispute.amount_disputed == Decimal("80.00") and dispute.amount_won == Decimal("0.00")
    assert dispute.currency_iso_code == "USD"
    assert dispute.reply_by_date > dispute.received_date
    assert dispute.transaction.amount == Decimal("80.00")
    assert [h.status for h in dispute.status_history] == ["open"]
    assert isinstance(dispute.remaining_file_evidence_storage, int)
    transaction = gateway.transaction.find(dispute.transaction.id)
    assert [d.id for d in transaction.disputes] == [dispute_id]


def test_accept_moves_to_accepted_and_sends_dispute_accepted(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)

    assert gateway.dispute.accept(dispute_id).is_success
    notification = _parse(gateway, webhook_receiver.next())
    again = gateway.dispute.accept(dispute_id)

    assert notification.kind == braintree.WebhookNotification.Kind.DisputeAccepted
    assert notification.dispute.status == Dispute.Status.Accepted
    assert gateway.dispute.find(dispute_id).status == Dispute.Status.Accepted
    assert not again.is_success
    error = again.errors.for_object("dispute")[0]
    assert error.code == "95704"  # ErrorCodes.Dispute.CanOnlyAcceptOpenDispute
    assert error.message == "Disputes can only be accepted when they are in an Open state"


def test_text_and_file_evidence_then_finalize(gateway, sandbox, webhook_receiver, tmp_path):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)
    before = gateway.dispute.find(dispute_id).remaining_file_evidence_storage

    text = gateway.dispute.add_text_evidence(dispute_id, "text evidence")
    upload = _upload(gateway, tmp_path / "receipt.png", PNG)
    document = upload.document_upload
    file = gateway.dispute.add_file_evidence(
        dispute_id, {"document_id": document.id, "category": "GENERAL"}
    )
    finalized = gateway.dispute.finalize(dispute_id)
    notification = _parse(gateway, webhook_receiver.next())

    assert text.is_success and text.evidence.comment == "text evidence"
    assert text.evidence.category is None and text.evidence.sequence_number is None
    assert (document.kind, document.name, document.content_type, document.size) == (
        "evidence_document",
        "receipt.png",
        "image/png",
        len(PNG),
    )
    assert file.is_success and file.evidence.category == "GENERAL"
    found = gateway.dispute.find(dispute_id)
    assert [e.id for e in found.evidence] == [text.evidence.id, file.evidence.id]
    assert found.remaining_file_evidence_storage == before - len(PNG)
    assert finalized.is_success and found.status == Dispute.Status.Disputed
    assert notification.kind == braintree.WebhookNotification.Kind.DisputeDisputed


def test_evidence_on_a_closed_dispute_and_bad_categories_are_refused(
    gateway, sandbox, webhook_receiver, tmp_path
):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)
    document = _upload(gateway, tmp_path / "e.png", PNG).document_upload

    text_only = gateway.dispute.add_file_evidence(
        dispute_id, {"document_id": document.id, "category": "DEVICE_ID"}
    )
    invalid = gateway.dispute.add_text_evidence(
        dispute_id, {"content": "x", "category": "DOESNOTEXIST"}
    )
    bad_date = gateway.dispute.add_text_evidence(
        dispute_id, {"content": "not a date", "category": "DOWNLOAD_DATE_TIME"}
    )
    gateway.dispute.accept(dispute_id)
    closed = gateway.dispute.add_text_evidence(dispute_id, "too late")
    not_open = gateway.dispute.finalize(dispute_id)

    def code(result) -> str:
        return result.errors.for_object("dispute")[0].code

    assert [code(r) for r in (text_only, invalid, bad_date, closed, not_open)] == [
        "95711",  # EvidenceCategoryTextOnly
        "95706",  # CanOnlyCreateEvidenceWithValidCategory
        "95707",  # EvidenceContentDateInvalid
        "95701",  # CanOnlyAddEvidenceToOpenDispute
        "95705",  # CanOnlyFinalizeOpenDispute
    ]
    assert gateway.dispute.find(dispute_id).evidence == []


def test_unknown_dispute_raises_not_found(gateway):
    for call in (gateway.dispute.find, gateway.dispute.accept, gateway.dispute.finalize):
        with pytest.raises(braintree.exceptions.NotFoundError):
            call("nosuchdispute")


def test_document_upload_refuses_bad_files(gateway, tmp_path):
    gif = _upload(gateway, tmp_path / "a.gif", b"GIF89a" + bytes(16))
    empty = _upload(gateway, tmp_path / "empty.pdf", b"")
    kind = _upload(gateway, tmp_path / "k.png", PNG, kind="invalid_kind")

    def code(result) -> str:
        return result.errors.for_object("document_upload")[0].code

    assert [code(r) for r in (gif, empty, kind)] == ["84903", "84906", "84901"]


@pytest.mark.parametrize("outcome", DISPUTE_OUTCOMES)
def test_every_outcome_sends_its_webhook(gateway, sandbox, webhook_receiver, outcome):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver, "40.00")

    sandbox.resolve_dispute(dispute_id, outcome)
    notification = _parse(gateway, webhook_receiver.next())

    assert notification.kind == f"dispute_{outcome}"
    assert notification.dispute.id == dispute_id
    assert notification.dispute.status == outcome
    assert [h.status for h in notification.dispute.status_history] == ["open", outcome]
    won = Decimal("40.00") if outcome == "won" else Decimal("0.00")
    assert notification.dispute.amount_won == won


def test_resolving_to_an_unknown_outcome_is_refused(gateway, sandbox, webhook_receiver):
    _drain(webhook_receiver)
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)

    with pytest.raises(ValueError, match="outcome must be one of"):
        sandbox.resolve_dispute(dispute_id, "settled_out_of_court")
    assert gateway.dispute.find(dispute_id).status == "open"


# ---- dispute search (braintree_python tests/integration/test_dispute_search.py)
DisputeSearch = braintree.DisputeSearch


def _search(gateway, *criteria) -> list:
    return list(gateway.dispute.search(list(criteria)).disputes.items)


def test_search_by_id_and_an_unknown_id_finds_nothing(gateway, sandbox, webhook_receiver):
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)

    (found,) = _search(gateway, DisputeSearch.id == dispute_id)
    assert (found.id, found.status, found.kind) == (dispute_id, Dispute.Status.Open, "chargeback")
    assert found.amount_disputed == Decimal("100.00")
    assert _search(gateway, DisputeSearch.id == "non_existent_dispute") == []
    # test_advanced_search_can_take_one_criteria: one criterion, not in a list.
    assert list(gateway.dispute.search(DisputeSearch.id == dispute_id).disputes.items)


def test_search_pages_through_every_dispute_of_a_transaction_once(
    gateway, sandbox, webhook_receiver
):
    sale = gateway.transaction.sale(
        {
            "amount": "12.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    opened = [sandbox.open_dispute(sale.id, "1.00") for _ in range(23)]

    found = [d.id for d in _search(gateway, DisputeSearch.transaction_id == sale.id)]

    assert found == opened  # oldest first, three pages of 10, none twice
    for _ in opened:  # each opening sent its dispute_opened
        assert _parse(gateway, webhook_receiver.next()).kind == "dispute_opened"


def test_search_by_received_date_includes_both_ends_and_reads_the_sdks_date_forms(
    gateway, sandbox, webhook_receiver
):
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)
    received = gateway.dispute.find(dispute_id).received_date
    day = timedelta(days=1)
    mine = DisputeSearch.id == dispute_id

    for first, last in (
        (received, received),  # a date object (sent as 2026-01-31T00:00:00Z)
        (received.strftime("%m/%d/%Y"), received.strftime("%m/%d/%Y")),  # the SDK test's form
        (received - day, received + day),
    ):
        assert [
            d.id for d in _search(gateway, mine, DisputeSearch.received_date.between(first, last))
        ] == [dispute_id]
    assert (
        _search(gateway, mine, DisputeSearch.received_date.between(received + day, received + day))
        == []
    )
    assert _search(gateway, mine, DisputeSearch.received_date <= received - day) == []


def test_search_by_effective_date_and_status_finds_a_dispute_lost_today(
    gateway, sandbox, webhook_receiver
):
    dispute_id = _dispute(gateway, sandbox, webhook_receiver)
    sandbox.resolve_dispute(dispute_id, "lost")
    assert _parse(gateway, webhook_receiver.next()).kind == "dispute_lost"
    today = gateway.dispute.find(dispute_id).received_date
    mine = DisputeSearch.id == dispute_id

    (lost,) = _search(gateway, mine, DisputeSearch.effective_date.between(today, today))
    assert lost.status == Dispute.Status.Lost
    assert _search(gateway, mine, DisputeSearch.status.in_list([Dispute.Status.Lost]))
    assert _search(gateway, mine, DisputeSearch.status == Dispute.Status.Open) == []
    tomorrow = today + timedelta(days=1)
    assert _search(gateway, mine, DisputeSearch.effective_date >= tomorrow) == []


def test_unsupported_dispute_criteria_and_bad_dates_are_refused_loudly(gateway):
    with pytest.raises(braintree.exceptions.UnexpectedError):
        _search(gateway, DisputeSearch.customer_id == "someone")
    with pytest.raises(braintree.exceptions.UnexpectedError):
        _search(gateway, DisputeSearch.received_date >= "yesterday")


def test_a_disputes_status_history_carries_its_effective_date(sandbox: SandboxServer) -> None:
    # braintree_python tests/integration/test_dispute_search.py reads
    # status_history[0].effective_date and searches disputes by it.
    gateway = sandbox.braintree_gateway()
    sale = gateway.transaction.sale(
        {
            "amount": "21.00",
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    ).transaction
    dispute_id = sandbox.open_dispute(sale.id)
    dispute = gateway.dispute.find(dispute_id)
    effective = dispute.status_history[0].effective_date
    assert str(effective) == datetime.now(UTC).date().isoformat()
    found = list(
        gateway.dispute.search(
            braintree.DisputeSearch.effective_date.between(effective, effective),
            braintree.DisputeSearch.id == dispute_id,
        ).disputes.items
    )
    assert [d.id for d in found] == [dispute_id]
