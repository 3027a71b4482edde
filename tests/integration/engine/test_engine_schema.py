"""The Alembic migrations build exactly the schema the models describe (on SQLite, and on
PostgreSQL in CI): a model change without its migration fails here, not in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crm_pay.persistence.db import Database
from crm_pay.persistence.migrate import current_revision, head_revision, upgrade
from crm_pay.persistence.models import Base


def test_migrations_at_head_match_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db)
        assert current_revision(db) == head_revision()
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert differences == []
    finally:
        db.dispose()
