"""Named counters under a row lock: gapless because the increment commits or rolls back
with the transaction that uses the number."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_pay.persistence.db import insert_unless_present
from crm_pay.persistence.models import Sequence

__all__ = ["next_value", "lock_sequence"]


def _create_if_absent(session: Session, name: str) -> None:
    """Insert the counter at 0 unless it exists. ``ON CONFLICT DO NOTHING`` (both
    backends) instead of a SAVEPOINT around a plain INSERT: when another transaction
    creates it first, ours waits for theirs and then simply inserts nothing."""
    insert_unless_present(session, Sequence, {"name": name, "value": 0, "last_hash": None})


def lock_sequence(session: Session, name: str) -> Sequence:
    """Return the counter row locked for this transaction, creating it at 0 if absent."""
    row = session.scalars(select(Sequence).where(Sequence.name == name).with_for_update()).first()
    if row is not None:
        return row
    _create_if_absent(session, name)
    return session.scalars(select(Sequence).where(Sequence.name == name).with_for_update()).one()


def next_value(session: Session, name: str) -> int:
    """The counter's next value, in one statement: the ``UPDATE … RETURNING`` takes the
    row lock (held to the end of the caller's transaction) and reads the new value, so
    no ``SELECT … FOR UPDATE`` before it nor a re-read after it is needed."""
    bump = (
        update(Sequence)
        .where(Sequence.name == name)
        .values(value=Sequence.value + 1)
        .returning(Sequence.value)
    )
    value = session.execute(bump).scalar()
    if value is None:  # the first number of this counter (e.g. a new receipt year)
        _create_if_absent(session, name)
        value = session.execute(bump).scalar_one()
    return int(value)
