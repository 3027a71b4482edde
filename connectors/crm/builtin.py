"""The builtin CRM: a small CRM kept in memory, optionally persisted as one JSON file.

It is the default of the embedded demo and the CRM of most tests. It implements
:class:`crm_pay.ports.CrmConnector` faithfully: reads serve the agent, writes are
idempotent upserts keyed by our ids (a replay from the outbox never duplicates), unknown
customers are refused with ``NotFound`` as a real CRM would, and ``fail_writes`` makes it
unavailable on demand so the outbox's retries can be tested.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from crm_pay.domain.customer_search import matches_customer
from crm_pay.domain.errors import (
    ConfigurationError,
    Conflict,
    CrmUnavailable,
    NotFound,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.domain.phone import normalize_phone
from crm_pay.ports import (
    CardSummary,
    ConnectionReport,
    CrmCustomer,
    CrmInvoice,
    CrmInvoiceLine,
    CrmPaymentRecord,
    StoredCard,
)

from . import demo_data

__all__ = ["BuiltinCrm", "CrmUnavailable", "normalize_phone"]

_FORMAT: Final = 1
# Receipt numbers become file names: no separators, no leading dot, nothing to traverse.
_FILE_SAFE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
Data = dict[str, Any]


class BuiltinCrm:
    """A CRM held in memory; with ``path``, persisted as one JSON file.

    When ``path`` does not exist yet it is created, holding the demo data if
    ``seed_demo`` (else empty), so a storage problem shows at start-up rather than at the
    first payment. Receipt PDFs go next to it, in ``<stem>_files/<number>.pdf``; without a
    path they stay in memory. Every file write is atomic (temporary file + ``os.replace``).

    Phone numbers written without a country code are taken as North American (+1).

    One process owns the file: the data is read once, at construction, and every change is
    made under a ``threading.Lock`` and written back whole. Two processes sharing one file
    would overwrite each other's changes (last writer wins) -- production deployments with
    several workers use a real CRM connector.
    """

    name = "builtin"

    def __init__(self, path: Path | None = None, *, seed_demo: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._pdfs: dict[str, bytes] = {}  # receipts, when there is no path
        self._failures_left = 0
        self._failure: Exception | None = None
        if self.path is not None and self.path.exists():
            self._data = self._load(self.path)
        else:
            self._data = _demo_data() if seed_demo else _empty_data()
            if self.path is not None:
                self._save(self._data)

    # ------------------------------------------------------------------------ reads
    def find_customer(self, crm_ref: str) -> CrmCustomer | None:
        """The customer with this reference, or ``None``."""
        with self._lock:
            raw = self._data["customers"].get(crm_ref)
            return CrmCustomer(**raw) if raw is not None else None

    def find_customers_by_phone(self, e164: str) -> Sequence[CrmCustomer]:
        """Every customer whose phone is this number, however either is written."""
        wanted = normalize_phone(e164)
        if wanted is None:
            return []
        return self._customers_where(lambda c: normalize_phone(c.get("phone") or "") == wanted)

    def find_customers_by_email(self, email: str) -> Sequence[CrmCustomer]:
        """Every customer with this e-mail address, compared trimmed and case-insensitively."""
        wanted = email.strip().casefold()
        if not wanted:
            return []
        return self._customers_where(lambda c: (c.get("email") or "").strip().casefold() == wanted)

    def find_customers_by_text(self, text: str, limit: int = 20) -> Sequence[CrmCustomer]:
        """Customers whose id is ``text`` in any case, or whose name or company has a
        word starting with each word of it (a surname finds everyone of that name)."""
        found = self._customers_where(
            lambda c: matches_customer(
                text, crm_ref=c["crm_ref"], name=c.get("name") or "", company=c.get("company")
            )
        )
        return found[:limit]

    def open_invoices(self, crm_ref: str) -> Sequence[CrmInvoice]:
        """The customer's invoices not marked paid, oldest due date first."""
        with self._lock:
            found = [
                _invoice_from_json(raw)
                for raw in self._data["invoices"].values()
                if raw["customer_ref"] == crm_ref and not raw["paid"]
            ]
        return sorted(found, key=lambda inv: (inv.due_on, inv.crm_ref))

    def cards_on_file(self, crm_ref: str) -> Sequence[StoredCard]:
        """The customer's vaulted cards (PSP tokens with brand and last 4), default first."""
        with self._lock:
            cards = [_card_from_json(raw) for raw in self._data["cards"].get(crm_ref, [])]
        return sorted(cards, key=lambda card: not card.is_default)

    # ------------------------------------------------------------------------ writes
    def upsert_payment(self, record: CrmPaymentRecord) -> None:
        """Create or update the payment ``record.payment_id``.

        A record whose ``updated_at`` is older than the stored one is ignored, so a late
        replay never overwrites newer news; so is an undated record over a dated one.
        """
        with self._writing() as data:
            self._require_customer(data, record.customer_ref)
            stored = data["payments"].get(record.payment_id)
            if stored is not None and _is_older(record.updated_at, stored["updated_at"]):
                return
            data["payments"][record.payment_id] = _plain(record)

    def update_balance(self, crm_ref: str, balance: Money, credit: Money) -> None:
        """Set the customer's account balance and credit (last write wins)."""
        if balance.currency != credit.currency:
            raise ValidationError("balance and credit must be in the same currency")
        with self._writing() as data:
            self._require_customer(data, crm_ref)
            data["balances"][crm_ref] = {"balance": _plain(balance), "credit": _plain(credit)}

    def attach_receipt(self, crm_ref: str, payment_id: str, number: str, pdf: bytes) -> None:
        """Attach receipt ``number`` (a PDF) to the customer; attaching it again replaces it."""
        if not _FILE_SAFE.fullmatch(number):
            raise ValidationError(f"receipt number {number!r} cannot name a file")
        with self._writing() as data:
            self._require_customer(data, crm_ref)
            stored = data["receipts"].get(number)
            if stored is not None and stored["customer_ref"] != crm_ref:
                raise Conflict(f"receipt {number} is already attached to {stored['customer_ref']}")
            if self.path is None:
                self._pdfs[number] = bytes(pdf)
                file_name = None
            else:
                _write_atomically(self._receipt_path(number), bytes(pdf))
                file_name = self._receipt_path(number).name
            receipt = {"customer_ref": crm_ref, "payment_id": payment_id, "file": file_name}
            data["receipts"][number] = receipt

    # ------------------------------------------------------------------------ admin
    def test_connection(self) -> ConnectionReport:
        """Check that the data file (if any) can be written and report what it holds."""
        if self.path is None:
            storage = ("storage", True, "in memory; nothing is persisted")
        elif os.access(self.path, os.W_OK):
            storage = ("storage", True, f"file {self.path} writable")
        else:
            storage = ("storage", False, f"file {self.path} is not writable; check its permissions")
        with self._lock:
            customers = len(self._data["customers"])
            open_count = sum(1 for raw in self._data["invoices"].values() if not raw["paid"])
        data = ("data", True, f"{customers} customers, {open_count} open invoices")
        return ConnectionReport(ok=storage[1], checks=(storage, data))

    def fail_writes(self, n: int, error: Exception | None = None) -> None:
        """Make the next ``n`` write calls raise ``error`` (default ``CrmUnavailable``)
        without changing anything; ``fail_writes(0)`` heals the CRM at once."""
        if n < 0:
            raise ValueError("n must be 0 or more")
        with self._lock:
            self._failures_left = n
            self._failure = error

    # ------------------------------------------------------------------------ test/demo data
    def add_customer(self, customer: CrmCustomer) -> None:
        """Add or replace a customer (set-up for tests and demos; never fails on purpose)."""
        with self._writing(injectable=False) as data:
            data["customers"][customer.crm_ref] = _plain(customer)

    def add_invoice(self, invoice: CrmInvoice, *, paid: bool = False) -> None:
        """Add or replace an invoice of an existing customer."""
        with self._writing(injectable=False) as data:
            self._require_customer(data, invoice.customer_ref)
            data["invoices"][invoice.crm_ref] = {**_plain(invoice), "paid": paid}

    def add_card(self, crm_ref: str, card: StoredCard) -> None:
        """Add (or replace, by token) a card on file of an existing customer."""
        with self._writing(injectable=False) as data:
            self._require_customer(data, crm_ref)
            cards = [raw for raw in data["cards"].get(crm_ref, []) if raw["token"] != card.token]
            data["cards"][crm_ref] = [*cards, _plain(card)]

    # ------------------------------------------------------------------------ read-back
    def payments_for(self, crm_ref: str) -> list[dict[str, Any]]:
        """The payment records pushed for this customer, as the CRM holds them."""
        with self._lock:
            found = [
                copy.deepcopy(raw)
                for raw in self._data["payments"].values()
                if raw["customer_ref"] == crm_ref
            ]
        return sorted(found, key=lambda raw: (raw["created_at"] or "", raw["payment_id"]))

    def balance_of(self, crm_ref: str) -> tuple[Money, Money] | None:
        """``(balance, credit)`` last pushed for this customer, or ``None``."""
        with self._lock:
            raw = self._data["balances"].get(crm_ref)
        if raw is None:
            return None
        return Money(**raw["balance"]), Money(**raw["credit"])

    def receipts_for(self, crm_ref: str) -> list[str]:
        """Numbers of the receipts attached to this customer, in order."""
        with self._lock:
            return sorted(
                n for n, raw in self._data["receipts"].items() if raw["customer_ref"] == crm_ref
            )

    def receipt_pdf(self, number: str) -> bytes | None:
        """The PDF attached as receipt ``number``, or ``None``."""
        with self._lock:
            raw = self._data["receipts"].get(number)
            if raw is None:
                return None
            if raw["file"] is None:
                return self._pdfs.get(number)
        return self._receipt_path(number).read_bytes()

    # ------------------------------------------------------------------------ internals
    def _customers_where(self, keep: Callable[[Data], bool]) -> list[CrmCustomer]:
        with self._lock:
            found = [CrmCustomer(**raw) for raw in self._data["customers"].values() if keep(raw)]
        return sorted(found, key=lambda c: c.crm_ref)

    @staticmethod
    def _require_customer(data: Data, crm_ref: str) -> None:
        if crm_ref not in data["customers"]:
            raise NotFound(f"the builtin CRM has no customer {crm_ref!r}")

    @contextmanager
    def _writing(self, *, injectable: bool = True) -> Iterator[Data]:
        """Yield a copy of the data to change; keep it only once it is safely on disk."""
        with self._lock:
            if injectable and self._failures_left:
                self._failures_left -= 1
                raise self._failure or CrmUnavailable("the builtin CRM is unavailable (injected)")
            draft = copy.deepcopy(self._data)
            yield draft
            if self.path is not None and draft != self._data:  # replays cost no disk write
                self._save(draft)
            self._data = draft

    def _receipt_path(self, number: str) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.stem}_files") / f"{number}.pdf"

    def _save(self, data: Data) -> None:
        assert self.path is not None
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        _write_atomically(self.path, text.encode("utf-8"))

    @staticmethod
    def _load(path: Path) -> Data:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError(f"not a builtin CRM file of format {_FORMAT}")
        except (OSError, ValueError) as exc:  # JSON and UTF-8 decode errors are ValueErrors
            raise ConfigurationError(
                f"cannot read the builtin CRM file {path} ({exc}); fix it, or move it away "
                "to start again with the demo data"
            ) from exc
        return data


