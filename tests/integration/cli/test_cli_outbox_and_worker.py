"""`crm-pay outbox status|replay` and `crm-pay worker --once`: dead letters after a CRM
outage are replayed without duplicating anything in the CRM."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import timedelta
from typing import Any

from click.testing import Result
from flask import Flask
from sqlalchemy import select

from crm_pay.persistence.models import OutboxMessage
from crm_pay.services.access import create_api_key
from crm_pay.services.context import Context
from crm_pay.worker import make_dispatcher


def run(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=["crm-pay", *args])


def _status(app: Flask) -> dict[str, int]:
    result = run(app, "outbox", "status")
    assert result.exit_code == 0, result.output
    counts = dict(re.findall(r"^(\w+): (\d+)$", result.output, flags=re.M))
    assert set(counts) == {"pending", "sent", "dead"}, result.output
    return {k: int(v) for k, v in counts.items()}


def _links(app: Flask, ctx: Context, customers: list[str]) -> list[dict[str, Any]]:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_api_key(ctx, name='outbox', role='agent')}"}
    out = []
    for ref in customers:
        resp = client.post(
            "/pay/api/v1/payments",
            json={"customer": ref, "amount": "10.00", "currency": "USD"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert resp.status_code == 201, resp.get_json()
        out.append(resp.get_json())
    return out


def test_dead_letters_are_replayed_once_the_crm_is_back(app: Flask, ctx: Context) -> None:
    payments = _links(app, ctx, ["CUST-0001", "CUST-0001", "CUST-0002"])
    with ctx.db.transaction() as s:
        total = len(list(s.scalars(select(OutboxMessage.id))))
    assert total == 3  # a payment upsert each; no balance update until money moves
    assert _status(app) == {"pending": total, "sent": 0, "dead": 0}

    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    crm.fail_writes(100)
    ctx.settings = dataclasses.replace(
        ctx.settings, outbox_max_attempts=2, outbox_base_delay_seconds=0
    )
    dispatcher = make_dispatcher(ctx)
    real_clock = ctx.clock
    for step in range(1, 20):
        dispatcher.drain()
        if _status(app)["dead"] == total:
            break
        ctx.clock = lambda step=step: real_clock() + timedelta(minutes=step)
    assert _status(app) == {"pending": 0, "sent": 0, "dead": total}
    assert crm.payments_for("CUST-0001") == [] and crm.payments_for("CUST-0002") == []

    crm.fail_writes(0)
    replay = run(app, "outbox", "replay")
    assert replay.exit_code == 0, replay.output
    assert f"{total} message(s) queued again" in replay.output
    assert _status(app) == {"pending": total, "sent": 0, "dead": 0}

    report = dispatcher.drain()
    assert (report.sent, report.dead) == (total, 0)
    assert _status(app) == {"pending": 0, "sent": total, "dead": 0}
    pushed = crm.payments_for("CUST-0001") + crm.payments_for("CUST-0002")
    assert sorted(p["payment_id"] for p in pushed) == sorted(p["id"] for p in payments)
    assert all(p["status"] == "awaiting_customer" for p in pushed)

    # Replaying sent messages by id changes nothing in the CRM.
    with ctx.db.transaction() as s:
        ids = [str(i) for i in s.scalars(select(OutboxMessage.id))]
    again = run(app, "outbox", "replay", *ids)
    assert again.exit_code == 0 and f"{total} message(s)" in again.output
    dispatcher.drain()
    assert crm.payments_for("CUST-0001") + crm.payments_for("CUST-0002") == pushed


def test_replay_of_an_unknown_id_fails_clearly(app: Flask) -> None:
    result = run(app, "outbox", "replay", "999999")
    assert result.exit_code == 1
    assert "999999" in result.output


def test_worker_once_delivers_pending_messages(app: Flask, ctx: Context) -> None:
    payments = _links(app, ctx, ["CUST-0003"])
    assert _status(app)["pending"] == 1
    result = run(app, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert "outbox: sent 1, retrying 0, dead 0" in result.output
    assert "janitor:" in result.output
    assert _status(app) == {"pending": 0, "sent": 1, "dead": 0}
    crm = ctx.crm.wrapped_adapter  # type: ignore[attr-defined]
    assert [p["payment_id"] for p in crm.payments_for("CUST-0003")] == [payments[0]["id"]]
    assert crm.balance_of("CUST-0003") is None  # a link moves no money: no balance push

    idle = run(app, "worker", "--once")
    assert idle.exit_code == 0
    assert "outbox: sent 0, retrying 0, dead 0" in idle.output
