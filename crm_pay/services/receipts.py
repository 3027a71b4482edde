"""Receipts: numbered gaplessly and issued exactly once per successful payment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import NotFound
from crm_pay.domain.ledger import Ledger
from crm_pay.domain.money import Money
from crm_pay.domain.receipt import (
    Merchant,
    Receipt,
    ReceiptLine,
    format_receipt_number,
    still_owed,
)
from crm_pay.domain.three_d_secure import check_words
from crm_pay.domain.wallets import method_label
from crm_pay.persistence.db import unit_cache
from crm_pay.persistence.models import Customer, Invoice, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from vault import pan

from .access import Principal, may_view_receipt
from .context import Context
from .sequences import next_value

__all__ = [
    "InvoiceOnReceipt",
    "issue_receipt",
    "receipts_of",
    "known_receipts_of",
    "issued_in_this_unit",
    "receipt_from_row",
    "get_receipt",
]


class InvoiceOnReceipt(Protocol):
    """What a receipt shows of an invoice: a stored ``Invoice`` row, or the lighter
    :class:`crm_pay.services.customers.StoredInvoice` a payment's outcome reads."""

    @property
    def crm_ref(self) -> str: ...
    @property
    def lines(self) -> list[Any]: ...
    @property
    def shipping_minor(self) -> int: ...
    @property
    def tax_minor(self) -> int: ...
    @property
    def tax_label(self) -> str: ...


def receipts_of(session: Session, payment_id: str) -> list[ReceiptRow]:
    """Every receipt of the payment in issue order, read once per unit of work; one
    issued later in the same transaction by :func:`issue_receipt` is added to the list
    (receipts are only ever issued there, never changed or removed)."""
    known = unit_cache(session, "receipts_of")
    if payment_id not in known:
        known[payment_id] = list(
            session.scalars(
                select(ReceiptRow)
                .where(ReceiptRow.payment_id == payment_id)
                .order_by(ReceiptRow.id)
            )
        )
    return known[payment_id]  # type: ignore[no-any-return]


def known_receipts_of(session: Session, payment_id: str) -> list[ReceiptRow] | None:
    """The payment's receipts if this unit of work has already read them, else None."""
    found: list[ReceiptRow] | None = unit_cache(session, "receipts_of").get(payment_id)
    return found


def issued_in_this_unit(session: Session, number: str) -> bool:
    """True when :func:`issue_receipt` gave this number out in the current unit of work:
    nothing can refer to it yet (no email, no CRM attachment), so nothing is looked up."""
    return number in unit_cache(session, "issued_now")


