"""notification_from_sdk / dispute_from_sdk over every kind the SDK can sample: each
maps to a notice with a dedupe identity; disputes keep status, amounts and dates."""

from __future__ import annotations

from datetime import date

import braintree
import pytest

from connectors.psp.braintree import BraintreeGateway
from connectors.psp.braintree_mapping import dispute_refusal, evidence_document
from crm_pay.domain.errors import Conflict
from crm_pay.domain.money import Money
from crm_pay.services.dispute_records import DISPUTE_KINDS
from crm_pay.services.webhooks import ignored_reason

PUBLIC, PRIVATE = "hook_public", "hook_private"
KINDS = sorted(
    v for k, v in vars(braintree.WebhookNotification.Kind).items() if not k.startswith("_")
)


@pytest.fixture
def gateway() -> BraintreeGateway:
    return BraintreeGateway.for_local_sandbox(
        "http://127.0.0.1:9", merchant_id="m1", public_key=PUBLIC, private_key=PRIVATE
    )


def sample(kind: str, subject_id: str) -> tuple[str, str]:
    config = braintree.Configuration(
        environment="sandbox", merchant_id="m1", public_key=PUBLIC, private_key=PRIVATE
    )
    form = braintree.BraintreeGateway(config).webhook_testing.sample_notification(kind, subject_id)
    return form["bt_signature"], form["bt_payload"].decode()


@pytest.mark.parametrize("kind", KINDS)
def test_every_sampled_kind_maps_and_is_applied_or_ignored_with_a_reason(
    gateway: BraintreeGateway, kind: str
) -> None:
    note = gateway.parse_webhook(*sample(kind, "subj1"))
    assert note.kind == kind
    assert note.event_id.startswith(f"{kind}:") and note.event_id.endswith("+00:00")
    reason = ignored_reason(note)
    applied = (
        kind in DISPUTE_KINDS or kind.startswith("transaction_settle") or kind == ("refund_failed")
    )
    assert (reason is None) == applied
    if kind in DISPUTE_KINDS:
        assert note.dispute is not None and note.dispute.id == "subj1"
        assert note.transaction_id == "subj1"


@pytest.mark.parametrize("kind", ["refund_failed", "transaction_disbursed"])
def test_a_partial_transaction_is_kept_by_id_only(gateway: BraintreeGateway, kind: str) -> None:
    # The SDK's samples for these carry no currency: not a money movement to read.
    note = gateway.parse_webhook(*sample(kind, "txn9"))
    assert note.transaction is None and note.transaction_id == "txn9"


def test_a_dispute_keeps_what_a_supervisor_needs(gateway: BraintreeGateway) -> None:
    note = gateway.parse_webhook(*sample("dispute_lost", "dp1"))
    d = note.dispute
    assert d is not None
    assert (d.status, d.kind, d.reason) == ("lost", "chargeback", "fraud")
    assert d.amount == Money(10000, "USD") and d.transaction_amount == Money(10000, "USD")
    assert d.reply_by == date(2016, 2, 22) and d.case_number == "CASE-12345"
    assert [s for s, _ in d.status_history] == ["open", "lost"]
    assert d.evidence_ids  # the sample's evidence ids


def test_a_legacy_dispute_sample_maps_too(gateway: BraintreeGateway) -> None:
    note = gateway.parse_webhook(*sample("dispute_opened", "legacy_dispute_id"))
    assert note.dispute is not None and note.dispute.amount == Money(25000, "USD")
    assert note.dispute.status == "open"


class _Error:
    code = "95704"


class _Errors:
    deep_errors = [_Error()]


class _Refused:
    is_success = False
    errors = _Errors()


def test_a_refused_dispute_operation_is_a_conflict_in_plain_words() -> None:
    with pytest.raises(Conflict, match="only an open dispute can be accepted"):
        dispute_refusal(_Refused(), "accept", "dp1")


def test_an_evidence_document_carries_its_name_for_the_sdk() -> None:
    doc = evidence_document("proof.pdf", b"%PDF", "application/pdf")
    assert doc.name == "proof.pdf" and doc.read() == b"%PDF"
    # the SDK takes the part's Content-Type from the name: it follows the content type
    assert evidence_document("scan", b"\x89PNG", "image/png").name == "scan.png"
    assert evidence_document("scan.pdf", b"\xff\xd8\xff", "image/jpeg").name == "scan.jpg"
