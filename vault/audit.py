"""A tamper-evident audit trail: each record's HMAC covers its content and its predecessor.

Record ``n`` stores ``hash = HMAC-SHA256(key, canonical JSON of its fields + prev_hash)``
and ``prev_hash`` = the hash of record ``n - 1`` (the first record points at
:data:`GENESIS_HASH`). Editing a field, deleting a record or reordering records breaks
the chain at that point, and without the key nobody can recompute the hashes after it.

Two limits worth knowing: deleting the *newest* records leaves a shorter chain that
still verifies, so anchor the head (latest ``seq`` and ``hash``) somewhere else, for
example in the application log or a monitoring system; and whoever holds the key can
rewrite history, so keep the key out of the database that stores the records.

Every text field passes PAN redaction before it is hashed, so a card number typed into
a note never lands in the audit table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from vault.errors import VaultError
from vault.pan import redact, redact_obj

__all__ = [
    "AuditValue",
    "AuditRecord",
    "ChainReport",
    "GENESIS_HASH",
    "chain_hash",
    "next_record",
    "verify_chain",
]

AuditValue: TypeAlias = str | int | bool | None

#: ``prev_hash`` of the first record of a chain.
GENESIS_HASH = "0" * 64

_MIN_KEY_BYTES = 16


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the audit chain, as stored.

    ``at`` is ISO 8601 in UTC; ``data`` holds flat, JSON-compatible details (no floats:
    money is in minor units).
    """

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    data: dict[str, AuditValue]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Outcome of :func:`verify_chain`.

    ``checked`` counts the records found intact. ``first_bad_seq`` is the lowest seq
    whose record is missing, altered or out of place (every record before it is intact),
    or ``None`` when the whole chain verifies. ``reason`` says what was found.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str


def chain_hash(
    prev_hash: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    data: Mapping[str, AuditValue],
    *,
    key: bytes,
) -> str:
    """Return the hex HMAC-SHA256 of a record's fields, canonically encoded.

    The encoding is JSON with sorted keys, no whitespace and ASCII escapes, so the same
    record always hashes the same way regardless of dict order or platform.
    """
    _check_key(key)
    canonical = json.dumps(
        {
            "action": action,
            "actor": actor,
            "at": at,
            "data": dict(data),
            "prev_hash": prev_hash,
            "seq": seq,
            "subject": subject,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hmac.new(key, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def next_record(
    prev: AuditRecord | None,
    *,
    actor: str,
    action: str,
    subject: str,
    data: Mapping[str, AuditValue],
    key: bytes,
    at: datetime | None = None,
) -> AuditRecord:
    """Build the record that follows ``prev`` (or the first record when ``prev`` is None).

    Card numbers in ``actor``, ``subject`` or any ``data`` string are redacted before
    hashing. ``at`` (timezone-aware) defaults to now. Raises ``TypeError`` for data
    values that are not str, int, bool or None.
    """
    for name, value in data.items():
        if not isinstance(name, str):
            raise TypeError(f"audit data keys must be str, got {type(name).__name__}")
        if value is not None and not isinstance(value, str | int | bool):
            raise TypeError(
                f"audit data {name!r} must be str, int, bool or None, got {type(value).__name__}"
            )
    clean_data: dict[str, AuditValue] = redact_obj(dict(data))[0]
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    when = _iso_utc(at)
    actor, action, subject = redact(actor), redact(action), redact(subject)
    digest = chain_hash(prev_hash, seq, when, actor, action, subject, clean_data, key=key)
    return AuditRecord(
        seq=seq,
        at=when,
        actor=actor,
        action=action,
        subject=subject,
        data=clean_data,
        prev_hash=prev_hash,
        hash=digest,
    )


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    key: bytes,
    after: AuditRecord | None = None,
) -> ChainReport:
    """Check that ``records`` (in stored order) form an unbroken, unaltered chain.

    Verification stops at the first problem. By default the chain must start at seq 1
    from :data:`GENESIS_HASH`; pass ``after`` (a record already verified, e.g. the last
    one of a previous run) to verify only what was appended since.
    """
    _check_key(key)
    expected_seq = 1 if after is None else after.seq + 1
    expected_prev = GENESIS_HASH if after is None else after.hash
    checked = 0
    for record in records:
        problem = _problem(record, expected_seq, expected_prev, key)
        if problem is not None:
            return ChainReport(
                ok=False, checked=checked, first_bad_seq=expected_seq, reason=problem
            )
        checked += 1
        expected_seq += 1
        expected_prev = record.hash
    return ChainReport(
        ok=True, checked=checked, first_bad_seq=None, reason=f"{checked} records intact"
    )


def _problem(record: AuditRecord, expected_seq: int, expected_prev: str, key: bytes) -> str | None:
    if record.seq > expected_seq:
        return (
            f"seq {expected_seq} is missing (found seq {record.seq} in its place): "
            "a record was deleted or the records are out of order"
        )
    if record.seq < expected_seq:
        return (
            f"seq {record.seq} appears where seq {expected_seq} should be: "
            "records are out of order or duplicated"
        )
    if not hmac.compare_digest(record.prev_hash.encode(), expected_prev.encode()):
        return f"seq {record.seq} does not point at the hash of the record before it"
    try:
        expected_hash = chain_hash(
            record.prev_hash,
            record.seq,
            record.at,
            record.actor,
            record.action,
            record.subject,
            record.data,
            key=key,
        )
    except (TypeError, ValueError):
        return f"seq {record.seq} holds data that cannot be encoded canonically"
    if not hmac.compare_digest(record.hash.encode(), expected_hash.encode()):
        return f"seq {record.seq} was altered: its hash does not match its content"
    return None


def _iso_utc(at: datetime | None) -> str:
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _check_key(key: bytes) -> None:
    if len(key) < _MIN_KEY_BYTES:
        raise VaultError(
            f"the audit key is {len(key)} bytes; use at least {_MIN_KEY_BYTES} random bytes",
            code="vault_config",
        )
