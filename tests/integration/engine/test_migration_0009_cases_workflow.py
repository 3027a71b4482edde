"""Migration 0009 gives cases recorded before it their SLA due time (from the hours frozen
inside the migration), the resolution time of resolved ones, and a history entry for each
resolution; downgrading goes back to two states without losing a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from crm_pay.persistence.db import Database, as_utc
from crm_pay.persistence.migrate import alembic_config, upgrade


def test_upgrading_from_0008_keeps_every_case_and_fills_the_workflow(db_url: str) -> None:
    db = Database(db_url)
    opened = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    try:
        upgrade(db, "0008")
        with db.engine.begin() as conn:
            for kind, subject, status, resolved in (
                ("unknown_at_psp", "p-1", "open", None),
                ("disputed", "dispute:d-1", "resolved", opened + timedelta(hours=3)),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO cases (kind, subject, status, detail, note, opened_at,"
                        " resolved_at) VALUES (:kind, :subject, :status, '{}', :note, :opened,"
                        " :resolved)"
                    ),
                    {"kind": kind, "subject": subject, "status": status, "opened": opened,
                     "resolved": resolved, "note": "chargeback booked" if resolved else None},
                )  # fmt: skip
        upgrade(db, "0009")
        with db.engine.connect() as conn:
            cases = {
                r.kind: r
                for r in conn.execute(
                    sa.text(
                        "SELECT id, kind, status, due_at, resolution_seconds, reopened FROM cases"
                    )
                )
            }
            events = conn.execute(sa.text("SELECT case_id, action, note FROM case_events")).all()
        unknown, disputed = cases["unknown_at_psp"], cases["disputed"]
        assert _when(unknown.due_at) == opened + timedelta(hours=1)
        assert _when(disputed.due_at) == opened + timedelta(hours=24)
        assert (unknown.resolution_seconds, disputed.resolution_seconds) == (None, 3 * 3600)
        assert (unknown.reopened, disputed.reopened) == (0, 0)
        assert [tuple(e) for e in events] == [(disputed.id, "resolved", "chargeback booked")]
        cfg = alembic_config(db.url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() == 2
    finally:
        db.dispose()


def _when(value: object) -> datetime:
    if isinstance(value, str):  # SQLite hands back text for a raw SELECT
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    stamp = as_utc(value)
    assert stamp is not None
    return stamp
