"""Migration 0020 adds the language of a customer's CRM record (``customers.language``)
and the language of each saved version of a message's words
(``notification_templates.language``): the words an admin saved before are the English
ones, still in force for English customers; a downgrade takes both columns away and
keeps every saved version. On SQLite, and on PostgreSQL with CRM_PAY_TEST_DATABASE_URL."""

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
                "VALUES (1, 'c-1', 'Ada', 'EUR', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO notification_templates (id, kind, version, subject, action, "
                "saved_by, saved_at) VALUES (1, 'pay_link', 1, 'Please pay {{ amount }}', "
                "'saved', 'user:admin', :now)"
            ),
            {"now": NOW},
        )


def _columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_saved_words_become_english_and_a_downgrade_keeps_them(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db, "0019")
        _seed(db)
        upgrade(db, "0020")
        with db.engine.begin() as conn:
            saved = conn.execute(
                sa.text("SELECT kind, version, language, subject FROM notification_templates")
            ).all()
            assert [tuple(r) for r in saved] == [("pay_link", 1, "en", "Please pay {{ amount }}")]
            assert conn.scalar(sa.text("SELECT language FROM customers")) is None
            # a French version of the same kind is the kind's next version, not a second 1
            conn.execute(
                sa.text(
                    "INSERT INTO notification_templates (id, kind, version, language, action, "
                    "saved_by, saved_at) VALUES (2, 'pay_link', 2, 'fr', 'saved', 'user:a', :now)"
                ),
                {"now": NOW},
            )
            conn.execute(sa.text("UPDATE customers SET language = 'fr-CA'"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO notification_templates (id, kind, version, language, action, "
                    "saved_by, saved_at) VALUES (3, 'pay_link', 2, 'de', 'saved', 'user:b', :now)"
                ),
                {"now": NOW},
            )

        command.downgrade(alembic_config(db_url), "0019")
        assert "language" not in _columns(db, "customers")
        assert "language" not in _columns(db, "notification_templates")
        with db.engine.connect() as conn:
            versions = conn.execute(
                sa.text("SELECT kind, version FROM notification_templates ORDER BY id")
            ).all()
        assert [tuple(r) for r in versions] == [("pay_link", 1), ("pay_link", 2)]
    finally:
        db.dispose()
