"""Migration 0014 moves the evidence a dispute lists (the JSON column ``disputes.evidence``)
into ``dispute_evidence`` rows, and a downgrade writes the rows back: nothing sent for a
dispute before the upgrade disappears from its page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import alembic_config, upgrade

NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
OLD_EVIDENCE = [
    {"kind": "text", "length": 27, "category": None, "psp_id": "ev1", "by": "user:2:sup",
     "at": "2026-11-04T10:00:00+00:00"},
    {"kind": "file", "name": "pod.pdf", "size": 1234, "sha256": "ab" * 32, "category": "GENERAL",
     "psp_id": "ev2", "by": "user:2:sup", "at": "2026-11-04T10:05:00+00:00"},
]  # fmt: skip


def _seed(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO customers (id, crm_ref, name, currency, synced_at) "
                "VALUES (1, 'c-1', 'Ada', 'USD', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO payments (id, customer_id, channel, status, amount_minor,"
                " currency, requested_allocations, created_by, description, attempt,"
                " janitor_checks, created_at, updated_at) VALUES ('p-1', 1, 'link', 'settled',"
                " 6000, 'USD', '[]', 'agent', '', 1, 0, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO disputes (id, psp_dispute_id, payment_id, kind, reason, amount_minor,"
                " currency, status, status_at, status_history, reply_by, evidence, booked_minor,"
                " opened_at, updated_at) VALUES (1, 'd-1', 'p-1', 'chargeback', 'fraud', 6000,"
                " 'USD', 'open', :now, '[]', '2026-11-12', :evidence, 0, :now, :now)"
            ),
            {"now": NOW, "evidence": json.dumps(OLD_EVIDENCE)},
        )


def test_evidence_moves_into_rows_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    try:
        upgrade(db, "0013")
        _seed(db)
        upgrade(db, "0014")
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT kind, psp_evidence_id, category, file_name, content_type, size_bytes,"
                    " sha256, added_by FROM dispute_evidence ORDER BY id"
                )
            ).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("disputes")}
        assert [tuple(r) for r in rows] == [
            ("text", "ev1", None, None, None, None, None, "user:2:sup"),
            ("file", "ev2", "GENERAL", "pod.pdf", "application/pdf", 1234, "ab" * 32, "user:2:sup"),
        ]
        assert "evidence" not in columns

        command.downgrade(alembic_config(url), "0013")
        with db.engine.connect() as conn:
            back = json.loads(conn.scalar(sa.text("SELECT evidence FROM disputes")))
            tables = sa.inspect(conn).get_table_names()
        assert "dispute_evidence" not in tables
        assert [(e["kind"], e["psp_id"], e.get("name")) for e in back] == [
            ("text", "ev1", None),
            ("file", "ev2", "pod.pdf"),
        ]
    finally:
        db.dispose()
