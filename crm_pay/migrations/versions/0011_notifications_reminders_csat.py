"""customer notifications, payment reminders, opt-outs, CSAT answers

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reminder_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("repeat_every_days", sa.Integer(), nullable=False),
        sa.Column("max_reminders", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("quiet_start", sa.String(5), nullable=False),
        sa.Column("quiet_end", sa.String(5), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_rules"),
    )
    op.create_table(
        "reminder_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_sends"),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name="fk_reminder_sends_invoice_id_invoices"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["reminder_rules.id"], name="fk_reminder_sends_rule_id_reminder_rules"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_reminder_sends_payment_id_payments"
        ),
        sa.UniqueConstraint(
            "invoice_id", "rule_id", "sequence", name="uq_reminder_sends_invoice_id"
        ),
    )
    op.create_index("ix_reminder_sends_invoice_id", "reminder_sends", ["invoice_id"])
    op.create_index("ix_reminder_sends_rule_id", "reminder_sends", ["rule_id"])
    op.create_index("ix_reminder_sends_payment_id", "reminder_sends", ["payment_id"])
    op.create_index("ix_reminder_sends_created_at", "reminder_sends", ["created_at"])
    op.create_table(
        "reminder_opt_outs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_opt_outs"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_reminder_opt_outs_customer_id_customers"
        ),
        sa.UniqueConstraint("customer_id", name="uq_reminder_opt_outs_customer_id"),
    )
    op.create_table(
        "csat_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_csat_answers"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_csat_answers_payment_id_payments"
        ),
        sa.UniqueConstraint("payment_id", name="uq_csat_answers_payment_id"),
    )
    op.create_index("ix_csat_answers_created_at", "csat_answers", ["created_at"])


def downgrade() -> None:
    op.drop_table("csat_answers")
    op.drop_table("reminder_opt_outs")
    op.drop_table("reminder_sends")
    op.drop_table("reminder_rules")
