"""Customer look-ups: the CRM is the source of customers and invoices; our ledger is the
source of balances. Invoices seen for the first time are charged to the ledger once.

Layer: records (below the views and every use case; imports only the PAN guard
:mod:`.inbound` and the context). The customer panel itself is a read model, in
:mod:`.views`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, cast, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import (
    ConfigurationError,
    CrmPayError,
    CrmUnavailable,
    NotFound,
    ValidationError,
)
from crm_pay.domain.ledger import EntryKind, Ledger, LedgerEntry
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc, unit_cache
from crm_pay.persistence.models import Customer, Invoice, LedgerEntryRow, Payment
from crm_pay.ports import CrmCustomer, CrmInvoice, StoredCard

from . import inbound
from .context import Context
from .payment_records import UNRESOLVED
from .saved_cards import saved_cards_of

__all__ = [
    "CrmUnavailable",
    "sync_customer",
    "fetch_customer",
    "store_customer",
    "CrmSnapshot",
    "cards_on_file",
    "find_by_phone",
    "find_by_email",
    "crm_call",
    "screened",
    "summary",
    "load_ledger",
    "load_ledger_and_invoices",
    "StoredInvoice",
    "ledger_rows",
    "StoredEntry",
    "E164",
    "persist_entries",
    "unresolved_payments",
]

log = logging.getLogger("crm_pay.customers")

#: An unchanged CRM copy's ``synced_at`` is written again only after this long.
SYNC_STAMP_EVERY = timedelta(minutes=1)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def crm_call(what: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, a CRM call: any failure of it becomes one ``CrmUnavailable``."""
    try:
        return fn(*args)
    except CrmPayError:
        raise
    except Exception as exc:  # noqa: BLE001 - any CRM failure becomes one clear error
        log.warning("CRM %s failed: %s", what, type(exc).__name__)
        raise CrmUnavailable(
            "The CRM did not answer; try again in a moment. Nothing was changed."
        ) from exc


class StoredEntry(NamedTuple):
    """One stored ledger entry as the services read it: plain values, not an ORM object
    (a customer's history is replayed whole on each payment, and loading every entry as
    a mapped, tracked object cost more than the rest of the replay). Entries are
    append-only, so nothing is ever written back through one."""

    kind: str
    amount_minor: int
    currency: str
    invoice_ref: str | None
    payment_id: str | None
    memo: str
    due_on: date | None


#: The columns of a :class:`StoredEntry`, in its order.
_ENTRY = (
    LedgerEntryRow.kind,
    LedgerEntryRow.amount_minor,
    LedgerEntryRow.currency,
    LedgerEntryRow.invoice_ref,
    LedgerEntryRow.payment_id,
    LedgerEntryRow.memo,
    LedgerEntryRow.due_on,
)
_ENTRY_WIDTH = len(_ENTRY)


def ledger_rows(session: Session, customer: Customer) -> list[StoredEntry]:
    """The customer's ledger entries in booking order, read once per unit of work:
    entries booked later in the same transaction through :func:`persist_entries` are
    added to the list, so a view built after the booking sees them without reading
    again."""
    known = unit_cache(session, "ledger_rows")
    if customer.id not in known:
        known[customer.id] = [
            StoredEntry._make(row)
            for row in session.execute(
                select(*_ENTRY)
                .where(LedgerEntryRow.customer_id == customer.id)
                .order_by(LedgerEntryRow.id)
            )
        ]
    return known[customer.id]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class StoredInvoice:
    """What a receipt shows of a stored invoice (:func:`load_ledger_and_invoices`).

    Its lines stay the JSON text they are stored as until :attr:`lines` is read: a
    payment's outcome reads every invoice of the customer but puts only the ones it paid
    on the receipt, so the others' lines are never decoded."""

    crm_ref: str
    lines_json: str
    shipping_minor: int
    tax_minor: int
    tax_label: str

    @property
    def lines(self) -> list[Any]:
        """``[{description, quantity, unit_price_minor, tax_minor, sku}]`` (as stored by
        the ``JSON`` column, whose default codec is the standard :mod:`json`)."""
        decoded: list[Any] = json.loads(self.lines_json)
        return decoded


