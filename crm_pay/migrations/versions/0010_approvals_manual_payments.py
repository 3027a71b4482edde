"""four-eyes approvals, refund reasons, manual payments, adjustments

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("customer_ref", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    op.create_index(
        "ix_approval_requests_state", "approval_requests", ["state", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_approval_requests_customer_ref"),
        "approval_requests",
        ["customer_ref"],
        unique=False,
    )
    op.create_index(
        op.f("ix_approval_requests_payment_id"), "approval_requests", ["payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_approval_requests_requested_by"),
        "approval_requests",
        ["requested_by"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_approval_requests_requested_by"), table_name="approval_requests")
    op.drop_index(op.f("ix_approval_requests_payment_id"), table_name="approval_requests")
    op.drop_index(op.f("ix_approval_requests_customer_ref"), table_name="approval_requests")
    op.drop_index("ix_approval_requests_state", table_name="approval_requests")
    op.drop_table("approval_requests")
