"""Disputes: opened on demand, worked through the SDK's dispute API, resolved on demand.

Sources: braintree_python ``braintree/dispute_gateway.py`` (the calls and URLs),
``tests/integration/test_disputes.py`` (codes and messages of each refusal; the
chargeback test card), ``braintree/webhook_testing_gateway.py`` (the dispute document
each webhook carries), ``braintree/error_codes.py`` (``Dispute``, ``DocumentUpload``) and,
for :meth:`Disputes.search`, ``braintree/dispute_search.py`` (criterion names) with
``tests/integration/test_dispute_search.py`` (the date forms and ranges it sends).
Uploaded evidence files are inspected and dropped: only name, type and size are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .amounts import money, parse_amount
from .records import (
    TransactionNotFound,
    UnsupportedSearch,
    ValidationFailure,
    fail,
    find_transaction,
)
from .search import text_matches
from .state import SandboxState, new_id, now_timestamp, parse_timestamp

__all__ = ["DISPUTE_OUTCOMES", "DISPUTE_PAGE_SIZE", "Disputes"]

EventSink = Callable[[str, str], None]

#: Every status a dispute can be resolved to, each with its ``dispute_<status>`` webhook
#: (``WebhookNotification.Kind`` in braintree_python ``webhook_notification.py``).
DISPUTE_OUTCOMES = (
    "won",
    "lost",
    "accepted",
    "auto_accepted",
    "expired",
    "under_review",
    "disputed",
)

# Categories exercised by test_disputes.py: text only, document only, either.
_TEXT_ONLY = frozenset(
    {
        "DEVICE_ID",
        "DOWNLOAD_DATE_TIME",
        "CARRIER_NAME",
        "TRACKING_NUMBER",
        "TRACKING_URL",
        "PRIOR_NON_DISPUTED_TRANSACTION_ARN",
        "PRIOR_NON_DISPUTED_TRANSACTION_DATE_TIME",
    }
)
_DOCUMENT_ONLY = frozenset({"MERCHANT_WEBSITE_OR_APP_ACCESS"})
_EITHER = frozenset({"GENERAL"})
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{4}|Z)$")

#: Per-dispute allowance for file evidence (ours: Braintree reports one, amount unstated).
FILE_EVIDENCE_STORAGE = 10 * 1024 * 1024
#: Braintree docs "Document upload: create": files up to 4 MB (test_document_upload.py).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"%PDF-": ""}

#: Disputes per search page. Ours: Braintree does not publish it, and the SDK reads it
#: from every answer (``PaginatedResult(total_items, page_size, ...)``).
DISPUTE_PAGE_SIZE = 10
# DisputeSearch criteria the sandbox answers (braintree_python dispute_search.py): text
# nodes, multiple-value nodes and date ranges. Anything else is refused, not ignored.
_SEARCH_TEXT = frozenset({"id", "transaction_id", "case_number", "reference_number"})
_SEARCH_LISTS = frozenset({"status", "kind", "reason", "merchant_account_id"})
_SEARCH_DATES = frozenset({"received_date", "reply_by_date", "effective_date"})


def _dispute_error(code: str, message: str, attribute: str = "status") -> ValidationFailure:
    return fail(code, attribute, message, ("dispute",))


def _upload_error(code: str, message: str, attribute: str = "file") -> ValidationFailure:
    return fail(code, attribute, message, ("document_upload",))


class Disputes:
    """Dispute lifecycle over :class:`SandboxState`; webhooks go to ``on_event``."""

    def __init__(self, state: SandboxState, on_event: EventSink) -> None:
        self.state = state
        self.on_event = on_event

    def search(self, criteria: dict[str, Any], page: int) -> tuple[int, list[dict[str, Any]]]:
        """``gateway.dispute.search``: ``(total_items, disputes of page)``, oldest first,
        :data:`DISPUTE_PAGE_SIZE` a page (``page`` counts from 1, as the SDK's
        ``PaginatedCollection`` asks). The caller holds :attr:`state.lock`."""
        for name in criteria:
            if name not in _SEARCH_TEXT | _SEARCH_LISTS | _SEARCH_DATES:
                raise UnsupportedSearch(
                    f"dispute search criterion {name!r} is not supported by the development sandbox"
                )
        found = [
            d
            for d in self.state.disputes.values()
            if all(_dispute_matches(d, name, wanted) for name, wanted in criteria.items())
        ]
        first = (page - 1) * DISPUTE_PAGE_SIZE
        return len(found), found[first : first + DISPUTE_PAGE_SIZE]

    def find(self, dispute_id: str) -> dict[str, Any]:
        dispute = self.state.disputes.get(dispute_id)
        if dispute is None:
            raise TransactionNotFound(dispute_id)
        return dispute

    def open(self, transaction_id: str, raw_amount: Any = None, *, notify: bool = True) -> str:
        """Open a chargeback on a transaction (``dispute_opened``); returns its id."""
        with self.state.lock:
            transaction = find_transaction(self.state, transaction_id)
            currency = transaction["currency_iso_code"]
            amount = parse_amount(raw_amount, currency, required=False)
            amount = amount or Decimal(transaction["amount"])
            stamp = now_timestamp()
            today = parse_timestamp(stamp).date()
            dispute_id = self.state.unique_id(self.state.disputes)
            self.state.disputes[dispute_id] = {
                "id": dispute_id,
                "transaction_id": transaction_id,
                "amount": money(amount, currency),
                "amount_disputed": money(amount, currency),
                "amount_won": money(Decimal(0), currency),
                "currency_iso_code": currency,
                "kind": "chargeback",
                "reason": "fraud",
                "reason_code": None,
                "reason_description": None,
                "status": "open",
                "case_number": "CASE-" + new_id(10).upper(),
                "reference_number": "REF-" + new_id(10).upper(),
                "original_dispute_id": None,
                "forwarded_comments": None,
                "merchant_account_id": transaction["merchant_account_id"],
                "created_at": stamp,
                "updated_at": stamp,
                "received_date": today.isoformat(),
                "date_opened": today.isoformat(),
                "date_won": None,
                # Braintree docs (Disputes > Responding): a reply is due within days;
                # the exact window varies by network, we use 7 days.
                "reply_by_date": (today + timedelta(days=7)).isoformat(),
                # Braintree's DisputeStatusHistory carries the date each status took
                # effect (test_dispute_search.py searches by it); here, the same day.
                "status_history": [
                    {"status": "open", "timestamp": stamp, "effective_date": today.isoformat()}
                ],
                "evidence": [],
                "remaining_file_evidence_storage": FILE_EVIDENCE_STORAGE,
            }
            transaction["dispute_ids"].append(dispute_id)
            self.state.save()
        if notify:
            self.on_event("dispute_opened", dispute_id)
        return dispute_id

    def resolve(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        """Move a dispute to ``outcome`` and send ``dispute_<outcome>``."""
        if outcome not in DISPUTE_OUTCOMES:
            raise ValueError(f"outcome must be one of {DISPUTE_OUTCOMES}, not {outcome!r}")
        with self.state.lock:
            dispute = self.find(dispute_id)
            self._move(dispute, outcome)
            self.state.save()
        self.on_event("dispute_" + outcome, dispute_id)
        return dispute

    def accept(self, dispute_id: str) -> None:
        """``gateway.dispute.accept``: open -> accepted, and ``dispute_accepted`` is sent."""
        with self.state.lock:
            dispute = self._open_one(
                dispute_id, "95704", "Disputes can only be accepted when they are in an Open state"
            )
            self._move(dispute, "accepted")
            self.state.save()
        self.on_event("dispute_accepted", dispute_id)

    def finalize(self, dispute_id: str) -> None:
        """``gateway.dispute.finalize``: the evidence goes to the processor (``disputed``)."""
        with self.state.lock:
            dispute = self._open_one(
                dispute_id,
                "95705",
                "Disputes can only be finalized when they are in an Open state",
            )
            self._move(dispute, "disputed")
            self.state.save()
        self.on_event("dispute_disputed", dispute_id)

    def add_evidence(self, dispute_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``add_text_evidence`` / ``add_file_evidence`` (both ``POST disputes/{id}/evidence``)."""
        with self.state.lock:
            dispute = self._open_one(
                dispute_id,
                "95701",
                "Evidence can only be attached to disputes that are in an Open state",
            )
            category = params.get("category") or None
            document_id = params.get("document_upload_id") or None
            comment = params.get("comments") or None
            self._check_category(category, is_file=document_id is not None, content=comment)
            evidence: dict[str, Any] = {
                "id": new_id(16),
                "comment": comment,
                "category": category,
                "sequence_number": _sequence(params.get("sequence_number")),
                "created_at": now_timestamp(),
                "sent_to_processor_at": None,
                "url": None,
            }
            if document_id is not None:
                document = self.state.documents.get(document_id)
                if document is None:
                    raise _dispute_error(
                        "95703", "Evidence can only be added with an evidence document upload."
                    )
                evidence["url"] = f"sandbox-documents/{document_id}/{document['name']}"
                dispute["remaining_file_evidence_storage"] = max(
                    0, int(dispute["remaining_file_evidence_storage"]) - int(document["size"])
                )
            dispute["evidence"].append(evidence)
            dispute["updated_at"] = evidence["created_at"]
            self.state.save()
            return evidence

    def remove_evidence(self, dispute_id: str, evidence_id: str) -> None:
        with self.state.lock:
            dispute = self._open_one(
                dispute_id,
                "95702",
                "Evidence can only be removed from disputes that are in an Open state",
            )
            kept = [e for e in dispute["evidence"] if e["id"] != evidence_id]
            if len(kept) == len(dispute["evidence"]):
                raise TransactionNotFound(evidence_id)
            dispute["evidence"] = kept
            self.state.save()

    def upload_document(self, kind: str | None, name: str, content: bytes) -> dict[str, Any]:
        """``gateway.document_upload.create``: check the file, keep only what describes it."""
        if kind != "evidence_document":
            raise _upload_error("84901", "Kind is invalid.", "kind")
        if not content:
            raise _upload_error("84906", "File is empty.")
        if len(content) > MAX_DOCUMENT_BYTES:
            raise _upload_error("84902", "Uploaded file is too large.")
        content_type = next(
            (kind for magic, kind in _SIGNATURES.items() if content.startswith(magic)), None
        )
        if content_type is None:
            raise _upload_error("84903", "Only PNG, JPG, JPEG and PDF files are accepted.")
        with self.state.lock:
            document_id = self.state.unique_id(self.state.documents)
            document = {
                "id": document_id,
                "kind": kind,
                "name": name.rsplit("/", 1)[-1] or "upload",
                "content_type": content_type or "application/pdf",
                "size": len(content),
            }
            self.state.documents[document_id] = document
            self.state.save()
        return document

    def _open_one(self, dispute_id: str, code: str, message: str) -> dict[str, Any]:
        dispute = self.find(dispute_id)
        if dispute["status"] != "open":
            raise _dispute_error(code, message)
        return dispute

    def _check_category(self, category: str | None, *, is_file: bool, content: str | None) -> None:
        if category is None:
            return
        if category not in _TEXT_ONLY | _DOCUMENT_ONLY | _EITHER:
            raise _dispute_error(
                "95706", "The category you supplied on the evidence record is not valid"
            )
        if is_file and category in _TEXT_ONLY:
            raise _dispute_error("95711", "Only text evidence can be provided for this category")
        if not is_file and category in _DOCUMENT_ONLY:
            raise _dispute_error(
                "95712", "Only document evidence can be provided for this category"
            )
        if category == "DOWNLOAD_DATE_TIME" and not _DATE_TIME.match(content or ""):
            raise _dispute_error("95707", "Evidence content date is invalid.")

    def _move(self, dispute: dict[str, Any], status: str) -> None:
        stamp = now_timestamp()
        dispute["status"] = status
        dispute["updated_at"] = stamp
        dispute["status_history"].append(
            {"status": status, "timestamp": stamp, "effective_date": stamp[:10]}
        )
        if status == "won":
            dispute["amount_won"] = dispute["amount_disputed"]
            dispute["date_won"] = stamp[:10]