# The invoice columns a receipt needs, the lines as their stored text (CAST: on
# PostgreSQL the driver would otherwise decode every invoice's JSON as it arrives).
_STORED_INVOICE = (
    Invoice.crm_ref,
    cast(Invoice.lines, Text),
    Invoice.shipping_minor,
    Invoice.tax_minor,
    Invoice.tax_label,
)


def load_ledger_and_invoices(
    session: Session, customer: Customer
) -> tuple[Ledger, dict[str, StoredInvoice]]:
    """The ledger and the customer's invoices (by CRM reference), read in one statement:
    every invoice is stored together with its one charge entry (see :func:`_store`), so
    a LEFT JOIN of the entries to the invoices finds them all. For a payment's outcome,
    which books the allocation and then writes the paid invoices' lines on the receipt;
    the invoices are read as plain columns (no ORM objects) and their lines decoded only
    for the invoices the receipt shows (:class:`StoredInvoice`)."""
    known = unit_cache(session, "ledger_rows")
    if customer.id in known:  # the entries were read already: only the invoices now
        invoices = {
            row[0]: StoredInvoice(*row)
            for row in session.execute(
                select(*_STORED_INVOICE).where(Invoice.customer_id == customer.id)
            )
        }
        return load_ledger(session, customer), invoices
    # Any: a row is sliced in two (the entry's columns, the invoice's)
    pairs: Sequence[Any] = session.execute(
        select(*_ENTRY, *_STORED_INVOICE)
        .outerjoin(
            Invoice,
            and_(
                Invoice.customer_id == LedgerEntryRow.customer_id,
                Invoice.crm_ref == LedgerEntryRow.invoice_ref,
                LedgerEntryRow.kind == EntryKind.INVOICE_CHARGE.value,
            ),
        )
        .where(LedgerEntryRow.customer_id == customer.id)
        .order_by(LedgerEntryRow.id)
    ).all()
    entries: list[StoredEntry] = []
    invoices = {}
    for row in pairs:
        entries.append(StoredEntry._make(row[:_ENTRY_WIDTH]))
        ref, lines, shipping, tax, label = row[_ENTRY_WIDTH:]
        if ref is not None:  # an invoice charge: its invoice came with it
            invoices[ref] = StoredInvoice(ref, lines, shipping, tax, label)
    known[customer.id] = entries
    return load_ledger(session, customer), invoices


def load_ledger(session: Session, customer: Customer) -> Ledger:
    """The customer's ledger from its stored entries, checked as one batch: entries were
    written in balanced batches (a credit applied is a pair of rows), so the history is
    replayed whole rather than row by row — which also copies the book once, not once a
    row."""
    rows = ledger_rows(session, customer)
    return Ledger(
        customer.currency,
        [
            LedgerEntry(
                kind=EntryKind(row.kind),
                amount=Money(row.amount_minor, row.currency),
                invoice_ref=row.invoice_ref,
                payment_ref=row.payment_id,
                memo=row.memo,
                due_on=row.due_on,
            )
            for row in rows
        ],
    )


def persist_entries(
    session: Session, customer: Customer, entries: list[LedgerEntry], now: datetime
) -> None:
    """Store entries the domain ``Ledger`` produced (and so validated)."""
    known = unit_cache(session, "ledger_rows").get(customer.id)
    for e in entries:
        row = LedgerEntryRow(
            customer_id=customer.id,
            kind=e.kind.value,
            amount_minor=e.amount.minor,
            currency=e.amount.currency,
            invoice_ref=e.invoice_ref,
            payment_id=e.payment_ref,
            memo=e.memo,
            due_on=e.due_on,
            created_at=now,
        )
        session.add(row)
        if known is not None:
            known.append(
                StoredEntry(
                    e.kind.value,
                    e.amount.minor,
                    e.amount.currency,
                    e.invoice_ref,
                    e.payment_ref,
                    e.memo,
                    e.due_on,
                )
            )


