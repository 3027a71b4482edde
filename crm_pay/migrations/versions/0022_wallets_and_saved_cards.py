"""wallets on the pay page and cards saved with the customer's consent

Revision ID: 0022
Revises: 0021

- ``payments.wallet`` / ``wallet_account``: the wallet a payment was made with (Apple Pay,
  Google Pay, PayPal, Venmo) and its account as it may be shown (masked e-mail, Venmo
  @username); NULL for card payments and every payment made before.
- ``merchant_wallets``: one row per wallet the admin offers on the pay page for a
  merchant account (crm-pay names a merchant account by its currency: the PSP port has
  one account per currency). No rows: no wallet buttons, as before.
- ``saved_card_consents``: the customer's "save this card" tick on the pay page, written
  with the attempt (before the PSP is called) and completed with the PSP's token when the
  sale succeeds; its wording is the exact text shown. One per attempt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("wallet", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("wallet_account", sa.String(length=120), nullable=True))
    op.create_table(
        "merchant_wallets",
        sa.Column("merchant_account", sa.String(length=64), primary_key=True),
        sa.Column("wallet", sa.String(length=20), primary_key=True),
        sa.Column("enabled_by", sa.String(length=200), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "saved_card_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payment_id", sa.String(length=40), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("pay_link_id", sa.Integer(), sa.ForeignKey("pay_links.id"), nullable=True),
        sa.Column("wording", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vault_token", sa.String(length=100), nullable=True),
        sa.Column("card_brand", sa.String(length=40), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp", sa.String(length=7), nullable=True),
        sa.Column("wallet", sa.String(length=20), nullable=True),
        sa.Column("wallet_account", sa.String(length=120), nullable=True),
        sa.Column("vaulted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("payment_id", "attempt", name="uq_saved_card_consents_attempt"),
    )
    op.create_index("ix_saved_card_consents_payment_id", "saved_card_consents", ["payment_id"])
    op.create_index("ix_saved_card_consents_customer_id", "saved_card_consents", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_saved_card_consents_customer_id", table_name="saved_card_consents")
    op.drop_index("ix_saved_card_consents_payment_id", table_name="saved_card_consents")
    op.drop_table("saved_card_consents")
    op.drop_table("merchant_wallets")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("wallet_account")
        batch.drop_column("wallet")
