"""Migration 0022 adds the wallet a payment was made with (``payments.wallet``,
``wallet_account``: NULL for every payment made before, which read as cards as before),
the admin's wallet choices per merchant account (none: no wallet offered) and the
customers' "save this card" consents (one per attempt of a payment); a downgrade takes
them away and keeps the payments. On SQLite, and on PostgreSQL with
CRM_PAY_TEST_DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import alembic_config, upgrade

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _seed(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO customers (id, crm_ref, name, currency, synced_at) "
                "VALUES (1, 'c-1', 'Ada', 'USD', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO payments (id, customer_id, channel, status, amount_minor,"
                " currency, requested_allocations, created_by, description, attempt,"
                " janitor_checks, card_brand, card_last4, created_at, updated_at) VALUES"
                " ('p-1', 1, 'link', 'settled', 6000, 'USD', '[]', 'agent', '', 1, 0,"
                " 'Visa', '1111', :now, :now)"
            ),
            {"now": NOW},
        )


def _consent(conn: sa.Connection, row_id: int, attempt: int) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO saved_card_consents (id, payment_id, attempt, customer_id, wording,"
            " language, consented_at) VALUES (:id, 'p-1', :attempt, 1, 'Save this card',"
            " 'en', :now)"
        ),
        {"id": row_id, "attempt": attempt, "now": NOW},
    )


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_old_payments_read_as_cards_and_a_downgrade_keeps_them(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db, "0021")
        _seed(db)
        upgrade(db, "0022")
        with db.engine.begin() as conn:
            row = conn.execute(
                sa.text("SELECT card_brand, card_last4, wallet, wallet_account FROM payments")
            ).one()
            assert tuple(row) == ("Visa", "1111", None, None)
            assert conn.scalar(sa.text("SELECT count(*) FROM merchant_wallets")) == 0
            conn.execute(
                sa.text(
                    "INSERT INTO merchant_wallets (merchant_account, wallet, enabled_by,"
                    " enabled_at) VALUES ('USD', 'paypal', 'user:admin', :now)"
                ),
                {"now": NOW},
            )
            _consent(conn, 1, 1)
        # one wallet row per account and wallet; one consent per attempt
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO merchant_wallets (merchant_account, wallet, enabled_by,"
                    " enabled_at) VALUES ('USD', 'paypal', 'user:other', :now)"
                ),
                {"now": NOW},
            )
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            _consent(conn, 2, 1)

        command.downgrade(alembic_config(db_url), "0021")
        assert not {"merchant_wallets", "saved_card_consents"} & _tables(db)
        assert not {"wallet", "wallet_account"} & _columns(db, "payments")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id, card_last4 FROM payments")).all() == [
                ("p-1", "1111")
            ]
    finally:
        db.dispose()