def _sequence(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    return int(raw)


def _dispute_matches(dispute: dict[str, Any], name: str, wanted: Any) -> bool:
    if name in _SEARCH_LISTS:
        values = wanted if isinstance(wanted, list) else [wanted]
        return dispute.get(name) in values
    if name in _SEARCH_TEXT:
        return text_matches(str(dispute.get(name) or ""), wanted)
    if name == "effective_date":
        # Any status change of the dispute that took effect in the range.
        days = [_day(e.get("effective_date") or e["timestamp"]) for e in dispute["status_history"]]
    else:
        days = [_day(dispute[name])] if dispute.get(name) else []
    return any(_date_in(day, wanted) for day in days)


def _date_in(day: date, wanted: Any) -> bool:
    """``Search.RangeNodeBuilder`` on a date: ``min``/``max`` include their day."""
    condition = wanted if isinstance(wanted, dict) else {"is": wanted}
    for operator, bound in condition.items():
        limit = _day(str(bound))
        if operator == "min" and day < limit:
            return False
        if operator == "max" and day > limit:
            return False
        if operator == "is" and day != limit:
            return False
        if operator not in ("min", "max", "is"):
            raise UnsupportedSearch(f"range operator {operator!r} is not supported")
    return True


def _day(text: str) -> date:
    """A date as the SDK sends one: ``03/04/2014`` (test_dispute_search.py), ``2014-03-04``,
    or a ``date``/``datetime`` rendered ``2014-03-04T00:00:00Z`` (util/generator.py)."""
    value = text.strip()
    try:
        if "/" in value:
            return datetime.strptime(value, "%m/%d/%Y").date()
        return date.fromisoformat(value[:10])
    except ValueError:
        raise UnsupportedSearch(f"{value[:30]!r} is not a date the sandbox can read") from None