_UNRESOLVED = "unresolved_payments"


def _lock_customer(session: Session, ctx: Context, crm_ref: str) -> Customer | None:
    """The customer row locked for this transaction, or None when it is not stored yet;
    its ledger and its unresolved payments are read with it, by one statement (one row
    per entry and payment, each carrying the customer): both are needed next (the
    invoices already stored, then a new payment's allocation and the rule-1 check).

    SQLite: that statement is all, as the transaction has held the write lock since
    ``BEGIN IMMEDIATE`` and what it reads is current. PostgreSQL: the row is locked
    first, by a statement of its own, because a read joined to a lock that had to wait
    would return the joined rows as they were before the wait (READ COMMITTED re-reads
    only the locked row)."""
    read = (
        select(Customer, Payment, LedgerEntryRow.id, *_ENTRY)
        .outerjoin(LedgerEntryRow, LedgerEntryRow.customer_id == Customer.id)
        .outerjoin(
            Payment, and_(Payment.customer_id == Customer.id, Payment.status.in_(UNRESOLVED))
        )
        .where(Customer.crm_ref == crm_ref)
        .order_by(LedgerEntryRow.id, Payment.id)
    )
    if not ctx.db.is_sqlite:
        locked = session.scalars(
            select(Customer.id).where(Customer.crm_ref == crm_ref).with_for_update()
        ).first()
        if locked is None:
            return None
        # what this session may hold from before the lock is overwritten
        read = read.execution_options(populate_existing=True)
    rows = session.execute(read).all()
    if not rows:
        return None
    customer: Customer = rows[0][0]
    # each entry and payment once (one repeats once per row of the other join), in order
    entries = {row[2]: row[3:] for row in rows if row[2] is not None}
    payments = dict.fromkeys(row[1] for row in rows if row[1] is not None)
    unit_cache(session, "ledger_rows")[customer.id] = [
        StoredEntry._make(entry) for entry in entries.values()
    ]
    unit_cache(session, _UNRESOLVED)[customer.id] = list(payments)
    return customer


def unresolved_payments(session: Session, customer: Customer) -> list[Payment]:
    """The customer's payments whose outcome is still open (in doubt with the PSP, or
    held for a fraud review): reliability rule 1 blocks a new charge for their invoices.
    Read once per unit of work (:func:`store_customer` may have read them already)."""
    known = unit_cache(session, _UNRESOLVED)
    if customer.id not in known:
        known[customer.id] = list(
            session.scalars(
                select(Payment).where(
                    Payment.customer_id == customer.id, Payment.status.in_(UNRESOLVED)
                )
            )
        )
    return [p for p in known[customer.id] if p.status in UNRESOLVED]


