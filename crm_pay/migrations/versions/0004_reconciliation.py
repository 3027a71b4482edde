"""reconciliation

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("psp_rows", sa.Integer(), nullable=False),
        sa.Column("ledger_rows", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("no_money", sa.Integer(), nullable=False),
        sa.Column("psp_disputes", sa.Integer(), nullable=False),
        sa.Column("ledger_disputes", sa.Integer(), nullable=False),
        sa.Column("disputes_matched", sa.Integer(), nullable=False),
        sa.Column("cases_opened", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("settlement_summary", sa.JSON(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("triggered_by", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint("day", name=op.f("uq_reconciliation_runs_day")),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_runs")
