"""One-at-a-time jobs across ``crm-pay worker`` processes: PostgreSQL advisory locks.

Some background jobs must not run in two workers at once (the daily reconciliation, the
pay page's script check, the janitor's settlement sweep): each would ask the PSP or the
CDN the same questions and record the same answers twice. A session-level advisory lock
is held on a connection of its own for as long as the job runs; a worker that dies
(even by SIGKILL) loses its connection, and PostgreSQL releases the lock with it, so a
job is never left locked by a dead process.

SQLite has no such lock: one worker process is assumed there (the embedded threads of a
single web process, or one ``crm-pay worker``), and :func:`exclusive` always grants.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from .db import Database

__all__ = ["exclusive", "lock_key"]

log = logging.getLogger("crm_pay.locks")


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of ``name`` (stable across processes and
    releases, unlike Python's ``hash``)."""
    return int.from_bytes(hashlib.sha256(f"crm-pay:{name}".encode()).digest()[:8], signed=True)


@contextmanager
def exclusive(db: Database, name: str) -> Iterator[bool]:
    """Try to become the one process running job ``name``; yields whether it did.

    Never waits: a worker that does not get the lock skips the job this time (the one
    holding it is doing it). The caller runs the job only when ``True`` is yielded::

        with exclusive(ctx.db, "reconciliation") as mine:
            if mine:
                run_due_reconciliation(ctx)
    """
    if db.is_sqlite:
        yield True
        return
    key = lock_key(name)
    with db.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        # The query opened a transaction; end it so the connection is not "idle in
        # transaction" for the whole job (the session-level lock outlives it).
        conn.commit()
        if not got:
            log.debug("job %s is running in another worker; skipped here", name)
            yield False
            return
        try:
            yield True
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                log.warning("could not release lock %s; the connection's end will", name)
                conn.invalidate()