def _store(
    session: Session,
    ctx: Context,
    found: CrmCustomer,
    invoices: list[CrmInvoice],
    hits: list[inbound.CrmHit],
) -> Customer:
    now = ctx.now()
    inbound.report_crm_hits(session, ctx, hits, connector=_crm_name(ctx))
    customer = _lock_customer(session, ctx, found.crm_ref)
    new = customer is None
    if customer is None:
        customer = Customer(
            crm_ref=found.crm_ref, currency=found.currency, synced_at=now, name=found.name
        )
        session.add(customer)
    changed = (customer.name, customer.email, customer.phone) != (
        found.name,
        found.email,
        found.phone,
    )
    customer.name = found.name
    customer.email = found.email
    customer.phone = found.phone
    # the messages' language (not a "change" to stamp); only its primary tag counts, so a
    # tag longer than the column is cut rather than failing the sync
    customer.language = (found.language or "")[:35] or None
    # When our copy last matched the CRM: stamped when it changes, else at most once a
    # minute (like an API key's last use), not once per payment.
    last = as_utc(customer.synced_at)
    if changed or last is None or now - last >= SYNC_STAMP_EVERY:
        customer.synced_at = now
    session.flush()
    if new:  # created just now: it has no ledger and no payments to read
        unit_cache(session, "ledger_rows")[customer.id] = []
        unit_cache(session, _UNRESOLVED)[customer.id] = []
    charges: list[tuple[str, Money, date]] = []
    # The invoices already stored, from the ledger (read once; the payment being created
    # needs it next): an invoice is stored only here, together with its charge entry.
    known = {
        r.invoice_ref
        for r in ledger_rows(session, customer)
        if r.kind == EntryKind.INVOICE_CHARGE.value and r.invoice_ref
    }
    for inv in invoices:
        if inv.crm_ref in known:
            continue
        if inv.currency != customer.currency:
            log.warning(
                "invoice %s skipped: currency %s differs from the account's %s",
                inv.crm_ref,
                inv.currency,
                customer.currency,
            )
            continue
        session.add(
            Invoice(
                customer_id=customer.id,
                crm_ref=inv.crm_ref,
                currency=inv.currency,
                total_minor=inv.total.minor,
                issued_on=inv.issued_on,
                due_on=inv.due_on,
                lines=[
                    {
                        "description": line.description,
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price.minor,
                        "tax_minor": line.tax.minor,
                        "sku": line.sku,
                    }
                    for line in inv.lines
                ],
                shipping_minor=inv.shipping.minor,
                tax_minor=inv.tax.minor,
                tax_label=inv.tax_label,
            )
        )
        charges.append((inv.crm_ref, inv.total, inv.due_on))
    if charges:
        ledger = load_ledger(session, customer)
        entries = [
            ledger.charge_invoice(ref, total, due, memo=f"Invoice {ref}")
            for ref, total, due in charges
        ]
        persist_entries(session, customer, entries, now)
    session.flush()
    return customer


@dataclass(frozen=True)
class CrmSnapshot:
    """What the CRM said about one customer, screened, not stored yet (see
    :func:`fetch_customer`); or, with ``found`` None, the id of our stored copy."""

    found: CrmCustomer | None = None
    invoices: tuple[CrmInvoice, ...] = ()
    known_id: int | None = None


def fetch_customer(ctx: Context, crm_ref: str) -> CrmSnapshot:
    """The CRM half of :func:`sync_customer`, with no transaction open while the CRM
    answers. A caller that writes next stores the snapshot in its own transaction with
    :func:`store_customer` (one transaction instead of two on the hot path).

    If the CRM is down but we know the customer, our copy is used (and logged). What the
    CRM sent passes the PAN guard first (:mod:`.inbound`): a card number in it is
    redacted or left out, and opens a case — stored here, in a transaction of its own,
    so that the alert is never rolled back with the caller's transaction."""
    if not crm_ref or len(crm_ref) > 100:
        raise ValidationError("crm_ref must be 1 to 100 characters")
    inbound.refuse_card_number(
        crm_ref, what="the customer's CRM id", code="card_number_in_customer_ref"
    )
    try:
        found = crm_call("find_customer", ctx.crm.find_customer, crm_ref)
        invoices = list(crm_call("open_invoices", ctx.crm.open_invoices, crm_ref)) if found else []
    except (CrmUnavailable, ConfigurationError):  # down, or its connector is broken
        with ctx.db.transaction() as s:
            known = s.scalars(select(Customer.id).where(Customer.crm_ref == crm_ref)).first()
        if known is None:
            raise
        log.warning("CRM unavailable; serving stored copy of customer %s", crm_ref)
        return CrmSnapshot(known_id=int(known))
    if found is None:
        raise NotFound(f"no customer {crm_ref!r} in the CRM; check the CRM id")
    screened, hits = inbound.screen_customer(found)
    if screened is None:
        inbound.record_crm_hits(ctx, hits)
        raise ValidationError(
            f"the CRM's record for {crm_ref!r} has what looks like a card number in its id, "
            "so it was not taken in and nothing was changed; an admin was alerted. Remove "
            "the number from the CRM record and open the customer again.",
            code="card_number_in_crm_record",
        )
    invoices, invoice_hits = inbound.screen_invoices(invoices, customer_ref=screened.crm_ref)
    if hits or invoice_hits:
        with ctx.db.transaction() as s:
            return CrmSnapshot(known_id=_store(s, ctx, screened, invoices, hits + invoice_hits).id)
    return CrmSnapshot(found=screened, invoices=tuple(invoices))


