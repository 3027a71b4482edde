"""Outbox handlers that bring the CRM up to date. Each is an idempotent upsert keyed by
our ids, so a redelivery or a replay leaves the CRM exactly as one delivery would."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import NotFound
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, LedgerEntryRow, Payment, Receipt
from crm_pay.ports import CrmPaymentRecord
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from vault import pan

from .context import Context
from .customers import load_ledger
from .outbox import Handler
from .receipts import receipt_from_row

__all__ = ["CRM_HANDLERS", "payment_record"]

log = logging.getLogger("crm_pay.crm_sync")


def payment_record(ctx: Context, payment_id: str) -> CrmPaymentRecord:
    with ctx.db.transaction() as s:
        p = s.get(Payment, payment_id)
        if p is None:
            raise NotFound(f"no payment {payment_id}")
        customer = s.get(Customer, p.customer_id)
        assert customer is not None
        receipt = s.scalars(
            select(Receipt.number).where(Receipt.payment_id == p.id, Receipt.kind == "payment")
        ).first()
        allocs = s.scalars(
            select(LedgerEntryRow).where(
                LedgerEntryRow.payment_id == p.id,
                LedgerEntryRow.kind == "payment",
                LedgerEntryRow.invoice_ref.is_not(None),
            )
        ).all()
        return CrmPaymentRecord(
            payment_id=p.id,
            customer_ref=customer.crm_ref,
            status=p.status,
            amount=Money(p.amount_minor, p.currency),
            channel=p.channel,
            card_brand=p.card_brand,
            card_last4=p.card_last4,
            psp_reference=p.psp_transaction_id,
            receipt_number=receipt,
            created_at=as_utc(p.created_at),
            updated_at=as_utc(p.updated_at),
            allocations=tuple(
                (a.invoice_ref or "", Money(-a.amount_minor, a.currency)) for a in allocs
            ),
        )


def _guard(record: CrmPaymentRecord) -> CrmPaymentRecord:
    """Last line of defence: nothing that looks like a card number leaves for the CRM."""
    fields = {
        "status": record.status,
        "channel": record.channel,
        "psp_reference": record.psp_reference or "",
        "receipt": record.receipt_number or "",
    }
    _, hits = pan.redact_obj(fields)
    if hits:
        log.error(
            "PAN detector hit in CRM payload for payment %s; fields redacted", record.payment_id
        )
        raise ValueError("refusing to send a payload that contains a card number to the CRM")
    return record


def upsert_payment(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.crm.upsert_payment(_guard(payment_record(ctx, payload["payment_id"])))


def update_balance(ctx: Context, payload: dict[str, Any]) -> None:
    with ctx.db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.crm_ref == payload["crm_ref"])).first()
        if customer is None:
            raise NotFound(f"no customer {payload['crm_ref']}")
        ledger = load_ledger(s, customer)
        balance, credit = ledger.balance(), ledger.credit()
    ctx.crm.update_balance(payload["crm_ref"], balance, credit)


def attach_receipt(ctx: Context, payload: dict[str, Any]) -> None:
    with ctx.db.transaction() as s:
        row = s.scalars(select(Receipt).where(Receipt.number == payload["receipt_number"])).first()
        if row is None:
            raise NotFound(f"no receipt {payload['receipt_number']}")
        receipt = receipt_from_row(row)
    pdf = render_receipt_pdf(receipt)
    ctx.crm.attach_receipt(receipt.customer_ref, receipt.payment_id, receipt.number, pdf)


CRM_HANDLERS: dict[str, Handler] = {
    "crm.upsert_payment": upsert_payment,
    "crm.update_balance": update_balance,
    "crm.attach_receipt": attach_receipt,
}
