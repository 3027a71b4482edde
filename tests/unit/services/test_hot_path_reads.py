"""What the lean hot path reads once must still be right: the audit chain advanced by a
compare-and-set of its head (a head someone else moved is read again, never linked to a
stale guess), a new charge refused while an earlier one is unresolved (the customer's
unresolved payments now come with the customer), and the answer's totals built from the
event log read with the locked payment."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_pay.domain.errors import Conflict
from crm_pay.persistence.db import Database
from crm_pay.persistence.instrumentation import count_queries
from crm_pay.persistence.models import AuditEntry, IdempotencyRecord, Payment, Sequence
from crm_pay.services import audit
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.services.payments import get_payment
from crm_pay.testing import FakeWorld
from servicetest import link, token_of


def _record(ctx: Context, n: int) -> None:
    with ctx.db.transaction() as s:
        audit.record(s, ctx, actor="tests", action="test.entry", subject=f"s{n}", data={"n": n})


def _subjects(ctx: Context) -> list[tuple[int, str]]:
    with ctx.db.transaction() as s:
        return [(e.seq, e.subject) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


@pytest.fixture
def other(world: FakeWorld) -> Any:
    """A second writer of the same database: another process, as far as the chain head
    this process remembers is concerned (its own engine, its own remembered head)."""
    db = Database(world.ctx.db.url)
    yield dataclasses.replace(world.ctx, db=db)
    db.dispose()


def test_a_chain_written_by_two_processes_stays_one_unbroken_chain(
    world: FakeWorld, other: Context
) -> None:
    ctx = world.ctx
    start = len(_subjects(ctx))
    for n, writer in enumerate([ctx, ctx, other, ctx, other, other, ctx]):
        _record(writer, n)

    report = audit.verify(ctx)
    assert report.ok, report.reason
    entries = _subjects(ctx)[start:]
    assert [subject for _seq, subject in entries] == [f"s{n}" for n in range(7)]
    assert [seq for seq, _subject in entries] == list(range(start + 1, start + 8))


def test_an_entry_rolled_back_leaves_no_gap_and_no_stale_link(world: FakeWorld) -> None:
    ctx = world.ctx
    _record(ctx, 1)
    with pytest.raises(RuntimeError), ctx.db.transaction() as s:
        audit.record(s, ctx, actor="tests", action="test.entry", subject="gone", data={})
        raise RuntimeError("the change this entry belonged to failed")
    _record(ctx, 2)

    assert audit.verify(ctx).ok
    subjects = [subject for _seq, subject in _subjects(ctx)]
    assert "gone" not in subjects and subjects[-2:] == ["s1", "s2"]
    seqs = [seq for seq, _subject in _subjects(ctx)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_the_head_where_this_process_left_it_costs_two_statements_else_it_is_read(
    world: FakeWorld, other: Context
) -> None:
    ctx = world.ctx
    _record(ctx, 1)
    with count_queries(ctx.db.engine) as known:
        _record(ctx, 2)
    assert [s.shape for s in known.statements] == ["UPDATE sequences", "INSERT audit_log"]

    _record(other, 3)  # the head moves under this process's feet
    with count_queries(ctx.db.engine) as moved:
        _record(ctx, 4)
    assert [s.shape for s in moved.statements] == [
        "UPDATE sequences",  # matched nothing: the head is not where this process left it
        "SELECT sequences",
        "UPDATE sequences",
        "INSERT audit_log",
    ]
    assert audit.verify(ctx).ok
    assert [subject for _seq, subject in _subjects(ctx)][-3:] == ["s2", "s3", "s4"]


def test_a_head_changed_by_hand_is_followed_not_overwritten(world: FakeWorld) -> None:
    """Someone edits the head row (a restore, a repair): the next entry links to what the
    head says, as it did before the head was remembered; verify then reports the break
    where the edit made it, instead of the writer hiding it."""
    ctx = world.ctx
    _record(ctx, 1)
    with ctx.db.transaction() as s:
        head = s.get(Sequence, "audit_chain")
        assert head is not None
        head.last_hash = "f" * 64
    _record(ctx, 2)
    with ctx.db.transaction() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last is not None and last.prev_hash == "f" * 64


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.db.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(Payment)) or 0,
            s.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0,
        )


def _set_status(ctx: Context, payment_id: str, status: str) -> None:
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        payment.status = status


@pytest.mark.parametrize(
    ("status", "code"), [("unknown", "payment_in_doubt"), ("held", "payment_held")]
)
def test_no_new_charge_for_a_customer_while_one_is_unresolved(
    world: FakeWorld, status: str, code: str
) -> None:
    ctx = world.ctx
    first = link(ctx, "40.00")
    _set_status(ctx, first["id"], status)
    before = _counts(ctx)

    with pytest.raises(Conflict) as refused:
        link(ctx, "10.00")
    assert refused.value.code == code
    assert first["id"] in refused.value.message
    assert _counts(ctx) == before  # no payment, no idempotency record kept

    _set_status(ctx, first["id"], "declined")  # resolved: the customer can pay again
    assert link(ctx, "10.00")["status"] == "awaiting_customer"


def test_the_pay_answer_totals_match_a_fresh_read_after_a_decline_and_a_retry(
    world: FakeWorld,
) -> None:
    """The second attempt's answer is built from the event log read with the locked
    payment (three events before it: the first attempt's request and decline, this
    attempt's request) plus what the outcome added."""
    ctx = world.ctx
    view = link(ctx, "100.00")
    declined = pay_with_nonce(ctx, token_of(view), "fake-processor-declined-nonce")
    assert declined["status"] == "declined" and declined["captured"] == "0.00"

    answer = pay_with_nonce(ctx, token_of(view), "fake-valid-nonce")
    fresh = get_payment(ctx, view["id"])
    assert answer["status"] == fresh["status"] == "submitted_for_settlement"
    assert answer["captured"] == fresh["captured"] == "100.00"
    assert answer["refunded"] == fresh["refunded"] == "0.00"
    assert answer["pay_link"] == fresh["pay_link"]
