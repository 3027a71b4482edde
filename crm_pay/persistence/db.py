"""Engine and unit of work.

SQLite (embedded default) runs in WAL mode with foreign keys on, and every transaction
starts with ``BEGIN IMMEDIATE`` so that two writers of one payment serialize: the second
waits for the first to commit and then sees its changes. PostgreSQL uses ``SELECT … FOR
UPDATE`` row locks (see ``lock``) and ``SKIP LOCKED`` for outbox workers.

Connections are pooled on both backends. A link payment runs several short transactions;
opening a SQLite file (and setting its pragmas) for each one cost more than the
statements inside it, so SQLite connections are kept and their pragmas set once, when
the connection is opened. PostgreSQL connections are checked with a ``SELECT 1`` only
when they have sat idle in the pool for a while (``STALE_AFTER_SECONDS``), not on every
checkout: a connection used a moment ago is not worth a round trip to test, while one
idle for minutes may have been cut by the server or a proxy, and a stale one is replaced
before the unit of work starts — never in the middle of applying a PSP outcome.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event, exc, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

__all__ = [
    "Database",
    "utcnow",
    "as_utc",
    "insert_unless_present",
    "insert_at_commit",
    "inserts_waiting",
    "unit_cache",
    "STALE_AFTER_SECONDS",
]

T = TypeVar("T")

#: A pooled PostgreSQL connection idle for longer than this is pinged before use.
STALE_AFTER_SECONDS = 30.0
#: Pooled SQLite connections kept open (more are opened when threads need them, and
#: closed again when returned beyond this number).
SQLITE_POOL_SIZE = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every datetime we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def unit_cache(session: Session, name: str) -> dict[Any, Any]:
    """A cache that lives as long as one unit of work: rows a service already read or
    wrote in this transaction, by the key it looked them up with (``name`` says which
    look-up), so the next service in the same transaction does not read them again.
    Gone with the session, so nothing outlives the transaction that read it."""
    cache: dict[Any, Any] = session.info.setdefault(("unit_cache", name), {})
    return cache


def _hold(session: Session, instance: object) -> None:
    # The session's identity map holds rows weakly: a customer loaded by one service and
    # dropped by it was read again by the next ``session.get``. Held here until the
    # unit of work ends, a row is read at most once per transaction.
    session.info.setdefault("held_rows", []).append(instance)


def insert_unless_present(
    session: Session, model: type[Any], values: dict[str, Any], *, returning: Any = None
) -> Any | None:
    """``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL): one statement where
    "look it up, insert when absent" took two, and no SAVEPOINT to survive a race. A
    concurrent insert of the same unique key makes ours wait for theirs and then insert
    nothing. Returns the ``returning`` column of the new row, or ``None`` when a row with
    that unique key already existed (or no column was asked for)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing()
    if returning is None:
        session.execute(stmt)
        return None
    return session.execute(stmt.returning(returning)).scalar()


_AT_COMMIT = "inserts_at_commit"


