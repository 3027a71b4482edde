"""Payment records: the low-level toolkit every payment flow writes through.

Layer: records (below every use case; imports only the outbox, the context, the domain
and the persistence models). Ids, the one way a payment changes status (the domain's
transition table), the append-only event log, and the outbox messages that bring the
CRM up to date. Nothing here commits, calls the PSP or the CRM: each function works in
the caller's transaction, so what it writes commits with the change that caused it.
"""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import ValidationError
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus, check_transition
from crm_pay.persistence.db import unit_cache
from crm_pay.persistence.models import Customer, OutboxMessage, Payment, PaymentEventRow

from .context import Context
from .outbox import enqueue, waiting_in_this_unit

__all__ = [
    "IN_DOUBT",
    "UNRESOLVED",
    "new_payment_id",
    "order_id_for",
    "transition",
    "add_event",
    "events_of",
    "remember_events",
    "crm_sync_messages",
    "crm_timeline_note",
    "require_psp_currency",
]

log = logging.getLogger("crm_pay.payments")

# Statuses in which the PSP may have taken money we do not know about yet.
IN_DOUBT = frozenset({PaymentStatus.PROCESSING.value, PaymentStatus.UNKNOWN.value})
# Statuses whose outcome is still open (in doubt, or authorized and held for a fraud
# review): no new charge for the same invoices while a payment is in one (rule 1).
UNRESOLVED = IN_DOUBT | {PaymentStatus.HELD.value}


def new_payment_id() -> str:
    """``pay_`` + 120 random bits in lower-case base32. Not hex: a hex id holds a run of
    13+ decimal digits often enough (about 1 in 1,000) to trip the card-number detector
    in logs and CRM payloads; base32 digits are 2-7 only, which practically never does."""
    return "pay_" + base64.b32encode(secrets.token_bytes(15)).decode().lower()


def order_id_for(payment_id: str, attempt: int) -> str:
    """The PSP order id of one attempt. Deterministic: the janitor finds an attempt at
    the PSP by it, without anything but the payment row."""
    return f"{payment_id}-{attempt}"


def transition(session: Session, ctx: Context, payment: Payment, target: PaymentStatus) -> bool:
    """Move ``payment`` to ``target`` (no-op if already there); illegal moves raise."""
    try:
        moved = check_transition(payment.status, target)
    except Exception:
        log.warning(
            "refused transition of payment %s: %s -> %s", payment.id, payment.status, target.value
        )
        raise
    if moved:
        payment.status = target.value
        payment.updated_at = ctx.now()
    return moved


def add_event(
    session: Session,
    ctx: Context,
    payment: Payment,
    kind: EventKind,
    *,
    amount: Money | None = None,
    psp_reference: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event to the payment's log (the totals are derived from it, never
    kept as running sums); ``amount`` defaults to the payment's whole amount."""
    amt = amount or Money(payment.amount_minor, payment.currency)
    row = PaymentEventRow(
        payment_id=payment.id,
        kind=kind.value,
        amount_minor=amt.minor,
        currency=amt.currency,
        psp_reference=psp_reference,
        detail=detail or {},
        created_at=ctx.now(),
    )
    session.add(row)
    known: list[PaymentEventRow] | None = unit_cache(session, _EVENTS).get(payment.id)
    if known is not None:
        known.append(row)


_EVENTS = "events_of"


def events_of(session: Session, payment_id: str) -> list[PaymentEventRow]:
    """The payment's event log in order, read once per unit of work: an event appended
    later in the same transaction by :func:`add_event` (the only writer of the log) is
    added to the list, so a view built after the change sees it without reading again."""
    known = unit_cache(session, _EVENTS)
    if payment_id not in known:
        known[payment_id] = list(
            session.scalars(
                select(PaymentEventRow)
                .where(PaymentEventRow.payment_id == payment_id)
                .order_by(PaymentEventRow.id)
            )
        )
    return known[payment_id]  # type: ignore[no-any-return]


def remember_events(session: Session, payment_id: str, rows: list[PaymentEventRow]) -> None:
    """Record the payment's whole event log, in order, read by the caller together with
    the payment (under its lock), so :func:`events_of` does not read it again."""
    unit_cache(session, _EVENTS)[payment_id] = list(rows)


def crm_sync_messages(
    session: Session,
    ctx: Context,
    payment: Payment,
    customer: Customer,
    reason: str,
    *,
    balance_moved: bool = False,
) -> None:
    """Outbox messages that bring the CRM up to date with this payment and the balance.

    The payment upsert carries the payment's state at this moment; the balance message
    carries nothing but the customer: the handler reads the current balance, so a late
    delivery can never set an older value. It is written only when the ledger moved,
    and not at all while an unclaimed one for the customer is still waiting (that one
    will read the new balance too), which keeps CRM calls per payment low."""
    now = ctx.now()
    stamp = now.isoformat()
    enqueue(
        session,
        topic="crm.upsert_payment",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.payment:{payment.id}:{payment.status}:{reason}",
        payload={"payment_id": payment.id, "status": payment.status, "at": stamp},
        now=now,
    )
    moved = balance_moved or reason == "succeeded" or reason.startswith(("dispute_lost", "refund:"))
    if not moved:
        return
    key = f"crm:{customer.crm_ref}"
    if waiting_in_this_unit(session, topic="crm.update_balance", ordering_key=key):
        return
    waiting = session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.topic == "crm.update_balance",
            OutboxMessage.ordering_key == f"crm:{customer.crm_ref}",
            OutboxMessage.status == "pending",
            OutboxMessage.locked_until.is_(None),
            OutboxMessage.attempts == 0,
        )
        .with_for_update()  # waits for a dispatcher claiming it, then sees the claim
    ).first()
    if waiting is not None:
        return
    enqueue(
        session,
        topic="crm.update_balance",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.balance:{customer.crm_ref}:{payment.id}:{payment.status}:{reason}",
        payload={"crm_ref": customer.crm_ref},
        now=now,
    )


def crm_timeline_note(
    session: Session, ctx: Context, customer: Customer, *, key: str, text: str
) -> None:
    """Queue a note on the customer's CRM timeline (refunds, reversals, disputes), in the
    caller's transaction. ``key`` is our id for the note: the same key is written once."""
    enqueue(
        session,
        topic="crm.timeline_note",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.note:{key}",
        payload={"crm_ref": customer.crm_ref, "key": key, "text": text},
        now=ctx.now(),
    )


def require_psp_currency(ctx: Context, currency: str) -> None:
    """Refuse a payment the PSP cannot take: no merchant account settles in ``currency``.
    Called before anything is recorded, so a refused payment leaves no trace to clean up."""
    accepted = tuple(ctx.psp.currencies)
    if currency not in accepted:
        raise ValidationError(
            f"payments in {currency} cannot be taken: no merchant account is set up for "
            f"{currency} (this merchant takes {', '.join(sorted(accepted))}); an admin can add "
            "one in the PSP settings",
            code="currency_not_supported",
        )
