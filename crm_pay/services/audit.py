"""Tamper-evident audit trail of payment actions (hash chain from ``vault.audit``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.persistence.models import AuditEntry
from vault import audit as chain

from .context import Context
from .sequences import lock_sequence

__all__ = ["record", "verify", "entries"]

_HEAD = "audit_chain"


def record(
    session: Session, ctx: Context, *, actor: str, action: str, subject: str, data: dict[str, Any]
) -> None:
    """Append one entry in the caller's transaction (serialized on the chain head)."""
    head = lock_sequence(session, _HEAD)
    prev = None
    if head.value:
        if head.last_hash:
            # The head row already holds the last entry's number and hash — all the
            # chain links to — so the last entry is not read again.
            prev = _link_to(head.value, head.last_hash)
        else:
            last = session.get(AuditEntry, head.value)
            if last is not None:
                prev = _to_record(last)
    rec = chain.next_record(
        prev,
        actor=actor,
        action=action,
        subject=subject,
        data={k: v for k, v in data.items()},
        key=ctx.settings.audit_key,
        at=ctx.now(),
    )
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
    head.value = rec.seq
    head.last_hash = rec.hash


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
