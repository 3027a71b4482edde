"""Tamper-evident audit trail of payment actions (hash chain from ``vault.audit``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_pay.persistence.db import insert_unless_present, unit_cache
from crm_pay.persistence.models import AuditEntry, Sequence
from vault import audit as chain

from .context import Context
from .sequences import lock_sequence

__all__ = ["record", "verify", "entries"]

_HEAD = "audit_chain"


def record(
    session: Session, ctx: Context, *, actor: str, action: str, subject: str, data: dict[str, Any]
) -> None:
    """Append one entry in the caller's transaction (serialized on the chain head).

    Two statements when the head is where this transaction or this process last left it
    (the usual case): a compare-and-set UPDATE of the head, which takes its row lock and
    succeeds only if nobody moved it since, and the entry's INSERT. When someone did,
    the head is read under the lock first, and the UPDATE then matches for sure."""
    guess = unit_cache(session, _HEAD).get(_HEAD) or ctx.db.chain_heads.get(_HEAD)
    rec = None
    if guess is not None:
        rec = _next(ctx, _link_to(*guess), actor, action, subject, data)
        if not _advance(session, guess, rec):
            rec = None
    if rec is None:
        seen = _locked_head(session)
        rec = _next(ctx, _previous(session, *seen), actor, action, subject, data)
        if not _advance(session, seen, rec):  # pragma: no cover - we hold the row lock
            raise RuntimeError("the audit chain head moved while locked")
    session.add(
        AuditEntry(
            seq=rec.seq,
            at=rec.at,
            actor=rec.actor,
            action=rec.action,
            subject=rec.subject,
            data=dict(rec.data),
            prev_hash=rec.prev_hash,
            hash=rec.hash,
        )
    )
    unit_cache(session, _HEAD)[_HEAD] = ctx.db.chain_heads[_HEAD] = (rec.seq, rec.hash)


def _next(
    ctx: Context,
    prev: chain.AuditRecord | None,
    actor: str,
    action: str,
    subject: str,
    data: dict[str, Any],
) -> chain.AuditRecord:
    return chain.next_record(
        prev,
        actor=actor,
        action=action,
        subject=subject,
        data={k: v for k, v in data.items()},
        key=ctx.settings.audit_key,
        at=ctx.now(),
    )


def _locked_head(session: Session) -> tuple[int, str | None]:
    """The head's (value, last hash) under its row lock; created at 0 when absent."""
    query = (
        select(Sequence.value, Sequence.last_hash).where(Sequence.name == _HEAD).with_for_update()
    )
    row = session.execute(query).first()
    if row is None:
        insert_unless_present(session, Sequence, {"name": _HEAD, "value": 0, "last_hash": None})
        row = session.execute(query).one()
    return int(row.value), row.last_hash


def _previous(session: Session, value: int, last_hash: str | None) -> chain.AuditRecord | None:
    """The entry the next one links to, from the head (``None``: the chain is empty)."""
    if not value:
        return None
    if last_hash:
        # The head row already holds the last entry's number and hash — all the
        # chain links to — so the last entry is not read again.
        return _link_to(value, last_hash)
    # a head written before it kept the last hash
    last = session.get(AuditEntry, value)
    return None if last is None else _to_record(last)


def _advance(session: Session, seen: tuple[int, str | None], rec: chain.AuditRecord) -> bool:
    """Move the head from ``seen`` to ``rec`` (compare-and-set); False when it was not
    at ``seen``. Waits for a writer holding the head's lock, then compares with what that
    writer committed (PostgreSQL re-checks the WHERE; SQLite serializes writers)."""
    value, last_hash = seen
    moved = session.execute(
        update(Sequence)
        .where(
            Sequence.name == _HEAD,
            Sequence.value == value,
            Sequence.last_hash.is_(None) if last_hash is None else Sequence.last_hash == last_hash,
        )
        .values(value=rec.seq, last_hash=rec.hash)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _link_to(seq: int, hash_: str) -> chain.AuditRecord:
    """The previous entry as far as the next one needs it: ``chain.next_record`` reads
    only its ``seq`` and ``hash`` (the other fields are not part of the link)."""
    return chain.AuditRecord(
        seq=seq, at="", actor="", action="", subject="", data={}, prev_hash="", hash=hash_
    )


def _to_record(row: AuditEntry) -> chain.AuditRecord:
    return chain.AuditRecord(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        data=dict(row.data),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def verify(ctx: Context) -> chain.ChainReport:
    """Re-hash the whole chain; also checks the head counter so a truncated tail shows."""
    with ctx.db.transaction() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        head = lock_sequence(s, _HEAD)
        head_seq, head_hash = head.value, head.last_hash
    report = chain.verify_chain((_to_record(r) for r in rows), key=ctx.settings.audit_key)
    if report.ok and rows and (rows[-1].seq != head_seq or rows[-1].hash != head_hash):
        return chain.ChainReport(
            ok=False,
            checked=report.checked,
            first_bad_seq=rows[-1].seq + 1,
            reason="entries after the last one present were removed",
        )
    if report.ok and not rows and head_seq:
        return chain.ChainReport(
            ok=False, checked=0, first_bad_seq=1, reason="the audit log was emptied"
        )
    return report


def entries(
    ctx: Context, *, actor: str | None = None, since: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries, oldest first, optionally only those whose actor
    is ``actor`` or starts with ``actor + ":"`` (``api_key:7`` matches
    ``api_key:7:billing-bot``) and those at or after ``since`` (an ISO date or time;
    entries store ISO-8601 UTC times, so text order is time order)."""
    if limit <= 0:
        return []
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if actor:
        query = query.where(
            (AuditEntry.actor == actor) | AuditEntry.actor.startswith(actor + ":", autoescape=True)
        )
    if since:
        query = query.where(AuditEntry.at >= since)
    with ctx.db.transaction() as s:
        rows = list(s.scalars(query))
    return [
        {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "data": dict(r.data),
        }
        for r in reversed(rows)
    ]
