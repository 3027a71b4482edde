"""The case workflow on the fakes: SLA by kind, states, reopening, resolution time, the
customer hook and the audit trail (no Flask, no HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm_pay.domain.errors import Conflict, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import AuditEntry, Case, CaseEvent, OutboxMessage
from crm_pay.services import cases
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from crm_pay.testing import FakeWorld
from servicetest import paid


def opened(ctx: Context, kind: str = "disputed", subject: str = "s-1", **kw: object) -> int:
    with ctx.db.transaction() as s:
        case = cases.open_case(s, ctx, kind=kind, subject=subject, **kw)  # type: ignore[arg-type]
        s.flush()
        return case.id


def row(ctx: Context, case_id: int) -> Case:
    with ctx.db.transaction() as s:
        case = s.get(Case, case_id)
        assert case is not None
        s.expunge(case)
        return case


def actions(ctx: Context, case_id: int) -> list[str]:
    with ctx.db.transaction() as s:
        return list(
            s.scalars(
                select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def test_every_kind_has_an_sla_and_resolutions_and_no_code_twice() -> None:
    assert set(cases.SLA_HOURS) == set(cases.CASE_KINDS) == set(cases.RESOLUTIONS)
    for kind, codes in cases.RESOLUTIONS.items():
        assert codes and len({r.code for r in codes}) == len(codes), kind
    assert cases.SLA_HOURS["unknown_at_psp"] == 1 and cases.SLA_HOURS["disputed"] == 24


def test_the_sla_due_time_follows_the_kind(ctx: Context, world: FakeWorld) -> None:
    case = row(ctx, opened(ctx, "unknown_at_psp"))
    assert as_utc(case.due_at) == as_utc(case.opened_at) + timedelta(hours=1)  # type: ignore[operator]


def test_resolution_time_is_recorded_and_open_cases_count_assigned_ones(
    ctx: Context, world: FakeWorld
) -> None:
    boss = create_user(ctx, email="boss@example.com", role="supervisor", password="x" * 12)
    case_id = opened(ctx)
    cases.assign(ctx, case_id, actor="user:1:boss", assignee_id=boss)
    assert [c["status"] for c in cases.open_cases(ctx)] == ["assigned"]
    world.clock.advance(minutes=90)
    done = cases.resolve(ctx, case_id, actor="user:1:boss", code="dispute_won", note="won")
    assert done["status"] == "resolved" and done["resolution_seconds"] == 90 * 60
    assert cases.open_cases(ctx) == []
    with pytest.raises(Conflict):
        cases.resolve(ctx, case_id, actor="user:1:boss", code="dispute_won", note="again")
    assert actions(ctx, case_id) == ["assigned", "resolved"]


def test_a_resolved_case_reopens_when_its_cause_comes_back_a_closed_one_does_not(
    ctx: Context, world: FakeWorld
) -> None:
    fixed = opened(ctx, "webhook_failed", "webhook:1")
    ignored = opened(ctx, "webhook_failed", "webhook:2")
    cases.resolve(ctx, fixed, actor="user:1:a", code="replayed", note="replayed it")
    cases.resolve(ctx, ignored, actor="user:1:a", code="no_action", note="a test notice")
    assert row(ctx, ignored).status == "closed"
    world.clock.advance(hours=30)
    assert opened(ctx, "webhook_failed", "webhook:1") == fixed  # still one case per subject
    assert opened(ctx, "webhook_failed", "webhook:2") == ignored
    again = row(ctx, fixed)
    assert (again.status, again.resolution_code, again.reopened) == ("open", None, 1)
    assert as_utc(again.due_at) > world.clock.now  # type: ignore[operator]  # a new SLA
    assert row(ctx, ignored).status == "closed"
    assert actions(ctx, fixed) == ["resolved", "reopened"]
    # a caller that decides itself (dispute notices) leaves a resolved case as it is
    cases.resolve(ctx, fixed, actor="user:1:a", code="replayed", note="again")
    with ctx.db.transaction() as s:
        cases.open_case(s, ctx, kind="webhook_failed", subject="webhook:1", reopen=False)
    assert row(ctx, fixed).status == "resolved"


def test_bad_input_changes_nothing(ctx: Context, world: FakeWorld) -> None:
    agent = create_user(ctx, email="a@example.com", role="agent", password="x" * 12)
    case_id = opened(ctx)
    with pytest.raises(ValidationError, match="not a resolution"):
        cases.resolve(ctx, case_id, actor="u", code="refunded", note="n")
    with pytest.raises(ValidationError, match="cases go to supervisors"):
        cases.assign(ctx, case_id, actor="u", assignee_id=agent)
    with pytest.raises(ValidationError, match="not in the future"):
        cases.snooze(ctx, case_id, actor="u", until=world.clock.now - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="at most 30 days"):
        cases.snooze(ctx, case_id, actor="u", until=world.clock.now + timedelta(days=31))
    with pytest.raises(ValidationError, match="write a note"):
        cases.add_note(ctx, case_id, actor="u", note="   ")
    case = row(ctx, case_id)
    assert (case.status, case.assignee_id, case.snoozed_until) == ("open", None, None)
    assert actions(ctx, case_id) == []


def test_a_customer_facing_resolution_queues_one_customer_update(ctx: Context) -> None:
    payment = paid(ctx, "40.00")
    about = opened(ctx, "overpaid", payment["id"], payment_id=payment["id"])
    internal = opened(ctx, "csp_violation", "csp:1")
    cases.resolve(ctx, about, actor="u", code="credit_kept", note="kept as credit")
    cases.resolve(ctx, internal, actor="u", code="policy_updated", note="fixed")
    with ctx.db.transaction() as s:
        sent = s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == cases.CUSTOMER_UPDATE_TOPIC)
        ).all()
        assert [m.payload["case_id"] for m in sent] == [about]
        assert set(sent[0].payload) == {"case_id", "payment_id", "customer_id", "resolution_code"}
        assert sent[0].payload["payment_id"] == payment["id"]
        audited = [a for a in s.scalars(select(AuditEntry.action)) if a.startswith("case.")]
    assert audited.count("case.opened") == 2 and audited.count("case.resolved") == 2
