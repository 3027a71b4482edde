"""cases as a first-class model (states, assignee, SLA, notes, resolution)

Revision ID: 0009
Revises: 0008

Cases get the supervisor's workflow: ``status`` open | assigned | resolved | closed, an
assignee, an SLA due time by kind, snooze, a resolution code with who resolved it and how
long it took, and an append-only history (``case_events``).

Existing rows: ``due_at`` is ``opened_at`` plus the kind's SLA hours as this revision
defines them (a literal copy, not an import of ``crm_pay.services.cases``: a migration
must do the same thing forever); a resolved row gets its ``resolution_seconds`` and a
"resolved" event with its note, so the history of an old case reads like that of a new
one (a case's opening is its own row's ``opened_at``, not an event).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copy of crm_pay.services.cases.SLA_HOURS as of this revision (do not edit).
_SLA_HOURS: dict[str, int] = {
    "failed": 24,
    "overpaid": 48,
    "disputed": 24,
    "amount_mismatch": 24,
    "unknown_at_psp": 1,
    "receipt_undeliverable": 24,
    "webhook_rejected": 4,
    "pan_in_payload": 1,
    "settlement_declined": 4,
    "webhook_failed": 4,
    "duplicate_charge": 2,
    "missing_in_ledger": 24,
    "missing_at_psp": 24,
    "status_mismatch": 24,
    "currency_mismatch": 24,
    "crm_data_card_number": 1,
    "webhook_card_number": 1,
    "pay_page_script_changed": 1,
    "csp_violation": 4,
}
_DEFAULT_HOURS = 24
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("snoozed_until", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("resolution_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("resolution_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reopened", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_assignee_id_users"), "users", ["assignee_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_cases_assignee_id"), ["assignee_id"], unique=False)

    resolved = _backfill()

    # before case_events exists: SQLite rebuilds the table here, which a referencing row
    # would forbid
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("due_at", existing_type=_WHEN, nullable=False)
        batch_op.create_index("ix_cases_status_due_at", ["status", "due_at"], unique=False)

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False)

    _history(resolved)


def _backfill() -> list[dict[str, Any]]:
    """Fill ``due_at`` and ``resolution_seconds``; return the resolved rows' history."""
    conn = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("note", sa.Text()),
        sa.column("opened_at", _WHEN),
        sa.column("resolved_at", _WHEN),
        sa.column("due_at", _WHEN),
        sa.column("resolution_seconds", sa.Integer()),
    )
    rows = conn.execute(
        sa.select(
            cases.c.id,
            cases.c.kind,
            cases.c.status,
            cases.c.note,
            cases.c.opened_at,
            cases.c.resolved_at,
        )
    ).all()
    history: list[dict[str, Any]] = []
    for row in rows:
        hours = _SLA_HOURS.get(row.kind, _DEFAULT_HOURS)
        seconds = None
        if row.resolved_at is not None:
            seconds = max(0, int((row.resolved_at - row.opened_at).total_seconds()))
        conn.execute(
            sa.update(cases)
            .where(cases.c.id == row.id)
            .values(due_at=row.opened_at + timedelta(hours=hours), resolution_seconds=seconds)
        )
        if row.status != "open":
            history.append(
                {
                    "case_id": row.id,
                    "action": "resolved",
                    "actor": "system",
                    "note": row.note,
                    "data": {"before": "0009"},
                    "at": row.resolved_at or row.opened_at,
                }
            )
    return history


def _history(history: list[dict[str, Any]]) -> None:
    events = sa.table(
        "case_events",
        sa.column("case_id", sa.Integer()),
        sa.column("action", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("note", sa.Text()),
        sa.column("data", sa.JSON()),
        sa.column("at", _WHEN),
    )
    if history:
        op.get_bind().execute(sa.insert(events), history)


def downgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_events_case_id"))
    op.drop_table("case_events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_due_at")
        batch_op.drop_index(batch_op.f("ix_cases_assignee_id"))
        batch_op.drop_constraint(batch_op.f("fk_cases_assignee_id_users"), type_="foreignkey")
        for column in (
            "reopened",
            "resolution_seconds",
            "resolved_by",
            "resolution_code",
            "snoozed_until",
            "assignee_id",
            "due_at",
        ):
            batch_op.drop_column(column)
    # assigned and closed cases were worked in 0009's console; before it they were open
    # or resolved
    op.execute("UPDATE cases SET status = 'open' WHERE status = 'assigned'")
    op.execute("UPDATE cases SET status = 'resolved' WHERE status = 'closed'")
