"""Engine and unit of work.

SQLite (embedded default) runs in WAL mode with foreign keys on, and every transaction
starts with ``BEGIN IMMEDIATE`` so that two writers of one payment serialize: the second
waits for the first to commit and then sees its changes. PostgreSQL uses ``SELECT … FOR
UPDATE`` row locks (see ``lock``) and ``SKIP LOCKED`` for outbox workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

__all__ = ["Database", "utcnow", "as_utc"]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every datetime we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def normalize_url(url: str) -> str:
    # psycopg 3 is our PostgreSQL driver; accept plain postgres:// URLs as people paste them.
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


class Database:
    """One engine and session factory per app (kept in ``app.extensions``)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            # A pool of SQLite connections buys nothing and keeps file handles open.
            kwargs["poolclass"] = NullPool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any exception."""
        session = self.sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def lock(self, session: Session, model: type[T], key: Any) -> T | None:
        """Load one row for update (a row lock on PostgreSQL; SQLite already holds the
        database write lock for the whole transaction)."""
        pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
        stmt = select(model).where(pk == key).with_for_update()
        return session.execute(stmt).scalars().first()

    def dispose(self) -> None:
        self.engine.dispose()
