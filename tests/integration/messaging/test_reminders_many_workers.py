"""Several workers passing over the reminder rules at the same moment on PostgreSQL:
every reminder is claimed by one of them (the unique (invoice, rule, sequence) row) and
sent once. PostgreSQL only: on SQLite one worker process is assumed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from crm_pay.persistence.models import Message, ReminderSend
from crm_pay.services.customers import sync_customer
from crm_pay.services.reminders import RuleForm, run_due_reminders, save_rule
from crm_pay.testing import Clock, FakeCrm, FakeWorld, OutboxRunner, fake_context

pytestmark = pytest.mark.postgres

INVOICES = 25
WORKERS = 4


@pytest.fixture
def pg_world(postgres_url: str) -> Iterator[FakeWorld]:
    crm = FakeCrm.with_customer(invoices=[(f"INV-{n:04d}", "10.00") for n in range(INVOICES)])
    world = fake_context(postgres_url, crm=crm, clock=Clock(datetime(2026, 4, 2, 12, tzinfo=UTC)))
    yield world
    world.close()


def test_four_workers_at_once_send_each_reminder_once(pg_world: FakeWorld) -> None:
    ctx = pg_world.ctx
    sync_customer(ctx, "CUST-0001")
    save_rule(ctx, RuleForm(name="Overdue", offset_days="1"), actor="admin:tests")
    start = threading.Barrier(WORKERS)
    sent: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            sent.append(run_due_reminders(ctx)["sent"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sum(sent) == INVOICES
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ReminderSend)) == INVOICES
        assert s.scalar(select(func.count()).where(Message.kind == "reminder")) == INVOICES
    OutboxRunner(ctx).drain()
    assert len(pg_world.email.to("ada@example.com")) == INVOICES
    assert run_due_reminders(ctx)["sent"] == 0
