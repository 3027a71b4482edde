"""Idempotency keys: one request per (scope, key), whatever the retries.

Layer: records (no other service module below it). Payments and refunds both use it:
the first request with a key claims it (a row with the request's hash, written in the
use case's own transaction, so the claim commits with what it protects); a retry with
the same request is answered with the first result; the same key with another request
is refused. A claim not yet finished (``response_status`` still empty) is a request in
progress.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, IdempotencyConflict
from crm_pay.persistence.models import IdempotencyRecord

__all__ = ["find_record", "check_same_request", "claim", "in_progress"]


def find_record(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    """The claim on ``key`` within ``scope`` (``payment:...``, ``refund:...``), if any."""
    return session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    ).first()


def check_same_request(record: IdempotencyRecord, request_hash: str, *, advice: str = "") -> None:
    """Refuse (422) a key reused for another request; ``advice`` says what to do instead."""
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request"
            + (f"; {advice}" if advice else ""),
            status=422,
        )


def in_progress() -> Conflict:
    """The answer to a retry that arrives while the first request is still running."""
    return Conflict(
        "a request with this Idempotency-Key is in progress; retry shortly",
        code="idempotency_key_in_progress",
    )


def claim(
    session: Session,
    *,
    scope: str,
    key: str,
    request_hash: str,
    payment_id: str,
    now: datetime,
    response_status: int | None = None,
) -> IdempotencyRecord:
    """Claim ``key`` for this request in the caller's transaction, written at once: a
    concurrent request that claimed it first makes this one fail with
    :func:`in_progress` (the caller's transaction is rolled back) instead of doing the
    work twice. Set ``response_status`` on the returned record when the work is done, or
    pass it here when the work is done in the same transaction (one INSERT, no UPDATE:
    the claim is rolled back with the work if it fails)."""
    record = IdempotencyRecord(
        scope=scope,
        key=key,
        request_hash=request_hash,
        response_status=response_status,
        response_body={"payment_id": payment_id},
        created_at=now,
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise in_progress() from None
    return record
