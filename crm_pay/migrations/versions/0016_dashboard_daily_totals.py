"""dashboard daily totals

Revision ID: 0016
Revises: 0015

The dashboard's daily totals (crm_pay/services/dashboard_rollup.py): per UTC day, the
payments by currency, status and decline reason, by channel, by agent, the sales, refunds
and voids of the payment events, and the receipt messages by channel and status; which
days are computed (``dashboard_days``) and when the last pass started
(``dashboard_rollup``). The worker fills them; the dashboard reads them for whole past
days nothing has changed since. An index on ``payments.updated_at`` finds the days whose
payments changed. New tables and one index: no existing row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _minor(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "dashboard_payment_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("decline_category", sa.String(40), nullable=False),
        _count("payments"),
        _minor("amount_minor"),
        sa.PrimaryKeyConstraint(
            "day", "currency", "status", "decline_category", name="pk_dashboard_payment_days"
        ),
    )
    op.create_table(
        "dashboard_channel_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        _count("payments"),
        _count("succeeded"),
        _minor("succeeded_minor"),
        sa.PrimaryKeyConstraint("day", "currency", "channel", name="pk_dashboard_channel_days"),
    )
    op.create_table(
        "dashboard_agent_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _count("payments"),
        _count("succeeded"),
        _minor("succeeded_minor"),
        sa.PrimaryKeyConstraint("day", "currency", "created_by", name="pk_dashboard_agent_days"),
    )
    op.create_table(
        "dashboard_event_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        _count("events"),
        _minor("amount_minor"),
        sa.PrimaryKeyConstraint("day", "currency", "kind", name="pk_dashboard_event_days"),
    )
    op.create_table(
        "dashboard_receipt_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _count("messages"),
        sa.PrimaryKeyConstraint("day", "channel", "status", name="pk_dashboard_receipt_days"),
    )
    op.create_table(
        "dashboard_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", _WHEN, nullable=False),
        _count("receipts_waiting"),
        sa.PrimaryKeyConstraint("day", name="pk_dashboard_days"),
    )
    op.create_table(
        "dashboard_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", _WHEN, nullable=False),
        _count("days"),
        _count("pass_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_rollup"),
    )
    op.create_index(
        "ix_dashboard_payments_changed", "payments", ["updated_at", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_payments_changed", table_name="payments")
    for table in (
        "dashboard_rollup",
        "dashboard_days",
        "dashboard_receipt_days",
        "dashboard_event_days",
        "dashboard_agent_days",
        "dashboard_channel_days",
        "dashboard_payment_days",
    ):
        op.drop_table(table)