def issue_receipt(
    session: Session,
    ctx: Context,
    *,
    payment: Payment,
    customer: Customer,
    allocations: list[tuple[str, Money]],
    credit: Money,
    kind: str = "payment",
    refund_ref: str = "",
    amount: Money | None = None,
    first_of_kind: bool = False,
    invoices_by_ref: Mapping[str, InvoiceOnReceipt] | None = None,
    ledger: Ledger | None = None,
) -> ReceiptRow:
    """Issue the receipt in the caller's transaction; a second call for the same payment
    (and refund) returns the first receipt, so a number is never issued twice.

    ``first_of_kind``: the caller knows none exists (a payment's first success, applied
    under its row lock), so none is looked for; the unique constraint on (payment, kind,
    refund) still refuses a second one. ``invoices_by_ref``: the customer's invoices,
    when the caller read them already (their lines go on the receipt). ``ledger``: the
    customer's ledger with this payment booked; what it leaves owed on the invoices it
    paid in part goes on a payment receipt ("Still owed")."""
    if not first_of_kind:
        issued = receipts_of(session, payment.id)
        existing = next((r for r in issued if r.kind == kind and r.refund_ref == refund_ref), None)
        if existing is not None:
            return existing
    now = ctx.now()
    prefix = ctx.settings.receipt_prefix
    # The counter's UPDATE needs nothing this unit of work has pending (the ledger
    # entries, the link used): they go out with the receipt's flush below, one flush
    # where the UPDATE's autoflush would have made it two.
    with session.no_autoflush:
        seq = next_value(session, f"receipt:{prefix}:{now.year}")
    number = format_receipt_number(now.year, seq, prefix)
    refs = [ref for ref, _ in allocations]
    invoices: list[InvoiceOnReceipt]
    if invoices_by_ref is not None:
        invoices = [invoices_by_ref[ref] for ref in refs if ref in invoices_by_ref]
    elif refs:
        invoices = list(
            session.scalars(
                select(Invoice).where(Invoice.customer_id == customer.id, Invoice.crm_ref.in_(refs))
            )
        )
    else:
        invoices = []
    currency = payment.currency
    lines: list[dict[str, Any]] = []
    tax_total: dict[str, int] = {}
    shipping = 0
    for inv in sorted(invoices, key=lambda i: refs.index(i.crm_ref)):
        for line in inv.lines:
            lines.append({**line, "invoice_ref": inv.crm_ref})
        tax_total[inv.tax_label] = tax_total.get(inv.tax_label, 0) + inv.tax_minor
        shipping += inv.shipping_minor
    paid = amount or Money(payment.amount_minor, currency)
    m = ctx.settings.merchant
    content = {
        "number": number,
        "kind": kind,
        "issued_at": now.isoformat(),
        "merchant": {
            "name": m.name,
            "address": m.address,
            "email": m.email,
            "phone": m.phone,
            "tax_id": m.tax_id,
        },
        "customer_name": customer.name,
        "customer_ref": customer.crm_ref,
        "payment_id": payment.id,
        "currency": currency,
        "lines": lines,
        "tax_breakdown": [[label, minor] for label, minor in tax_total.items()],
        "shipping_minor": shipping,
        "allocations": [[ref, amt.minor] for ref, amt in allocations],
        "credit_minor": credit.minor,
        "amount_paid_minor": paid.minor,
        "method": method_label(
            payment.card_brand, payment.card_last4, payment.wallet, payment.wallet_account
        ),
        "psp_reference": refund_ref or payment.psp_transaction_id,
        "bank_check": (
            check_words(payment.three_d_secure_status, payment.three_d_secure_liability_shifted)
            if kind == "payment"
            else None
        ),
        "still_owed": [
            [ref, owed.minor]
            for ref, owed in (
                still_owed(ledger.open_invoices(), refs)
                if ledger is not None and kind == "payment"
                else ()
            )
        ],
    }
    # Everything on a receipt came in clean (CRM data passes the inbound guard); this is
    # the last line before it is stored, printed, emailed and attached in the CRM.
    content, _ = pan.redact_obj(content)
    row = ReceiptRow(
        number=number,
        payment_id=payment.id,
        kind=kind,
        refund_ref=refund_ref,
        content=content,
        issued_at=now,
    )
    session.add(row)
    session.flush()
    known = unit_cache(session, "receipts_of")
    if payment.id in known:
        known[payment.id].append(row)
    elif first_of_kind:
        # A payment's first receipt of any kind is the one of its first success (refunds
        # and reversals come after it): the payment's receipts are this one.
        known[payment.id] = [row]
    unit_cache(session, "issued_now")[number] = row
    return row


def receipt_from_row(row: ReceiptRow) -> Receipt:
    c, _ = pan.redact_obj(row.content)  # also receipts stored before the guard existed
    cur = c["currency"]
    return Receipt(
        number=c["number"],
        kind=c["kind"],
        issued_at=datetime.fromisoformat(c["issued_at"]),
        merchant=Merchant(**c["merchant"]),
        customer_name=c["customer_name"],
        customer_ref=c["customer_ref"],
        payment_id=c["payment_id"],
        lines=tuple(
            ReceiptLine(
                description=line["description"],
                quantity=int(line["quantity"]),
                unit_price=Money(line["unit_price_minor"], cur),
                tax=Money(line["tax_minor"], cur),
                invoice_ref=line.get("invoice_ref"),
            )
            for line in c["lines"]
        ),
        tax_breakdown=tuple((label, Money(minor, cur)) for label, minor in c["tax_breakdown"]),
        shipping=Money(c["shipping_minor"], cur),
        allocations=tuple((ref, Money(minor, cur)) for ref, minor in c["allocations"]),
        credit=Money(c["credit_minor"], cur),
        amount_paid=Money(c["amount_paid_minor"], cur),
        method=c["method"],
        psp_reference=c["psp_reference"],
        # Receipts issued before "still owed" was printed have none.
        still_owed=tuple((ref, Money(minor, cur)) for ref, minor in c.get("still_owed", ())),
        bank_check=c.get("bank_check"),  # receipts issued before 0023 have none
    )


def get_receipt(ctx: Context, number: str, *, principal: Principal) -> tuple[ReceiptRow, Receipt]:
    """Receipt ``number`` if ``principal`` may see it (:func:`access.may_view_receipt`).

    A receipt they may not see is "not found", word for word like one that does not
    exist: numbers are sequential, and a 403 would confirm which ones are real."""
    with ctx.db.transaction() as s:
        found = s.execute(
            select(ReceiptRow, Payment.created_by)
            .join(Payment, Payment.id == ReceiptRow.payment_id)
            .where(ReceiptRow.number == number)
        ).first()
        if found is None or not may_view_receipt(principal, found[1]):
            raise NotFound(f"no receipt {number!r}")
        row = found[0]
        return row, receipt_from_row(row)