# ---------------------------------------------------------------------------- JSON shapes
# Records are kept as plain JSON values (dates as ISO text, money as {"minor", "currency"})
# both in memory and on disk, so a reopened CRM holds exactly what a fresh one held.
def _plain(value: Any) -> Any:
    return json.loads(json.dumps(asdict(value), default=_iso))


def _iso(moment: date) -> str:
    # Naive date-times are taken as UTC, so that comparing two of them never raises.
    if isinstance(moment, datetime) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _empty_data() -> Data:
    sections = ("customers", "invoices", "cards", "payments", "balances", "receipts")
    return {"format": _FORMAT, **{section: {} for section in sections}}


def _demo_data() -> Data:
    data = _empty_data()
    for customer in demo_data.DEMO_CUSTOMERS:
        data["customers"][customer.crm_ref] = _plain(customer)
    for invoice in demo_data.DEMO_INVOICES:
        paid = invoice.crm_ref in demo_data.DEMO_PAID_INVOICE_REFS
        data["invoices"][invoice.crm_ref] = {**_plain(invoice), "paid": paid}
    for crm_ref, cards in demo_data.DEMO_CARDS.items():
        data["cards"][crm_ref] = [_plain(card) for card in cards]
    return data


def _invoice_from_json(raw: Data) -> CrmInvoice:
    lines = tuple(
        CrmInvoiceLine(
            **{**line, "unit_price": Money(**line["unit_price"]), "tax": Money(**line["tax"])}
        )
        for line in raw["lines"]
    )
    return CrmInvoice(
        **{key: value for key, value in raw.items() if key != "paid"}
        | {
            "issued_on": date.fromisoformat(raw["issued_on"]),
            "due_on": date.fromisoformat(raw["due_on"]),
            "lines": lines,
            "shipping": Money(**raw["shipping"]),
        }
    )


def _card_from_json(raw: Data) -> StoredCard:
    return StoredCard(raw["token"], CardSummary(**raw["card"]), is_default=raw["is_default"])


def _is_older(candidate: datetime | None, stored: str | None) -> bool:
    if stored is None:
        return False
    if candidate is None:
        return True
    return datetime.fromisoformat(_iso(candidate)) < datetime.fromisoformat(stored)


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(content)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