def store_customer(session: Session, ctx: Context, snapshot: CrmSnapshot) -> Customer:
    """Store a :func:`fetch_customer` snapshot in the caller's transaction; returns the
    customer row, locked for the rest of that transaction."""
    if snapshot.found is None:
        customer = session.scalars(
            select(Customer).where(Customer.id == snapshot.known_id).with_for_update()
        ).first()
        assert customer is not None
        return customer
    return _store(session, ctx, snapshot.found, list(snapshot.invoices), [])


def sync_customer(ctx: Context, crm_ref: str) -> int:
    """Fetch the customer and open invoices from the CRM (:func:`fetch_customer`: no
    transaction open while the CRM answers), then store them. Returns our customer id."""
    snapshot = fetch_customer(ctx, crm_ref)
    if snapshot.found is None:
        assert snapshot.known_id is not None
        return snapshot.known_id
    with ctx.db.transaction() as s:
        return store_customer(s, ctx, snapshot).id


def _crm_name(ctx: Context) -> str:
    return str(getattr(ctx.crm, "name", "crm"))


def cards_on_file(ctx: Context, crm_ref: str) -> list[StoredCard]:
    """The customer's cards on file as the CRM lists them, through the PAN guard (a card
    whose token holds a card number is left out), then the cards the customer saved on
    the pay page that the CRM does not list (yet). CRM failures raise as they come."""
    cards, hits = inbound.screen_cards(ctx.crm.cards_on_file(crm_ref), customer_ref=crm_ref)
    inbound.record_crm_hits(ctx, hits)
    listed = {c.token for c in cards}
    return [*cards, *(c for c in saved_cards_of(ctx, crm_ref) if c.token not in listed)]


def summary(c: CrmCustomer) -> dict[str, Any]:
    """What a search result shows of a customer (id, name, email, phone)."""
    return {"crm_ref": c.crm_ref, "name": c.name, "email": c.email, "phone": c.phone}


def screened(ctx: Context, found: Any) -> list[dict[str, Any]]:
    """Search results through the PAN guard (a match whose id holds one is left out)."""
    out: list[dict[str, Any]] = []
    hits: list[inbound.CrmHit] = []
    for customer in found:
        clean, customer_hits = inbound.screen_customer(customer)
        hits.extend(customer_hits)
        if clean is not None:
            out.append(summary(clean))
    inbound.record_crm_hits(ctx, hits)
    return out


def find_by_phone(ctx: Context, phone: str) -> list[dict[str, Any]]:
    phone = (phone or "").strip()
    if not E164.fullmatch(phone):
        raise ValidationError(f"phone {phone!r} is not in E.164 form; write it like +15551234567")
    return screened(ctx, crm_call("find_by_phone", ctx.crm.find_customers_by_phone, phone))


def find_by_email(ctx: Context, email: str) -> list[dict[str, Any]]:
    email = (email or "").strip()
    if not _EMAIL.fullmatch(email):
        raise ValidationError(f"{email!r} is not an email address")
    return screened(ctx, crm_call("find_by_email", ctx.crm.find_customers_by_email, email))
