"""calls handed to agents: the console's screen-pop

Revision ID: 0024
Revises: 0023

``calls``: one row per call and agent (unique pair ``call_sid``/``agent_user_id``), kept
by crm_pay/services/calls.py when a telephony platform (the API's ``POST /calls``, or
Twilio TaskRouter's event callback) hands a call to an agent: the caller's number, the
provider's Call SID (for the keypad payment), the CRM id the platform sent if any, the
customers the number matched, who reported it and until when it is the agent's current
call. No card data has a column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("caller", sa.String(length=16), nullable=False),
        sa.Column("crm_ref", sa.String(length=100), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("received_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("call_sid", "agent_user_id", name="uq_calls_call_sid_agent"),
    )
    op.create_index("ix_calls_agent_received", "calls", ["agent_user_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_agent_received", table_name="calls")
    op.drop_table("calls")
