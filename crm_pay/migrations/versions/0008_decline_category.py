"""decline category: the words of a decline follow crm-pay's category, not the PSP's code

Revision ID: 0008
Revises: 0007

Payments recorded before this kept only the PSP's code (``processor.2001``), and every
one of them was a Braintree code: their category is filled in from the Braintree
adapter's mapping, so the customer's next step shown for them does not change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connectors.psp.braintree_mapping import category_of_reference

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decline_category", sa.String(length=40), nullable=True))
    payments = sa.table(
        "payments",
        sa.column("decline_code", sa.String()),
        sa.column("decline_category", sa.String()),
    )
    conn = op.get_bind()
    codes = conn.execute(
        sa.select(payments.c.decline_code).where(payments.c.decline_code.is_not(None)).distinct()
    ).scalars()
    for code in list(codes):
        conn.execute(
            payments.update()
            .where(payments.c.decline_code == code)
            .values(decline_category=category_of_reference(code))
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("decline_category")
