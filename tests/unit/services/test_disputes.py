"""Answering disputes with the fake PSP (milliseconds, no HTTP): the chargeback booked
once, the case resolved with the answer, an answer lost on the way back found on the
retry, and refusals that leave nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_pay.domain.errors import Conflict, PspUnavailable, ValidationError
from crm_pay.domain.money import Money
from crm_pay.persistence.models import Case, Dispute, DisputeEvidence, LedgerEntryRow
from crm_pay.services import disputes
from crm_pay.services.access import Principal
from crm_pay.services.webhooks import receive_envelope
from crm_pay.testing import FakeWorld
from servicetest import paid

BOSS = Principal(kind="user", id=7, name="boss@example.com", role="supervisor")


def disputed(world: FakeWorld) -> str:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    found = world.psp.open_dispute(payment["psp_reference"], Money.parse("100.00", "USD"))
    envelope = world.psp.signed_webhook(
        {
            "kind": "dispute_opened",
            "dispute_id": found.id,
            "transaction_id": payment["psp_reference"],
            "amount": "100.00",
            "currency": "USD",
            "timestamp": world.clock.now.isoformat(),
        }
    )
    assert receive_envelope(world.ctx, envelope, remote_addr=None).status == "processed"
    with world.ctx.db.transaction() as s:  # the fake's notice carries no reply-by date
        row = s.scalars(select(Dispute).where(Dispute.psp_dispute_id == found.id)).one()
        row.reply_by = found.reply_by
    return found.id


def chargebacks(world: FakeWorld) -> int:
    with world.ctx.db.transaction() as s:
        stmt = select(func.count()).select_from(LedgerEntryRow)
        return int(s.scalar(stmt.where(LedgerEntryRow.kind == "chargeback")) or 0)


def test_accepting_books_once_and_resolves_the_case(world: FakeWorld) -> None:
    dispute = disputed(world)
    view = disputes.accept_dispute(world.ctx, dispute, BOSS, idempotency_key="k-1")
    again = disputes.accept_dispute(world.ctx, dispute, BOSS, idempotency_key="k-1")
    assert view["status"] == again["status"] == "accepted"
    assert view["case_status"] == "resolved"
    assert chargebacks(world) == 1
    assert world.psp.calls_to("accept_dispute") == [dispute]  # the retry asked nobody
    with world.ctx.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.kind == "disputed")).one()
        assert case.resolution_code == "dispute_accepted" and case.resolved_by == BOSS.actor


def test_an_answer_lost_on_the_way_back_is_found_on_the_retry(world: FakeWorld) -> None:
    dispute = disputed(world)
    disputes.submit_text_evidence(world.ctx, dispute, "Delivered, signed", BOSS)
    world.psp.fail_next("timeout")  # Braintree finalized it; the answer never came
    with pytest.raises(PspUnavailable):
        disputes.finalize_dispute(world.ctx, dispute, BOSS, idempotency_key="k-2")
    with world.ctx.db.transaction() as s:
        row = s.scalars(select(Dispute)).one()
        assert row.status == "open" and row.pending_action is None
    view = disputes.finalize_dispute(world.ctx, dispute, BOSS, idempotency_key="k-2")
    assert view["status"] == "disputed" and view["case_status"] == "resolved"
    assert chargebacks(world) == 0


def test_refusals_send_and_keep_nothing(world: FakeWorld) -> None:
    dispute = disputed(world)
    with pytest.raises(ValidationError, match="card number"):
        disputes.submit_text_evidence(world.ctx, dispute, "4111-1111-1111-1111", BOSS)
    with pytest.raises(ValidationError, match="before submitting"):
        disputes.finalize_dispute(world.ctx, dispute, BOSS)
    with pytest.raises(ValidationError, match="PDF, PNG or JPG"):
        disputes.submit_file_evidence(world.ctx, dispute, "x.pdf", b"not a pdf", BOSS)
    assert world.psp.evidence_of(dispute) == []
    with world.ctx.db.transaction() as s:
        assert s.scalars(select(DisputeEvidence)).all() == []
    disputes.accept_dispute(world.ctx, dispute, BOSS)
    with pytest.raises(Conflict) as closed:
        disputes.submit_text_evidence(world.ctx, dispute, "late", BOSS)
    assert closed.value.code == "dispute_not_open"
    assert world.psp.evidence_of(dispute) == []
