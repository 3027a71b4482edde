"""PSP webhook intake (DESIGN.md rule 5): store raw → verify → dedupe → process in one
transaction → keep failures for replay. Fails closed: no verified signature, no processing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_pay.domain.errors import CrmPayError, NotFound, WebhookRejected
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind
from crm_pay.persistence.models import Customer, Payment, WebhookEvent
from crm_pay.ports import WebhookNotification

from . import audit
from .cases import open_case
from .charging import apply_transaction, publish_status
from .context import Context
from .customers import load_ledger, persist_entries
from .outbox import enqueue
from .payments import add_event, crm_sync_messages

__all__ = ["WebhookResult", "receive_webhook", "replay_webhook"]

log = logging.getLogger("crm_pay.webhooks")

_MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class WebhookResult:
    status: str  # processed | duplicate | ignored | failed
    webhook_id: int
    kind: str | None = None


def receive_webhook(
    ctx: Context,
    *,
    signature: str,
    payload: str,
    remote_addr: str | None,
    provider: str = "braintree",
) -> WebhookResult:
    if len(signature) + len(payload) > _MAX_BODY:
        raise WebhookRejected("webhook body too large", status=413)
    now = ctx.now()
    with ctx.db.transaction() as s:
        row = WebhookEvent(
            provider=provider,
            received_at=now,
            signature=signature[:2000],
            payload=payload,
            remote_addr=remote_addr,
            status="received",
        )
        s.add(row)
        s.flush()
        webhook_id = row.id
    try:
        note = ctx.psp.parse_webhook(signature, payload)
    except WebhookRejected as exc:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.status = "rejected"
            row.error = exc.message
            open_case(
                s,
                ctx,
                kind="webhook_rejected",
                subject=f"webhook:{webhook_id}",
                detail={"remote_addr": remote_addr or "", "reason": exc.message},
            )
        log.warning("webhook %s rejected (%s) from %s", webhook_id, exc.message, remote_addr)
        raise
    return _process(ctx, webhook_id, note)


def replay_webhook(ctx: Context, webhook_id: int) -> WebhookResult:
    """Process a stored, verified-again webhook that failed before."""
    with ctx.db.transaction() as s:
        row = s.get(WebhookEvent, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        signature, payload = row.signature, row.payload
    note = ctx.psp.parse_webhook(signature, payload)
    return _process(ctx, webhook_id, note, replay=True)


def _process(
    ctx: Context, webhook_id: int, note: WebhookNotification, *, replay: bool = False
) -> WebhookResult:
    try:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.kind = note.kind
            if not replay or row.event_id is None:
                row.event_id = note.event_id
            s.flush()  # the unique constraint on event_id is the dedupe
            handled = _apply(s, ctx, note)
            row.status = "processed" if handled else "ignored"
            row.processed_at = ctx.now()
            row.error = None
            status = row.status
    except IntegrityError:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.status = "duplicate"
            row.kind = note.kind
        log.info("webhook %s is a duplicate of %s", webhook_id, note.event_id)
        return WebhookResult("duplicate", webhook_id, note.kind)
    except CrmPayError as exc:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.status = "failed"
            row.kind = note.kind
            row.error = f"{exc.code}: {exc.message}"
        log.error("webhook %s failed: %s", webhook_id, exc.message)
        return WebhookResult("failed", webhook_id, note.kind)
    if status == "processed" and note.transaction is not None:
        with ctx.db.transaction() as s:
            payment = _payment_for(s, note)
            payment_id = payment.id if payment is not None else None
        if payment_id is not None:
            publish_status(ctx, payment_id)  # e.g. settled: the agent's panel follows
    return WebhookResult(status, webhook_id, note.kind)


def _payment_for(s, note: WebhookNotification) -> Payment | None:  # type: ignore[no-untyped-def]
    txn = note.transaction
    if txn is None:
        return None
    payment = s.scalars(select(Payment).where(Payment.psp_transaction_id == txn.id)).first()
    if payment is None and txn.order_id and "-" in txn.order_id:
        payment = s.get(Payment, txn.order_id.rsplit("-", 1)[0])
    return payment


def _apply(s, ctx: Context, note: WebhookNotification) -> bool:  # type: ignore[no-untyped-def]
    payment = _payment_for(s, note)
    if payment is None:
        log.info("webhook %s for an unknown transaction ignored", note.kind)
        return False
    s.refresh(payment, with_for_update=True)
    txn = note.transaction
    assert txn is not None
    kind = note.kind
    if kind in ("transaction_settled", "transaction_settlement_declined", "transaction_disbursed"):
        apply_transaction(s, ctx, payment, txn)
        return True
    customer = s.get(Customer, payment.customer_id)
    assert customer is not None
    amount = note.dispute_amount or Money(payment.amount_minor, payment.currency)
    ref = note.dispute_id or txn.id
    if kind == "dispute_opened":
        add_event(s, ctx, payment, EventKind.DISPUTE_OPENED, amount=amount, psp_reference=ref)
        open_case(
            s,
            ctx,
            kind="disputed",
            subject=payment.id,
            payment_id=payment.id,
            detail={"dispute": ref, "amount": amount.to_decimal_str()},
        )
    elif kind == "dispute_won":
        add_event(s, ctx, payment, EventKind.DISPUTE_WON, amount=amount, psp_reference=ref)
    elif kind == "dispute_lost":
        add_event(s, ctx, payment, EventKind.DISPUTE_LOST, amount=amount, psp_reference=ref)
        ledger = load_ledger(s, customer)
        persist_entries(
            s,
            customer,
            ledger.record_chargeback(payment.id, amount, memo=f"Chargeback {ref}"),
            ctx.now(),
        )
    else:
        return False
    audit.record(
        s,
        ctx,
        actor="psp",
        action=f"payment.{kind}",
        subject=payment.id,
        data={"reference": ref, "amount": amount.to_decimal_str()},
    )
    crm_sync_messages(s, ctx, payment, customer, f"{kind}:{ref}")
    words = {"dispute_opened": "opened", "dispute_won": "won", "dispute_lost": "lost"}[kind]
    enqueue(
        s,
        topic="crm.timeline_note",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.note:{kind}:{ref}",
        payload={
            "crm_ref": customer.crm_ref,
            "key": f"{kind}:{ref}",
            "text": f"Dispute {words} on payment {payment.id} "
            f"({amount.format()}, PSP reference {txn.id}).",
        },
        now=ctx.now(),
    )
    return True
