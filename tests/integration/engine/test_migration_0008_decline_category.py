"""Migration 0008 fills the decline category of payments recorded before it, from the
mapping frozen inside the migration (it must not change when the adapter's does)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import upgrade


def test_upgrading_from_0007_fills_the_category_of_old_declines(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(db, "0007")
        now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO customers (id, crm_ref, name, currency, synced_at) "
                    "VALUES (1, 'c-1', 'Ada', 'USD', :now)"
                ),
                {"now": now},
            )
            for pid, code in (
                ("p-funds", "processor.2001"),
                ("p-cvv", "gateway.cvv"),
                ("p-other", "processor.2999"),
                ("p-ok", None),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO payments (id, customer_id, channel, status, amount_minor,"
                        " currency, requested_allocations, created_by, description, attempt,"
                        " decline_code, janitor_checks, created_at, updated_at) VALUES (:id,"
                        " 1, 'link', :status, 1000, 'USD', '[]', 'agent', '', 1, :code, 0,"
                        " :now, :now)"
                    ),
                    {"id": pid, "code": code, "now": now,
                     "status": "declined" if code else "paid"},
                )  # fmt: skip
        upgrade(db, "0008")
        with db.engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT id, decline_category FROM payments")).all())
    finally:
        db.dispose()
    assert rows == {
        "p-funds": "insufficient_funds",
        "p-cvv": "security_code",
        "p-other": "issuer_declined",
        "p-ok": None,
    }
