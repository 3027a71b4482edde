"""Count what one operation asks of the database: transactions, SQL statements, new
connections.

The hot path has a budget (one link payment: at most 5 transactions and 25 statements),
and a budget nobody measures drifts. :class:`QueryCounter` hangs on the engine's events
for the length of a ``with`` block, so a test can assert the budget and a benchmark can
print the figures next to its times, without either reaching into the code they measure.
It uses SQLAlchemy's event API only: importing it costs production nothing, and it is
not attached unless someone asks.

What counts as what:

- a *transaction* is one ``begin`` on a connection (SQLAlchemy's ``begin`` event); a
  SAVEPOINT is counted apart (``savepoints``), as it is a round trip but not a commit;
- a *statement* is one cursor execution that is not transaction control. SQLite's
  ``BEGIN IMMEDIATE`` (issued by ``Database`` on every begin) is transaction control: it
  is counted in ``control`` so that SQLite and PostgreSQL (whose driver begins implicitly)
  report comparable statement figures; ``executemany`` counts once, as it is one round trip;
- a *connection* is a new DBAPI connection opened by the pool (``connect``), which is
  what NullPool does on every checkout.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["QueryCounter", "Statement", "count_queries"]

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|END|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Statement:
    """One statement as it was sent, and which transaction (1-based) it ran in."""

    sql: str
    transaction: int
    thread: str

    @property
    def shape(self) -> str:
        """The statement cut to its verb and table, e.g. ``SELECT payments`` — enough to
        see where a budget goes without the column lists."""
        text = _SPACES.sub(" ", self.sql).strip()
        verb = text.split(" ", 1)[0].upper()
        table = ""
        if verb == "SELECT":
            match = re.search(r"\bFROM\s+([\w\"]+)", text, re.IGNORECASE)
        elif verb == "INSERT":
            match = re.search(r"\bINTO\s+([\w\"]+)", text, re.IGNORECASE)
        elif verb == "UPDATE":
            match = re.match(r"UPDATE\s+([\w\"]+)", text, re.IGNORECASE)
        elif verb == "DELETE":
            match = re.search(r"\bFROM\s+([\w\"]+)", text, re.IGNORECASE)
        else:
            match = None
        if match:
            table = match.group(1).strip('"')
        locked = " FOR UPDATE" if re.search(r"\bFOR UPDATE\b", text, re.IGNORECASE) else ""
        return f"{verb} {table}{locked}".strip()


@dataclass
class QueryCounter:
    """Figures gathered while attached to one engine (see :func:`count_queries`).

    Thread-safe: the app's background threads (outbox dispatcher, janitor) share the
    engine, so counts from them land here too unless ``only_thread`` names the one
    thread to watch.
    """

    only_thread: int | None = None
    transactions: int = 0
    savepoints: int = 0
    commits: int = 0
    rollbacks: int = 0
    connections: int = 0
    control: int = 0
    statements: list[Statement] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def statement_count(self) -> int:
        """Statements that are not transaction control."""
        return len(self.statements)

    def by_shape(self) -> Counter[str]:
        """How many statements of each shape (``SELECT payments``, ``INSERT outbox`` …)."""
        return Counter(s.shape for s in self.statements)

    def repeated_selects(self) -> dict[str, int]:
        """Identical SELECT texts issued more than once: the same rows read twice (the
        parameters are not compared, so two reads of different rows with the same query
        also show here; read the breakdown before concluding)."""
        texts = Counter(s.sql for s in self.statements if s.shape.startswith("SELECT"))
        return {sql: n for sql, n in texts.items() if n > 1}

    def breakdown(self) -> str:
        """A readable listing: totals, then every statement in order with its transaction."""
        lines = [
            f"transactions {self.transactions} (savepoints {self.savepoints}, commits "
            f"{self.commits}, rollbacks {self.rollbacks}), statements "
            f"{self.statement_count}, new connections {self.connections}",
        ]
        for i, stmt in enumerate(self.statements, 1):
            text = _SPACES.sub(" ", stmt.sql).strip()
            if len(text) > 160:
                text = text[:157] + "..."
            lines.append(f"  {i:3d} tx{stmt.transaction:<2d} {stmt.shape:<32s} {text}")
        return "\n".join(lines)

    def summary(self) -> dict[str, int]:
        """The figures as a plain dict (for JSON results)."""
        return {
            "transactions": self.transactions,
            "statements": self.statement_count,
            "savepoints": self.savepoints,
            "connections": self.connections,
        }

    # -- event handlers -----------------------------------------------------------------

    def _watching(self) -> bool:
        return self.only_thread is None or threading.get_ident() == self.only_thread

    def _on_begin(self, _conn: Any) -> None:
        if self._watching():
            with self._lock:
                self.transactions += 1

    def _on_savepoint(self, _conn: Any, _name: Any) -> None:
        if self._watching():
            with self._lock:
                self.savepoints += 1

    def _on_commit(self, _conn: Any) -> None:
        if self._watching():
            with self._lock:
                self.commits += 1

    def _on_rollback(self, _conn: Any) -> None:
        if self._watching():
            with self._lock:
                self.rollbacks += 1

    def _on_connect(self, _dbapi_conn: Any, _record: Any) -> None:
        if self._watching():
            with self._lock:
                self.connections += 1

    def _on_execute(
        self,
        _conn: Any,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if not self._watching():
            return
        with self._lock:
            if _CONTROL.match(statement):
                self.control += 1
                return
            self.statements.append(
                Statement(statement, self.transactions, threading.current_thread().name)
            )

    def _events(self) -> list[tuple[Any, str, Any]]:
        return [
            ("engine", "begin", self._on_begin),
            ("engine", "savepoint", self._on_savepoint),
            ("engine", "commit", self._on_commit),
            ("engine", "rollback", self._on_rollback),
            ("engine", "before_cursor_execute", self._on_execute),
            ("pool", "connect", self._on_connect),
        ]


@contextmanager
def count_queries(engine: Engine, *, this_thread_only: bool = False) -> Iterator[QueryCounter]:
    """Attach a :class:`QueryCounter` to ``engine`` for the block; detach on the way out.

    ``this_thread_only``: count only what the calling thread does (a Flask test client
    runs requests in the caller's thread; background workers are then left out).
    """
    counter = QueryCounter(only_thread=threading.get_ident() if this_thread_only else None)
    attached: list[tuple[Any, str, Any]] = []
    try:
        for target, name, handler in counter._events():
            where = engine.pool if target == "pool" else engine
            event.listen(where, name, handler)
            attached.append((where, name, handler))
        yield counter
    finally:
        for where, name, handler in attached:
            event.remove(where, name, handler)
