"""The audit chain detects edited, deleted, reordered and re-linked records."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from vault import (
    GENESIS_HASH,
    REDACTED_PAN,
    AuditRecord,
    AuditValue,
    chain_hash,
    next_record,
    verify_chain,
)

KEY = b"audit-key-" * 4
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _chain(length: int = 5) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    previous: AuditRecord | None = None
    for index in range(length):
        previous = next_record(
            previous,
            actor="agent:ana",
            action="payment.refunded",
            subject=f"payment:{index}",
            data={"amount_minor": 1000 + index, "currency": "USD", "supervisor": False},
            key=KEY,
            at=START + timedelta(minutes=index),
        )
        records.append(previous)
    return records


def test_intact_chain_verifies() -> None:
    records = _chain()

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.checked, report.first_bad_seq) == (True, 5, None)


def test_empty_chain_verifies() -> None:
    assert verify_chain([], key=KEY).ok


def test_first_record_starts_from_genesis() -> None:
    first = _chain(1)[0]

    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert first.at == "2026-01-15T09:00:00.000000+00:00"


def test_timestamps_are_stored_in_utc() -> None:
    record = next_record(
        None,
        actor="a",
        action="b",
        subject="c",
        data={},
        key=KEY,
        at=datetime(2026, 1, 15, 11, 0, tzinfo=timezone(timedelta(hours=2))),
    )

    assert record.at == "2026-01-15T09:00:00.000000+00:00"


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"amount_minor": 1, "currency": "USD", "supervisor": False}},
        {"actor": "agent:eve"},
        {"action": "payment.voided"},
        {"subject": "payment:99"},
        {"at": "2026-01-15T08:00:00.000000+00:00"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_edited_field_is_detected(change: dict[str, object]) -> None:
    records = _chain()
    records[2] = dataclasses.replace(records[2], **change)  # type: ignore[arg-type]

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert "altered" in report.reason


def test_deleted_record_is_detected() -> None:
    records = _chain()
    del records[2]

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "seq 3 is missing" in report.reason


def test_deleted_first_record_is_detected() -> None:
    report = verify_chain(_chain()[1:], key=KEY)

    assert (report.ok, report.first_bad_seq) == (False, 1)


def test_reordered_records_are_detected() -> None:
    records = _chain()
    records[2], records[3] = records[3], records[2]

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_renumbered_records_after_a_deletion_are_detected() -> None:
    # Deleting seq 3 and renumbering the rest hides the gap but not the broken link.
    records = _chain()
    del records[2]
    records[2:] = [dataclasses.replace(r, seq=r.seq - 1) for r in records[2:]]

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_wrong_prev_hash_is_detected() -> None:
    records = _chain()
    records[3] = dataclasses.replace(records[3], prev_hash=records[1].hash)

    report = verify_chain(records, key=KEY)

    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "does not point at" in report.reason


def test_chain_forged_with_another_key_is_detected() -> None:
    report = verify_chain(_chain(), key=b"not-the-audit-key-" * 2)

    assert (report.ok, report.first_bad_seq, report.checked) == (False, 1, 0)


def test_verification_can_resume_after_a_checked_record() -> None:
    records = _chain()

    assert verify_chain(records[3:], key=KEY, after=records[2]).checked == 2
    assert not verify_chain(records[3:], key=KEY).ok


def test_pan_in_record_is_redacted_before_hashing() -> None:
    record = next_record(
        None,
        actor="agent:ana",
        action="note.added",
        subject="customer:4111 1111 1111 1111",
        data={"note": "customer read 4111111111111111 aloud", "count": 1},
        key=KEY,
        at=START,
    )

    assert record.data == {"note": f"customer read {REDACTED_PAN} aloud", "count": 1}
    assert record.subject == f"customer:{REDACTED_PAN}"
    assert "4111" not in repr(record)
    assert verify_chain([record], key=KEY).ok


def test_hash_does_not_depend_on_data_order() -> None:
    args = (GENESIS_HASH, 1, "2026-01-15T09:00:00.000000+00:00", "a", "b", "c")
    first: dict[str, AuditValue] = {"x": 1, "y": "z"}
    second: dict[str, AuditValue] = {"y": "z", "x": 1}

    assert chain_hash(*args, first, key=KEY) == chain_hash(*args, second, key=KEY)
    assert chain_hash(*args, {"x": True}, key=KEY) != chain_hash(*args, {"x": 1}, key=KEY)


def test_unsupported_data_values_are_refused() -> None:
    with pytest.raises(TypeError, match="amount"):
        next_record(None, actor="a", action="b", subject="c", data={"amount": 1.5}, key=KEY)  # type: ignore[dict-item]


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_record(
            None,
            actor="a",
            action="b",
            subject="c",
            data={},
            key=KEY,
            at=datetime(2026, 1, 1),
        )
