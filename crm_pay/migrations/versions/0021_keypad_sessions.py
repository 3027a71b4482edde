"""keypad (DTMF) payments: the capture sessions and their status callbacks' digests

Revision ID: 0021
Revises: 0020

``keypad_sessions``: one keypad capture on a call for a payment (channel ``ivr``,
crm_pay/services/keypad_payments.py): the call's and the provider's capture ids, the
session's status, the field being asked for, the fields still required, the provider's
last error and result, and what may be shown of the card (brand, last 4, expiry). No
card number or security code has a column: the provider reports them masked.

``keypad_callback_digests``: the digest of each status callback applied, unique, so a
replayed callback is recognised and changes nothing (also when two copies race).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keypad_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payment_id", sa.String(length=40), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("capture_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=True),
        sa.Column("fields_left", sa.String(length=200), nullable=False),
        sa.Column("error", sa.String(length=80), nullable=True),
        sa.Column("result", sa.String(length=80), nullable=True),
        sa.Column("card_brand", sa.String(length=40), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp", sa.String(length=7), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("capture_sid", name="uq_keypad_sessions_capture_sid"),
    )
    op.create_index("ix_keypad_sessions_payment_id", "keypad_sessions", ["payment_id"])
    op.create_table(
        "keypad_callback_digests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "keypad_session_id",
            sa.Integer(),
            sa.ForeignKey("keypad_sessions.id"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("digest", name="uq_keypad_callback_digests_digest"),
    )
    op.create_index(
        "ix_keypad_callback_digests_keypad_session_id",
        "keypad_callback_digests",
        ["keypad_session_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_keypad_callback_digests_keypad_session_id", table_name="keypad_callback_digests"
    )
    op.drop_table("keypad_callback_digests")
    op.drop_index("ix_keypad_sessions_payment_id", table_name="keypad_sessions")
    op.drop_table("keypad_sessions")
