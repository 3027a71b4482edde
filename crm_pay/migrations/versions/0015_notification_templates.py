"""notification templates edited in the admin console

Revision ID: 0015
Revises: 0014

``notification_templates``: one row per saved version of an admin's templates of one
message kind (subject, text, HTML, SMS; ``NULL`` is the shipped file), append-only, the
newest version of a kind in force. Unique per (kind, version). Saves serialize on the
``sequences`` row ``notification_templates``, whose value every process reads to know
whether its cached templates are still current.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("sms", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("saved_by", sa.String(length=200), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_notification_templates_kind")),
    )


def downgrade() -> None:
    op.drop_table("notification_templates")
    op.execute(sa.text("DELETE FROM sequences WHERE name = 'notification_templates'"))
