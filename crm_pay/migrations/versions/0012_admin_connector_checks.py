"""admin connector checks (test gate, version history)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_connector_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("tested_by", sa.String(length=200), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["crm_connectors.id"],
            name=op.f("fk_crm_connector_tests_connector_id_crm_connectors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_connector_tests")),
    )
    op.create_index(
        op.f("ix_crm_connector_tests_connector_id"),
        "crm_connector_tests",
        ["connector_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_crm_connector_tests_connector_id"), table_name="crm_connector_tests")
    op.drop_table("crm_connector_tests")