def insert_at_commit(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """Queue one ``INSERT … ON CONFLICT DO NOTHING`` of ``values`` for the end of this
    unit of work: every row queued for ``model`` goes out in **one** multi-row statement,
    in the order queued, just before the transaction commits (a rollback drops them with
    everything else). For rows the transaction itself does not read back: outbox
    messages, of which one payment writes up to four. A row that conflicts with a row
    already in the table, or with one queued before it, is not written."""
    queued: dict[type[Any], list[dict[str, Any]]] = session.info.setdefault(_AT_COMMIT, {})
    queued.setdefault(model, []).append(values)


def inserts_waiting(session: Session, model: type[Any]) -> list[dict[str, Any]]:
    """The rows of ``model`` queued by :func:`insert_at_commit` in this unit of work and
    not written yet (a service that would look for them in the table looks here too)."""
    queued: dict[type[Any], list[dict[str, Any]]] = session.info.get(_AT_COMMIT, {})
    return list(queued.get(model, ()))


def _write_queued_inserts(session: Session) -> None:
    queued: dict[type[Any], list[dict[str, Any]]] = session.info.pop(_AT_COMMIT, {})
    if not queued:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for model, rows in queued.items():
        # One compiled statement whatever the number of rows (a cached compilation, not
        # a new multi-VALUES statement compiled per transaction): executemany on SQLite,
        # one INSERT of every row on PostgreSQL (psycopg's "insertmanyvalues").
        session.execute(insert(model).on_conflict_do_nothing(), rows)


def _drop_queued_inserts(session: Session, _previous: Any = None) -> None:
    session.info.pop(_AT_COMMIT, None)


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
            # The pool hands a connection to one thread at a time, so sharing it across
            # threads (the outbox dispatcher, Socket.IO handlers) is safe.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["poolclass"] = QueuePool
            kwargs["pool_size"] = SQLITE_POOL_SIZE
            # No cap: SQLite serializes writers itself, and a thread must never wait
            # for a pool slot while holding a write lock another thread waits on.
            kwargs["max_overflow"] = -1
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite(self.engine)
        else:
            self._ping_when_stale(self.engine)
        # expire_on_commit=False: values read in a unit of work stay readable after it
        # without a second SELECT per row; autoflush stays on (queries see pending rows).
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: The head (value, hash) each hash chain had after this process last wrote to it,
        #: by the counter's name: a guess that lets the next writer advance the chain in
        #: one compare-and-set UPDATE instead of a locked read and an UPDATE. Only ever a
        #: guess: the UPDATE that uses it matches no row when another writer (process,
        #: thread, a rolled-back transaction) moved the head, and the writer then reads it.
        self.chain_heads: dict[str, tuple[int, str]] = {}
        event.listen(self.sessions, "loaded_as_persistent", _hold)
        event.listen(self.sessions, "pending_to_persistent", _hold)
        # insert_at_commit: the queued rows are written as the unit of work commits.
        event.listen(self.sessions, "before_commit", _write_queued_inserts)
        event.listen(self.sessions, "after_rollback", _drop_queued_inserts)

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

    @staticmethod
    def _ping_when_stale(engine: Engine) -> None:
        """Test a pooled connection before use only when it has been idle a while.

        Raising ``DisconnectionError`` from ``checkout`` makes the pool drop that
        connection and hand out (or open) another one, so the caller never sees it.
        """

        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
            record.info["idle_since"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(
            dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
        ) -> None:
            idle_since = record.info.get("idle_since")
            if idle_since is None or time.monotonic() - idle_since < STALE_AFTER_SECONDS:
                return
            try:
                cur = dbapi_conn.cursor()
                try:
                    cur.execute("SELECT 1")
                finally:
                    cur.close()
                # psycopg opened a transaction for the ping; leave the connection idle.
                dbapi_conn.rollback()
            except Exception as error:  # noqa: BLE001 - any failure means "use another"
                raise exc.DisconnectionError("stale pooled connection") from error

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
        """Load one row for update.

        PostgreSQL: ``SELECT … FOR UPDATE``, overwriting what the session already holds
        for that row (after waiting for the lock, another writer's commit must show).
        SQLite: the transaction has held the database write lock since ``BEGIN
        IMMEDIATE``, so nothing can have changed what this session read: a row it already
        holds is used as it is, without another SELECT."""
        if self.is_sqlite:
            return session.get(model, key)
        pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
        stmt = (
            select(model)
            .where(pk == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return session.execute(stmt).scalars().first()

    def locking(self, stmt: Select[Any], *of: type[Any]) -> Select[Any]:
        """``stmt`` (a SELECT that may join other tables) as a locking read of the rows
        of ``of``, so that a row is locked and its related rows loaded in one statement.

        PostgreSQL: ``FOR UPDATE OF`` those tables, overwriting what the session already
        holds (as :meth:`lock`). SQLite: unchanged, the transaction already holds the
        write lock."""
        if self.is_sqlite:
            return stmt
        return stmt.with_for_update(of=list(of)).execution_options(populate_existing=True)

    def reread_after_lock(self, session: Session, obj: object) -> None:
        """Re-read ``obj``, loaded before a row lock was taken, where another writer may
        have changed it meanwhile (PostgreSQL). On SQLite nobody could have (see
        :meth:`lock`), so no statement is sent."""
        if not self.is_sqlite:
            session.refresh(obj)

    def dispose(self) -> None:
        self.engine.dispose()
