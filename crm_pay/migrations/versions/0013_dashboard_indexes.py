"""dashboard aggregate indexes

Revision ID: 0013
Revises: 0012

Covering indexes for the dashboard's SQL aggregates (crm_pay/services/dashboard.py):
payments by currency and creation time (outcomes, declines, channels, days; agents),
payment events by kind, currency and time (refund and chargeback rates), cases by
resolution time and by status (resolution percentiles, open cases), receipt messages
and chargebacks by time. Indexes only: no row changes.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (index, table, columns): the same as the Index objects in crm_pay/persistence/models.py
_INDEXES = (
    (
        "ix_dashboard_payments_range",
        "payments",
        ["currency", "created_at", "status", "channel", "amount_minor", "decline_category"],
    ),
    (
        "ix_dashboard_payments_agent",
        "payments",
        ["currency", "created_at", "created_by", "status", "amount_minor"],
    ),
    (
        "ix_dashboard_payment_events",
        "payment_events",
        ["kind", "currency", "created_at", "amount_minor"],
    ),
    ("ix_dashboard_cases_resolved", "cases", ["resolved_at", "kind", "opened_at"]),
    ("ix_dashboard_cases_open", "cases", ["status", "kind", "opened_at"]),
    ("ix_dashboard_messages", "messages", ["kind", "created_at", "channel", "status"]),
    ("ix_dashboard_disputes", "disputes", ["kind", "opened_at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
