"""payment settlement and unknown resolution

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("in_doubt_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("settlement_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_index(
            "ix_payments_settlement_checked_at", ["settlement_checked_at"], unique=False
        )
        batch.create_index("ix_payments_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_created_at")
        batch.drop_index("ix_payments_settlement_checked_at")
        batch.drop_column("settlement_checked_at")
        batch.drop_column("in_doubt_since")
