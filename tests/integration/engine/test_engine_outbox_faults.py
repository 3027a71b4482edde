"""The outbox loses nothing: a CRM outage, a dispatcher killed mid-delivery, replays."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from crm_pay.persistence.models import OutboxMessage
from crm_pay.services.context import Context
from crm_pay.services.outbox import replay
from crm_pay.worker import make_dispatcher
from paytest import create_link, pay


def _advance(ctx: Context, **delta: float) -> None:
    base = ctx.clock
    ctx.clock = lambda: base() + timedelta(**delta)


def _statuses(ctx: Context) -> dict[str, int]:
    with ctx.db.transaction() as s:
        out: dict[str, int] = {}
        for st in s.scalars(select(OutboxMessage.status)):
            out[st] = out.get(st, 0) + 1
        return out


def test_crm_outage_for_hours_then_recovery_delivers_everything_once(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    ids = []
    for amount in ("10.00", "11.00", "12.00"):
        _, p = create_link(client, auth, amount=amount)
        pay(client, p["pay_url"])
        ids.append(p["id"])
    crm = ctx.crm
    crm.fail_writes(10_000)
    dispatcher = make_dispatcher(ctx)
    for _ in range(6):  # hours of retries with backoff
        dispatcher.run_once()
        _advance(ctx, hours=1)
    with ctx.db.transaction() as s:
        sent = set(s.scalars(select(OutboxMessage.topic).where(OutboxMessage.status == "sent")))
    assert sent <= {"message.deliver"}  # receipt emails do not wait for the CRM
    crm.fail_writes(0)
    _advance(ctx, hours=2)
    dispatcher.drain()
    assert set(_statuses(ctx)) <= {"sent", "pending"}
    pushed = {p["payment_id"]: p["status"] for p in crm.payments_for("CUST-0001")}
    assert pushed == {pid: "submitted_for_settlement" for pid in ids}
    assert len(crm.payments_for("CUST-0001")) == 3
    assert len(crm.receipts_for("CUST-0001")) == 3


def test_dead_letters_are_kept_and_replay_delivers_them(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    ctx.settings = dataclasses.replace(
        ctx.settings, outbox_max_attempts=2, outbox_base_delay_seconds=0.0
    )
    _, p = create_link(client, auth, amount="13.00")
    pay(client, p["pay_url"])
    ctx.crm.fail_writes(10_000)
    dispatcher = make_dispatcher(ctx)
    for _ in range(4):
        dispatcher.run_once()
        _advance(ctx, minutes=1)
    assert _statuses(ctx).get("dead", 0) >= 1
    with ctx.db.transaction() as s:
        errors = [
            m.last_error
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead"))
        ]
    assert all(errors)  # the CRM's error is kept for the admin
    ctx.crm.fail_writes(0)
    assert replay(ctx) >= 1
    dispatcher.drain()
    assert _statuses(ctx).get("dead", 0) == 0
    assert len(ctx.crm.payments_for("CUST-0001")) == 1


def test_dispatcher_killed_before_marking_sent_delivers_again_after_the_lease(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="14.00")
    pay(client, p["pay_url"])
    crashed = make_dispatcher(ctx)
    claimed = crashed._claim()  # claimed (leased) ... and the process dies here
    assert claimed
    claimed_ids = {m.id for m in claimed}
    fresh = make_dispatcher(ctx)
    fresh.run_once()
    with ctx.db.transaction() as s:
        leased = {
            m.id: m.status
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed_ids)))
        }
    assert set(leased.values()) == {"pending"}  # leased: nobody delivers them twice at once
    _advance(ctx, minutes=5)  # lease expired
    fresh.drain()
    with ctx.db.transaction() as s:
        pending = [
            m.topic for m in s.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent"))
        ]
    assert pending == []  # the receipt email too (message.deliver)
    assert len(ctx.crm.payments_for("CUST-0001")) == 1


def test_replaying_everything_twice_leaves_the_crm_as_after_one_delivery(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    _, p = create_link(client, auth, amount="15.00")
    pay(client, p["pay_url"])
    dispatcher = make_dispatcher(ctx)
    dispatcher.drain()
    snapshot = (
        ctx.crm.payments_for("CUST-0001"),
        ctx.crm.balance_of("CUST-0001"),
        ctx.crm.receipts_for("CUST-0001"),
    )
    with ctx.db.transaction() as s:
        all_ids = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "sent")))
    for _ in range(2):
        replay(ctx, all_ids)
        dispatcher.drain()
    assert (
        ctx.crm.payments_for("CUST-0001"),
        ctx.crm.balance_of("CUST-0001"),
        ctx.crm.receipts_for("CUST-0001"),
    ) == snapshot


def test_balance_pushes_coalesce_while_one_is_waiting(
    client: FlaskClient, auth: dict[str, str], ctx: Context
) -> None:
    for amount in ("1.00", "2.00", "3.00"):
        _, p = create_link(client, auth, amount=amount)
        pay(client, p["pay_url"])
    with ctx.db.transaction() as s:
        balances = s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "crm.update_balance")
        ).all()
    assert len(balances) == 1  # three payments, one waiting balance push
    make_dispatcher(ctx).drain()
    balance, _ = ctx.crm.balance_of("CUST-0001")
    assert balance.to_decimal_str() == "622.39"  # 628.39 - 6.00: the latest, not the first
