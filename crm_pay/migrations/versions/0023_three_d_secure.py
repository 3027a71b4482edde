"""the bank's 3-D Secure check on each payment

Revision ID: 0023
Revises: 0022

``payments.three_d_secure_status``: what the cardholder's bank's check (3-D Secure) of
the latest attempt gave, in the PSP's words (Braintree's ``authenticate_successful``,
``lookup_not_enrolled``...; ``NULL``: no check ran), and
``payments.three_d_secure_liability_shifted``: whether the liability for fraud moved to
the bank. Existing payments ran no check: both stay ``NULL``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("three_d_secure_status", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("three_d_secure_liability_shifted", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("three_d_secure_liability_shifted")
        batch.drop_column("three_d_secure_status")
