"""fraud rules and decisions

Revision ID: 0017
Revises: 0016

Fraud screening (crm_pay/services/fraud_screening.py): the admin's rules are kept as
versions in ``fraud_rule_versions`` (append-only; none saved: no rules, as before). Each
payment gains when its latest attempt was recorded (``charged_at``), the address that
asked for it (``payer_ip``), the PSP's card fingerprint (``card_fingerprint``) and the
state of its screening (``fraud_review``), with one index per velocity scope so the
rules count recent payments in SQL. New columns are empty for existing payments: the
rules count only attempts made from this revision on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# (index, columns): the same as Payment.__table_args__ in crm_pay/persistence/models.py
_INDEXES = (
    ("ix_payments_customer_charged", ["customer_id", "charged_at"]),
    ("ix_payments_agent_charged", ["created_by", "charged_at"]),
    ("ix_payments_ip_charged", ["payer_ip", "charged_at"]),
    ("ix_payments_card_charged", ["card_fingerprint", "charged_at"]),
)


def upgrade() -> None:
    op.create_table(
        "fraud_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_rule_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_fraud_rule_versions_version")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("payer_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("card_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("fraud_review", sa.String(length=20), nullable=True))
        for name, columns in _INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for name, _ in reversed(_INDEXES):
            batch_op.drop_index(name)
        batch_op.drop_column("fraud_review")
        batch_op.drop_column("card_fingerprint")
        batch_op.drop_column("payer_ip")
        batch_op.drop_column("charged_at")
    op.drop_table("fraud_rule_versions")
