"""merchant branding on the customer pages: accent colour, logo, support contact

Revision ID: 0019
Revises: 0018

``merchant_branding_versions``: append-only, one row per save in the admin console; the
newest row is what the pay page, receipts portal, surveys and reminder pages show. No
rows: the pages look as before (crm-pay's colours, the merchant's phone and e-mail from
the configuration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merchant_branding_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("colour", sa.String(length=7), nullable=True),
        sa.Column("support_phone", sa.String(length=40), nullable=False),
        sa.Column("support_email", sa.String(length=200), nullable=False),
        sa.Column("support_hours", sa.String(length=120), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.Column("logo_sha256", sa.String(length=64), nullable=True),
        sa.Column("saved_by", sa.String(length=200), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("merchant_branding_versions")
