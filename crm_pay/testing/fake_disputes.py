"""The fake PSP's disputes: the optional :class:`crm_pay.ports.DisputeGateway` capability
of :class:`crm_pay.testing.FakeGateway`, in memory, for fast service tests.

Neutral like the rest of the fake: a dispute is ``open`` until it is accepted
(``accepted``), finalized (``disputed``) or resolved by the test
(:meth:`FakeDisputes.resolve_dispute`); evidence is added or removed only while it is
open. A refusal raises ``Conflict`` (code ``dispute_refused``) and an unknown dispute or
evidence id ``NotFound``, as the port says. ``fail_next("timeout")`` makes an accept or
finalize take effect and then raise ``PspUnavailable``; any other call raises before
anything happens. File bytes are not kept, only their size.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from crm_pay.domain.errors import Conflict, NotFound, PspUnavailable
from crm_pay.domain.money import Money
from crm_pay.ports import PspDispute

__all__ = ["FakeDisputes", "FAKE_EVIDENCE_TYPES"]

#: The document types the fake takes (the port's list).
FAKE_EVIDENCE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


@dataclass
class _Dispute:
    dispute: PspDispute
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeDisputes:
    """Mixed into ``FakeGateway``, which provides ``clock``, ``_lock`` and ``_record``."""

    clock: Callable[[], datetime]
    _lock: threading.Lock
    _record: Callable[[str, Any], str | None]

    _fake_disputes: dict[str, _Dispute]
    _evidence_ids = itertools.count(1)

    # ----------------------------------------------------------------- test controls
    def open_dispute(
        self,
        transaction_id: str,
        amount: Money,
        *,
        reply_by: date | None = None,
        kind: str = "chargeback",
    ) -> PspDispute:
        """Open a dispute on ``transaction_id`` (reply-by in 7 days unless given)."""
        now = self.clock()
        disputes = self._disputes()
        dispute = PspDispute(
            id=f"fake-dispute-{len(disputes) + 1:04d}",
            status="open",
            kind=kind,
            reason="fraud",
            amount=amount,
            transaction_id=transaction_id,
            reply_by=reply_by or (now + timedelta(days=7)).date(),
            received_on=now.date(),
            updated_at=now,
        )
        disputes[dispute.id] = _Dispute(dispute)
        return dispute

    def resolve_dispute(self, dispute_id: str, status: str) -> PspDispute:
        """Move a dispute to ``status`` (won, lost...), as the issuer would."""
        return self._move(dispute_id, status)

    def evidence_of(self, dispute_id: str) -> list[dict[str, Any]]:
        """What the fake holds as the dispute's evidence (text, or a file's size)."""
        return list(self._one(dispute_id).evidence.values())

    # ----------------------------------------------------------------- the port
    def find_dispute(self, dispute_id: str) -> PspDispute | None:
        self._unless_faulty("find_dispute", dispute_id)
        found = self._disputes().get(dispute_id)
        if found is None:
            return None
        return replace(found.dispute, evidence_ids=tuple(found.evidence))

    def accept_dispute(self, dispute_id: str) -> None:
        self._answer("accept_dispute", dispute_id, "accepted", "accepted")

    def add_text_evidence(
        self, dispute_id: str, content: str, *, category: str | None = None
    ) -> str:
        self._unless_faulty("add_text_evidence", (dispute_id, category))
        return self._add(dispute_id, {"kind": "text", "content": content, "category": category})

    def add_file_evidence(
        self,
        dispute_id: str,
        filename: str,
        content: bytes,
        *,
        content_type: str,
        category: str | None = None,
    ) -> str:
        self._unless_faulty("add_file_evidence", (dispute_id, filename, content_type))
        if content_type not in FAKE_EVIDENCE_TYPES:
            raise Conflict(
                f"dispute {dispute_id}: {content_type} is not accepted", code="dispute_refused"
            )
        evidence = {"kind": "file", "name": filename, "size": len(content), "category": category}
        return self._add(dispute_id, evidence)

    def remove_evidence(self, dispute_id: str, evidence_id: str) -> None:
        self._unless_faulty("remove_evidence", (dispute_id, evidence_id))
        with self._lock:
            found = self._open(dispute_id, "removed from")
            if found.evidence.pop(evidence_id, None) is None:
                raise NotFound(f"dispute {dispute_id} has no evidence {evidence_id}")

    def finalize_dispute(self, dispute_id: str) -> None:
        self._answer("finalize_dispute", dispute_id, "disputed", "finalized")

    def iter_disputes(self, first: date, last: date) -> Iterator[PspDispute]:
        self._unless_faulty("iter_disputes", (first, last))
        for found in list(self._disputes().values()):
            day = found.dispute.received_on
            if day is not None and first <= day <= last:
                yield found.dispute

    # ----------------------------------------------------------------- internals
    def _disputes(self) -> dict[str, _Dispute]:
        if not hasattr(self, "_fake_disputes"):
            self._fake_disputes = {}
        return self._fake_disputes

    def _answer(self, method: str, dispute_id: str, status: str, action: str) -> None:
        """A scripted ``"timeout"`` takes effect, then the answer is lost (as for a sale)."""
        fault = self._record(method, dispute_id)
        if fault == "down":
            raise PspUnavailable(f"fake PSP unreachable ({method})")
        self._move(dispute_id, status, action=action)
        if fault == "timeout":
            raise PspUnavailable(f"fake PSP timed out ({method} took effect)")

    def _unless_faulty(self, method: str, arg: Any) -> None:
        if self._record(method, arg) is not None:
            raise PspUnavailable(f"fake PSP unavailable ({method})")

    def _one(self, dispute_id: str) -> _Dispute:
        found = self._disputes().get(dispute_id)
        if found is None:
            raise NotFound(f"the fake PSP has no dispute {dispute_id}")
        return found

    def _open(self, dispute_id: str, action: str) -> _Dispute:
        found = self._one(dispute_id)
        if found.dispute.status != "open":
            raise Conflict(
                f"dispute {dispute_id}: evidence can only be {action} an open dispute",
                code="dispute_refused",
            )
        return found

    def _add(self, dispute_id: str, evidence: dict[str, Any]) -> str:
        with self._lock:
            found = self._open(dispute_id, "added to")
            evidence_id = f"fake-evidence-{next(self._evidence_ids):05d}"
            found.evidence[evidence_id] = {"id": evidence_id, **evidence}
            return evidence_id

    def _move(self, dispute_id: str, status: str, *, action: str | None = None) -> PspDispute:
        with self._lock:
            found = self._one(dispute_id) if action is None else self._open_for(dispute_id, action)
            history = (*found.dispute.status_history, (status, self.clock()))
            found.dispute = replace(
                found.dispute, status=status, updated_at=self.clock(), status_history=history
            )
            return found.dispute

    def _open_for(self, dispute_id: str, action: str) -> _Dispute:
        found = self._one(dispute_id)
        if found.dispute.status != "open":
            raise Conflict(
                f"dispute {dispute_id}: only an open dispute can be {action}",
                code="dispute_refused",
            )
        return found
