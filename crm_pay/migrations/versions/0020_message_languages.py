"""customer messages in the customer's language

Revision ID: 0020
Revises: 0019

``customers.language``: the language the customer's CRM record names (BCP 47, as the
CRM sent it; ``NULL``: none), copied on each sync like the name and e-mail, so a
message queued for later is written in it without asking the CRM at delivery time.

``notification_templates.language``: which language's words a saved version holds.
The rows already saved are the English words (``en``). Versions stay numbered per
kind across its languages (the unique ``kind, version`` is kept), so a save in any
language of a kind is one step in its history and two admins editing it still meet a
conflict rather than overwrite each other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    with op.batch_alter_table("notification_templates") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_templates") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("language")
