"""approval requests: why running one failed (code), and closing an approved refund
the bank declined

Revision ID: 0018
Revises: 0017

``error_code`` tells a definite refusal (the bank declined the refund: it may be closed)
from an outcome not known (the PSP did not answer: it must be retried, never closed).
``closed_by``/``closed_at``/``close_note``: who ended such a request, when and why.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("error_code", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("closed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("close_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.drop_column("close_note")
        batch.drop_column("closed_at")
        batch.drop_column("closed_by")
        batch.drop_column("error_code")
