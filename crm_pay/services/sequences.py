"""Named counters under a row lock: gapless because the increment commits or rolls back
with the transaction that uses the number."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.persistence.models import Sequence

__all__ = ["next_value", "lock_sequence"]


def lock_sequence(session: Session, name: str) -> Sequence:
    """Return the counter row locked for this transaction, creating it at 0 if absent."""
    row = session.scalars(select(Sequence).where(Sequence.name == name).with_for_update()).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(Sequence(name=name, value=0, last_hash=None))
    except IntegrityError:
        pass  # another transaction created it first; lock theirs below
    row = session.scalars(select(Sequence).where(Sequence.name == name).with_for_update()).one()
    return row


def next_value(session: Session, name: str) -> int:
    row = lock_sequence(session, name)
    session.execute(update(Sequence).where(Sequence.name == name).values(value=Sequence.value + 1))
    session.refresh(row)
    return int(row.value)
