"""The seeded data set of the dashboard tests: rows with known answers (payments in
several currencies and statuses, their events, disputes, receipts, cases, CSAT answers),
kept as plain dicts so a test can count them in Python, and stored in the database."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_pay.persistence.models import (
    Case,
    CsatAnswer,
    Customer,
    Dispute,
    Message,
    Payment,
    PaymentEventRow,
)
from crm_pay.services.dashboard import Period
from crm_pay.testing import FakeWorld

__all__ = [
    "AGENTS",
    "NOW",
    "PERIOD",
    "START",
    "SUCCESS",
    "Seeded",
    "seed_rows",
    "store_rows",
]

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
PERIOD = Period(START + timedelta(days=5), START + timedelta(days=30), "USD")
SUCCESS = {"authorized", "submitted_for_settlement", "settled"}
STATUSES = [
    *sorted(SUCCESS),
    "settled",
    "declined",
    "declined",
    "failed",
    "processing",
    "unknown",
    "awaiting_customer",
    "cancelled",
    "expired",
    "voided",
    "settlement_declined",
]
CATEGORIES = [None, "insufficient_funds", "expired_card", "security_code", "issuer_declined"]
AGENTS = ["user:1:ana@example.com", "user:2:bo@example.com", "api_key:3:crm"]


@dataclass
class Seeded:
    payments: list[dict[str, Any]]
    events: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    answers: list[dict[str, Any]]


def seed_rows(rng: random.Random) -> Seeded:
    payments, events, disputes, cases, messages = [], [], [], [], []
    edges = [PERIOD.start, PERIOD.end, PERIOD.end - timedelta(microseconds=1)]
    for i in range(600):
        created = (
            edges[i] if i < len(edges) else START + timedelta(minutes=rng.randrange(45 * 1440))
        )
        status = rng.choice(STATUSES)
        pay = {
            "id": f"pay_{i:05d}",
            "status": status,
            "currency": rng.choice(["USD", "USD", "USD", "EUR", "JPY"]),
            "channel": rng.choice(["link", "link", "vaulted"]),
            "created_by": rng.choice(AGENTS),
            "amount_minor": rng.randrange(100, 50_000),
            "decline_category": rng.choice(CATEGORIES)
            if status in ("declined", "failed")
            else None,
            "created_at": created,
        }
        payments.append(pay)
        if status in SUCCESS | {"voided", "settlement_declined"}:
            sold = created + timedelta(seconds=rng.randrange(1, 600))
            events.append(_event(pay, "sale_succeeded", pay["amount_minor"], sold))
            if rng.random() < 0.25:
                kind = "void_succeeded" if status == "voided" else "refund_succeeded"
                part = pay["amount_minor"] if kind == "void_succeeded" else pay["amount_minor"] // 3
                events.append(
                    _event(pay, kind, part, sold + timedelta(hours=rng.randrange(1, 200)))
                )
            if rng.random() < 0.08:
                disputes.append(
                    {
                        "payment": pay,
                        "status": rng.choice(["open", "won", "lost", "accepted"]),
                        "kind": rng.choice(["chargeback", "chargeback", "retrieval"]),
                        "amount_minor": rng.choice([None, pay["amount_minor"]]),
                        "opened_at": sold + timedelta(days=rng.randrange(0, 20)),
                    }
                )
            messages.append(
                {
                    "payment": pay,
                    "status": rng.choice(["sent", "sent", "sent", "failed", "queued"]),
                    "channel": rng.choice(["email", "sms"]),
                    "created_at": sold,
                }
            )
    for i in range(150):
        opened = START + timedelta(minutes=rng.randrange(44 * 1440))
        resolved = rng.random() < 0.6
        cases.append(
            {
                "kind": rng.choice(["failed", "overpaid", "unknown_at_psp", "disputed"]),
                "subject": f"case-{i}",
                "status": "resolved" if resolved else rng.choice(["open", "open", "assigned"]),
                "opened_at": opened,
                "resolved_at": opened + timedelta(seconds=rng.randrange(60, 9 * 86400))
                if resolved
                else None,
            }
        )
    answers = [
        {
            "payment_id": p["id"],
            "score": rng.randrange(1, 6),
            "created_at": p["created_at"] + timedelta(hours=rng.randrange(1, 48)),
        }
        for p in rng.sample(payments, 80)
    ]
    return Seeded(payments, events, disputes, cases, messages, answers)


def _event(pay: dict[str, Any], kind: str, amount: int, at: datetime) -> dict[str, Any]:
    return {"payment": pay, "kind": kind, "amount_minor": amount, "created_at": at}


def store_rows(world: FakeWorld, seeded: Seeded) -> None:
    with world.ctx.db.transaction() as s:
        customer = Customer(crm_ref="SEED-1", name="Seed", currency="USD", synced_at=START)
        s.add(customer)
        s.flush()
        for p in seeded.payments:
            s.add(
                Payment(
                    **p,
                    customer_id=customer.id,
                    requested_allocations={},
                    description="",
                    updated_at=p["created_at"],
                )
            )
        s.flush()
        for e in seeded.events:
            pay = e["payment"]
            s.add(
                PaymentEventRow(
                    payment_id=pay["id"],
                    kind=e["kind"],
                    amount_minor=e["amount_minor"],
                    currency=pay["currency"],
                    detail={},
                    created_at=e["created_at"],
                )
            )
        for n, d in enumerate(seeded.disputes):
            s.add(
                Dispute(
                    psp_dispute_id=f"dp_{n}",
                    payment_id=d["payment"]["id"],
                    kind=d["kind"],
                    amount_minor=d["amount_minor"],
                    # the PSP's currency may be missing: the payment's decides
                    currency=None if n % 2 else d["payment"]["currency"],
                    status=d["status"],
                    status_at=d["opened_at"],
                    status_history=[],
                    opened_at=d["opened_at"],
                    updated_at=d["opened_at"],
                )
            )
        for c in seeded.cases:
            s.add(Case(**c, detail={}, note=None, due_at=c["opened_at"] + timedelta(days=1)))
        for a in seeded.answers:
            s.add(CsatAnswer(**a, comment=""))
        for n, m in enumerate(seeded.messages):
            s.add(
                Message(
                    message_id=f"receipt.{n}@example.com",
                    kind="receipt",
                    channel=m["channel"],
                    recipient="someone@example.com",
                    payment_id=m["payment"]["id"],
                    status=m["status"],
                    created_at=m["created_at"],
                )
            )
