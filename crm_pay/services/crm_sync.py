"""Outbox handlers that bring the CRM up to date. Each is an idempotent upsert keyed by
our ids, so a redelivery or a replay leaves the CRM exactly as one delivery would."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import NotFound
from crm_pay.domain.money import Money
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, LedgerEntryRow, Payment, Receipt
from crm_pay.ports import BatchingCrm, CrmCallFailed, CrmPaymentRecord, CrmTimeline
from crm_pay.rendering.receipt_pdf import render_receipt_pdf
from vault import pan

from .cases import open_case
from .context import Context
from .customers import load_ledger
from .outbox import BatchHandler, Handler
from .receipts import receipt_from_row

__all__ = ["CRM_HANDLERS", "CRM_BATCH_HANDLERS", "payment_record", "upsert_payments_batch"]

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


def _guard(ctx: Context, record: CrmPaymentRecord) -> CrmPaymentRecord:
    """Last line of defence: whatever leaves for the CRM passes the PAN detector. A hit
    is redacted and raises an admin-visible alert (a case); the value is never logged."""
    fields = {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if isinstance(getattr(record, f.name), str)
    }
    redacted, hits = pan.redact_obj(fields)
    if not hits:
        return record
    log.error("PAN detector hit in a CRM payload for payment %s; redacted", record.payment_id)
    with ctx.db.transaction() as s:
        open_case(
            s,
            ctx,
            kind="pan_in_payload",
            subject=f"crm:{record.payment_id}",
            payment_id=record.payment_id,
            detail={"fields": ",".join(sorted(k for k in fields if fields[k] != redacted[k]))},
        )
    return dataclasses.replace(record, **redacted)


def upsert_payment(ctx: Context, payload: dict[str, Any]) -> None:
    ctx.crm.upsert_payment(_guard(ctx, payment_record(ctx, payload["payment_id"])))


def upsert_payments_batch(ctx: Context, payloads: list[dict[str, Any]]) -> list[Exception | None]:
    """Many payment upserts in as few CRM calls as its batch endpoint allows."""
    outcomes: list[Exception | None] = [None] * len(payloads)
    records: list[tuple[int, CrmPaymentRecord]] = []
    for i, payload in enumerate(payloads):
        try:
            records.append((i, _guard(ctx, payment_record(ctx, payload["payment_id"]))))
        except Exception as exc:  # noqa: BLE001 - this one fails, the others go on
            outcomes[i] = exc
    crm = ctx.crm
    if not isinstance(crm, BatchingCrm):
        for i, record in records:
            try:
                crm.upsert_payment(record)
            except Exception as exc:  # noqa: BLE001 - recorded per message by the dispatcher
                outcomes[i] = exc
        return outcomes
    size = max(1, int(crm.max_batch))
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        try:
            results = {r.key: r for r in crm.upsert_payments([rec for _, rec in chunk])}
        except Exception as exc:  # noqa: BLE001 - the whole call failed: all retried
            for i, _ in chunk:
                outcomes[i] = exc
            continue
        for i, record in chunk:
            result = results.get(record.payment_id)
            if result is None:
                outcomes[i] = CrmCallFailed("the CRM did not report on this record")
            elif not result.ok:
                outcomes[i] = CrmCallFailed(
                    "the CRM refused the record",
                    retryable=result.retryable,
                    crm_message=result.error,
                )
    return outcomes


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


def timeline_note(ctx: Context, payload: dict[str, Any]) -> None:
    """Refunds and disputes as a note on the customer's CRM timeline, where supported."""
    crm = ctx.crm
    if isinstance(crm, CrmTimeline):
        crm.add_timeline_note(payload["crm_ref"], payload["key"], pan.redact(payload["text"]))


CRM_BATCH_HANDLERS: dict[str, BatchHandler] = {"crm.upsert_payment": upsert_payments_batch}

CRM_HANDLERS: dict[str, Handler] = {
    "crm.upsert_payment": upsert_payment,
    "crm.update_balance": update_balance,
    "crm.attach_receipt": attach_receipt,
    "crm.timeline_note": timeline_note,
}
