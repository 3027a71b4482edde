"""Approval requests that run out, and approved refunds that cannot be booked, with
fakes and a hand-moved clock: the worker's expiry pass records and audits what ran out
unread (and nothing else, once); an approved refund whose PSP did not answer may have
reached the card, so it cannot be closed, only retried (once)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import CrmPayError
from crm_pay.persistence.models import ApprovalRequest, AuditEntry
from crm_pay.services import approval_records, approvals
from crm_pay.services.access import Principal
from crm_pay.testing import FakeWorld
from crm_pay.worker import BackgroundWorkers
from servicetest import paid

AGENT = Principal(kind="user", id=2, name="agent@example.com", role="agent")
OTHER_AGENT = Principal(kind="user", id=5, name="agent2@example.com", role="agent")
SUPERVISOR = Principal(kind="user", id=3, name="sup@example.com", role="supervisor")


def _ask_refund(world: FakeWorld, payment_id: str, amount: str, who: Principal = AGENT) -> str:
    result, created = approvals.refund_or_request(
        world.ctx,
        payment_id,
        amount=amount,
        reason="customer cancelled the order",
        principal=who,
        idempotency_key=uuid.uuid4().hex,
        body_hash=f"{payment_id}:{amount}",
    )
    assert created and result["outcome"] == "pending_approval"
    return str(result["approval"]["id"])


def _audit(world: FakeWorld, action: str) -> list[AuditEntry]:
    with world.ctx.db.transaction() as s:
        return list(
            s.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            )
        )


def _stored_state(world: FakeWorld, approval_id: str) -> str:
    with world.ctx.db.transaction() as s:
        row = s.get(ApprovalRequest, approval_id)
        assert row is not None
        return row.state


def test_the_expiry_pass_records_what_ran_out_unread_once_and_leaves_the_rest(
    world: FakeWorld,
) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    old = _ask_refund(world, payment["id"], "30.00")
    world.clock.advance(hours=ttl(world) - 1)
    young = _ask_refund(world, payment["id"], "20.00", who=OTHER_AGENT)

    assert approval_records.expire_due_requests(world.ctx) == []  # nothing due yet
    world.clock.advance(hours=1, seconds=1)  # the first request's expiry has passed

    assert approval_records.expire_due_requests(world.ctx) == [old]
    assert approval_records.expire_due_requests(world.ctx) == []  # a second pass: nothing

    assert (_stored_state(world, old), _stored_state(world, young)) == ("expired", "pending")
    [entry] = _audit(world, "approval.expired")
    assert entry.actor == approval_records.EXPIRY_ACTOR and entry.subject == old
    assert entry.data["requested_by"] == AGENT.actor  # who is told: their list says so
    mine = approvals.list_approvals(world.ctx, principal=AGENT, state="expired")
    assert [(v["id"], v["state"]) for v in mine] == [(old, "expired")]
    assert [v["id"] for v in approvals.list_approvals(world.ctx, principal=SUPERVISOR)] == [
        young,
        old,
    ]
    assert [
        v["id"] for v in approvals.list_approvals(world.ctx, principal=SUPERVISOR, state="pending")
    ] == [young]
    with pytest.raises(CrmPayError) as late:
        approvals.approve(
            world.ctx,
            old,
            principal=SUPERVISOR,
            idempotency_key=uuid.uuid4().hex,
            body_hash="late",
        )
    assert late.value.code == "approval_expired"
    assert len(_audit(world, "approval.expired")) == 1  # not audited twice
    assert world.psp.calls_to("refund") == []


def test_a_request_decided_before_the_pass_is_left_as_decided(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    refused = _ask_refund(world, payment["id"], "30.00")
    approvals.refuse(world.ctx, refused, principal=SUPERVISOR, note="not on this order")
    world.clock.advance(hours=ttl(world) + 1)

    assert approval_records.expire_due_requests(world.ctx) == []
    assert _stored_state(world, refused) == "refused"


def test_an_approved_refund_whose_outcome_is_unknown_cannot_be_closed_only_retried(
    world: FakeWorld,
) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    approval_id = _ask_refund(world, payment["id"], "25.00")
    world.psp.fail_next("timeout")
    with pytest.raises(CrmPayError) as failed:
        approvals.approve(
            world.ctx, approval_id, principal=SUPERVISOR, idempotency_key="a1", body_hash="x"
        )
    assert failed.value.code == "approval_not_executed"
    stuck = approvals.get_approval(world.ctx, approval_id, principal=SUPERVISOR)
    assert stuck["state"] == "approved" and not stuck["closable"]

    with pytest.raises(CrmPayError) as refused:
        approvals.close(world.ctx, approval_id, principal=SUPERVISOR, note="gave it by cheque")

    assert refused.value.code == "refund_outcome_unknown" and refused.value.status == 409
    assert _stored_state(world, approval_id) == "approved"
    assert _audit(world, "approval.closed") == []
    done, _ = approvals.approve(
        world.ctx, approval_id, principal=SUPERVISOR, idempotency_key="a2", body_hash="y"
    )
    assert done["executed"] and not done["closable"]
    assert [c.amount.minor for c in world.psp.transactions("credit")] == [2500]
    with pytest.raises(CrmPayError) as booked:
        approvals.close(world.ctx, approval_id, principal=SUPERVISOR, note="too late now")
    assert booked.value.code == "approval_not_closable"


def test_only_an_approved_refund_can_be_closed_and_only_by_a_supervisor(
    world: FakeWorld,
) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    approval_id = _ask_refund(world, payment["id"], "30.00")

    with pytest.raises(CrmPayError) as agent:
        approvals.close(world.ctx, approval_id, principal=AGENT, note="never mind")
    with pytest.raises(CrmPayError) as pending:
        approvals.close(world.ctx, approval_id, principal=SUPERVISOR, note="never mind")
    with pytest.raises(CrmPayError) as blank:
        approvals.close(world.ctx, approval_id, principal=SUPERVISOR, note="   ")

    assert agent.value.status == 403
    assert pending.value.code == "approval_not_closable"
    assert blank.value.code == "note_required"
    assert _stored_state(world, approval_id) == "pending"


def ttl(world: FakeWorld) -> int:
    return int(world.ctx.config.approval_ttl_hours)


def test_the_workers_janitor_loop_runs_the_expiry_pass(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    approval_id = _ask_refund(world, payment["id"], "30.00")
    world.clock.advance(hours=ttl(world), seconds=1)
    workers = BackgroundWorkers(world.ctx, janitor_interval=0.05)
    workers.start()
    try:
        deadline = time.monotonic() + 10
        while _stored_state(world, approval_id) != "expired":
            assert time.monotonic() < deadline, "the worker never expired the request"
            time.sleep(0.05)
    finally:
        workers.stop()
    assert [e.subject for e in _audit(world, "approval.expired")] == [approval_id]
