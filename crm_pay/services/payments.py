"""Use cases around a payment: create (with its pay link), view, cancel."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.declines import customer_next_step
from crm_pay.domain.errors import Conflict, IdempotencyConflict, NotFound, ValidationError
from crm_pay.domain.ledger import OpenInvoice, plan_allocation
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.domain.payment import (
    SUCCESSFUL,
    Channel,
    EventKind,
    PaymentEvent,
    PaymentStatus,
    check_transition,
    totals_from_events,
)
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import (
    Customer,
    IdempotencyRecord,
    Invoice,
    LedgerEntryRow,
    OutboxMessage,
    PayLink,
    Payment,
    PaymentEventRow,
    Receipt,
)
from vault import pan, tokens

from . import audit, inbound
from .context import Context
from .customers import cards_on_file, load_ledger, sync_customer
from .outbox import enqueue

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "CreatePayment",
    "create_payment",
    "get_payment",
    "cancel_payment",
    "payment_view",
    "transition",
    "add_event",
    "crm_sync_messages",
    "crm_timeline_note",
    "pay_url_of",
    "invoices_with_payments",
    "require_psp_currency",
]

log = logging.getLogger("crm_pay.payments")

DESCRIPTION_MAX_LENGTH = 500  # Payment.description is String(500)

# Statuses in which the PSP may have taken money we do not know about yet.
IN_DOUBT = frozenset({PaymentStatus.PROCESSING.value, PaymentStatus.UNKNOWN.value})


@dataclass(frozen=True)
class CreatePayment:
    crm_ref: str
    amount: str
    currency: str
    channel: str = "link"
    allocations: dict[str, str] | None = None
    description: str = ""
    payment_method_token: str | None = None  # card on file, channel "vaulted"
    customer_consent: bool = False  # vaulted: the agent recorded the customer's consent


def new_payment_id() -> str:
    """``pay_`` + 120 random bits in lower-case base32. Not hex: a hex id holds a run of
    13+ decimal digits often enough (about 1 in 1,000) to trip the card-number detector
    in logs and CRM payloads; base32 digits are 2-7 only, which practically never does."""
    return "pay_" + base64.b32encode(secrets.token_bytes(15)).decode().lower()


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
    amt = amount or Money(payment.amount_minor, payment.currency)
    session.add(
        PaymentEventRow(
            payment_id=payment.id,
            kind=kind.value,
            amount_minor=amt.minor,
            currency=amt.currency,
            psp_reference=psp_reference,
            detail=detail or {},
            created_at=ctx.now(),
        )
    )


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


def invoices_with_payments(session: Session, customer: Customer) -> list[OpenInvoice]:
    """Every invoice of the customer with what the ledger has paid on it (paid ones too:
    an allocation plan skips those with nothing outstanding)."""
    ledger = load_ledger(session, customer)
    rows = session.scalars(select(Invoice).where(Invoice.customer_id == customer.id))
    out = []
    for inv in rows:
        total = Money(inv.total_minor, inv.currency)
        out.append(
            OpenInvoice(
                ref=inv.crm_ref, total=total, paid=ledger.paid_on(inv.crm_ref), due_on=inv.due_on
            )
        )
    return out


def _parse_allocations(raw: dict[str, str] | None, currency: str) -> dict[str, Money] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise ValidationError("allocations must be an object of invoice number → amount")
    parsed = {}
    for ref, amount in raw.items():
        try:
            parsed[str(ref)] = Money.parse(amount, currency)
        except ValidationError as exc:
            raise ValidationError(f"allocation to {ref}: {exc.message}") from exc
    return parsed


def _check_nothing_in_doubt(session: Session, customer: Customer, invoice_refs: set[str]) -> None:
    """Rule 1 of DESIGN.md: no new charge while an earlier attempt's outcome is unknown."""
    doubtful = session.scalars(
        select(Payment).where(Payment.customer_id == customer.id, Payment.status.in_(IN_DOUBT))
    ).all()
    for p in doubtful:
        theirs = set(p.requested_allocations)
        if not invoice_refs or not theirs or theirs & invoice_refs:
            raise Conflict(
                f"payment {p.id} for this customer is still being confirmed with the bank "
                "(status unknown); wait for it to resolve before charging again",
                code="payment_in_doubt",
            )


def _description(text: str) -> str:
    """The payment's note as stored: card numbers redacted, never cut short."""
    if not isinstance(text, str):
        raise ValidationError("description must be a string")
    # Measured after redaction: that is what is kept (the column holds 500).
    redacted = pan.redact(text)
    if len(redacted) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(
            f"description is longer than {DESCRIPTION_MAX_LENGTH} characters; shorten it"
        )
    return redacted


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


def create_payment(
    ctx: Context,
    cmd: CreatePayment,
    *,
    actor: str,
    idempotency_scope: str,
    idempotency_key: str,
    request_hash: str,
) -> tuple[dict[str, Any], bool]:
    """Create a payment (``link``: with a pay link; ``vaulted``: charged now).

    Returns ``(view, created)``; the same idempotency key with the same request returns
    the first payment (``created`` False), with another request raises
    ``IdempotencyConflict``. Nothing reaches the PSP before the attempt is recorded."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    channel = cmd.channel
    if channel not in (Channel.LINK.value, Channel.VAULTED.value):
        raise ValidationError("channel must be 'link' or 'vaulted'")
    currency = normalize_currency(cmd.currency)
    amount = Money.parse(cmd.amount, currency)
    if not amount.is_positive():
        raise ValidationError("amount must be greater than zero")
    requested = _parse_allocations(cmd.allocations, currency)
    description = _description(cmd.description)
    if channel == Channel.VAULTED.value:
        if not cmd.payment_method_token:
            raise ValidationError("a vaulted payment needs payment_method_token (a card on file)")
        if not cmd.customer_consent:
            raise ValidationError(
                "record the customer's consent (customer_consent: true) before charging a card "
                "on file",
                code="consent_required",
            )

    replay = _replay(ctx, idempotency_scope, idempotency_key, request_hash)
    if replay is not None:
        return replay, False
    require_psp_currency(ctx, currency)

    customer_id = sync_customer(ctx, cmd.crm_ref)  # CRM call: before the transaction
    if channel == Channel.VAULTED.value:
        cards = {c.token: c for c in cards_on_file(ctx, cmd.crm_ref)}
        if cmd.payment_method_token not in cards:
            raise ValidationError("that card is not on file for this customer")
        card = cards[cmd.payment_method_token].card
    else:
        card = None

    token = tokens.new_token(32) if channel == Channel.LINK.value else None
    now = ctx.now()
    with ctx.db.transaction() as s:
        customer = ctx.db.lock(s, Customer, customer_id)
        assert customer is not None
        if currency != customer.currency:
            raise ValidationError(
                f"this customer's account is in {customer.currency}, not {currency}"
            )
        plan = plan_allocation(amount, invoices_with_payments(s, customer), requested)
        _check_nothing_in_doubt(s, customer, {a.invoice_ref for a in plan.allocations})
        payment_id = new_payment_id()
        record = IdempotencyRecord(
            scope=idempotency_scope,
            key=idempotency_key,
            request_hash=request_hash,
            response_status=None,
            response_body={"payment_id": payment_id},
            created_at=now,
        )
        s.add(record)
        try:
            s.flush()
        except IntegrityError:
            s.rollback()
            raise Conflict(
                "a request with this Idempotency-Key is in progress; retry shortly",
                code="idempotency_key_in_progress",
            ) from None
        payment = Payment(
            id=payment_id,
            customer_id=customer.id,
            channel=channel,
            status=PaymentStatus.CREATED.value,
            amount_minor=amount.minor,
            currency=currency,
            requested_allocations={k: v.minor for k, v in (requested or {}).items()},
            created_by=actor,
            description=description,
            attempt=0,
            payment_method_token=cmd.payment_method_token,
            card_brand=card.brand if card else None,
            card_last4=card.last4 if card else None,
            card_exp=f"{card.exp_month}/{card.exp_year}" if card and card.exp_month else None,
            janitor_checks=0,
            created_at=now,
            updated_at=now,
        )
        s.add(payment)
        s.flush()
        if token is not None:
            s.add(
                PayLink(
                    payment_id=payment.id,
                    token_hash=tokens.hash_token(token, pepper=ctx.settings.token_pepper),
                    # The token is shown once; replays and resends get it back from the vault.
                    sealed_token=ctx.keyring.encrypt_text(token, context=_seal_ctx(payment.id)),
                    expires_at=now + timedelta(seconds=ctx.settings.pay_link_ttl_seconds),
                    max_attempts=ctx.settings.pay_link_max_attempts,
                    failed_attempts=0,
                    created_at=now,
                )
            )
            transition(s, ctx, payment, PaymentStatus.AWAITING_CUSTOMER)
        audit.record(
            s,
            ctx,
            actor=actor,
            action="payment.created",
            subject=payment.id,
            data={
                "amount": amount.to_decimal_str(),
                "currency": currency,
                "channel": channel,
                "customer": customer.crm_ref,
            },
        )
        crm_sync_messages(s, ctx, payment, customer, "created")
        record.response_status = 201
        view = payment_view(s, ctx, payment)
    if token is not None:
        view["pay_url"] = ctx.settings.pay_url(token)
        ctx.publish(payment_id, {"status": view["status"]})
        return view, True
    from .charging import charge_vaulted  # local import: charging imports this module

    return charge_vaulted(ctx, payment_id), True


def _seal_ctx(payment_id: str) -> bytes:
    return f"paylink:{payment_id}".encode()


def _replay(ctx: Context, scope: str, key: str, request_hash: str) -> dict[str, Any] | None:
    with ctx.db.transaction() as s:
        rec = s.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).first()
        if rec is None:
            return None
        if rec.request_hash != request_hash:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new payment",
                status=422,
            )
        body = rec.response_body or {}
        payment = s.get(Payment, body.get("payment_id"))
        if payment is None:
            raise Conflict(
                "a request with this Idempotency-Key is in progress; retry shortly",
                code="idempotency_key_in_progress",
            )
        view = payment_view(s, ctx, payment)
        url = pay_url_of(s, ctx, payment.id)
    if url is not None:
        view["pay_url"] = url
    return view


def pay_url_of(session: Session, ctx: Context, payment_id: str) -> str | None:
    """The payment's pay link URL (decrypted from the vault), or None without a link."""
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment_id)).first()
    if link is None:
        return None
    token = ctx.keyring.decrypt_text(link.sealed_token, context=_seal_ctx(payment_id))
    return ctx.settings.pay_url(token)


def get_payment(ctx: Context, payment_id: str, *, resolve: bool = True) -> dict[str, Any]:
    """The payment as the API shows it. A payment in doubt is re-checked with the PSP on
    read (DESIGN.md rule 4), so a caller polling sees it resolve."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        in_doubt = payment.status == PaymentStatus.UNKNOWN.value
    if resolve and in_doubt:
        from .janitor import resolve_payment

        resolve_payment(ctx, payment_id)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        return payment_view(s, ctx, payment)


def cancel_payment(ctx: Context, payment_id: str, *, actor: str) -> dict[str, Any]:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if payment.status in SUCCESSFUL:
            raise Conflict(
                "this payment was approved; refund or void it instead", code="already_paid"
            )
        if payment.status in IN_DOUBT:
            raise Conflict(
                "the bank is processing this payment; it cannot be cancelled now",
                code="payment_in_doubt",
            )
        if transition(s, ctx, payment, PaymentStatus.CANCELLED):
            link = s.scalars(select(PayLink).where(PayLink.payment_id == payment.id)).first()
            if link is not None and link.cancelled_at is None:
                link.cancelled_at = ctx.now()
            customer = s.get(Customer, payment.customer_id)
            assert customer is not None
            audit.record(
                s, ctx, actor=actor, action="payment.cancelled", subject=payment.id, data={}
            )
            crm_sync_messages(s, ctx, payment, customer, "cancelled")
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, {"status": view["status"]})
    return view


def payment_view(session: Session, ctx: Context, payment: Payment) -> dict[str, Any]:
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    cur = payment.currency
    alloc_rows = session.scalars(
        select(LedgerEntryRow).where(
            LedgerEntryRow.payment_id == payment.id, LedgerEntryRow.kind == "payment"
        )
    ).all()
    receipt = session.scalars(
        select(Receipt.number).where(Receipt.payment_id == payment.id, Receipt.kind == "payment")
    ).first()
    reversal_receipt = session.scalars(
        select(Receipt.number).where(Receipt.payment_id == payment.id, Receipt.kind == "reversal")
    ).first()
    refund_receipts = list(
        session.scalars(
            select(Receipt.number)
            .where(Receipt.payment_id == payment.id, Receipt.kind == "refund")
            .order_by(Receipt.id)
        )
    )
    totals = totals_from_events(
        cur,
        (
            PaymentEvent(EventKind(e.kind), Money(e.amount_minor, e.currency))
            for e in session.scalars(
                select(PaymentEventRow).where(PaymentEventRow.payment_id == payment.id)
            )
        ),
    )
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment.id)).first()
    view: dict[str, Any] = {
        "id": payment.id,
        "status": payment.status,
        "channel": payment.channel,
        "amount": Money(payment.amount_minor, cur).to_decimal_str(),
        "currency": cur,
        "customer": customer.crm_ref,
        "description": payment.description,
        "requested_allocations": {
            ref: Money(minor, cur).to_decimal_str()
            for ref, minor in payment.requested_allocations.items()
        },
        "allocations": [
            {"invoice": r.invoice_ref, "amount": Money(-r.amount_minor, cur).to_decimal_str()}
            for r in alloc_rows
            if r.invoice_ref
        ],
        "credit": Money(
            -sum(r.amount_minor for r in alloc_rows if not r.invoice_ref), cur
        ).to_decimal_str(),
        "card": (
            {"brand": payment.card_brand, "last4": payment.card_last4}
            if payment.card_last4
            else None
        ),
        "psp_reference": payment.psp_transaction_id,
        "receipt_number": receipt,
        # derived from the append-only events, never kept as a running total
        "captured": totals.captured.to_decimal_str(),
        "refunded": totals.refunded.to_decimal_str(),
        "refund_receipts": refund_receipts,
        "reversal_receipt": reversal_receipt,  # settlement declined: the payment undone
        "decline": (
            {
                "code": payment.decline_code,
                "message": payment.decline_message,
                "next_step": payment.decline_next_step,
                "customer_next_step": customer_next_step(payment.decline_code),
            }
            if payment.decline_code
            and payment.status in ("declined", "failed", "settlement_declined")
            else None
        ),
        "created_by": payment.created_by,
        "created_at": as_utc(payment.created_at).isoformat(),  # type: ignore[union-attr]
        "updated_at": as_utc(payment.updated_at).isoformat(),  # type: ignore[union-attr]
    }
    if link is not None:
        view["pay_link"] = {
            "expires_at": as_utc(link.expires_at).isoformat(),  # type: ignore[union-attr]
            "attempts_left": max(0, link.max_attempts - link.failed_attempts),
            "state": link_state(ctx, link, payment),
        }
    return view


def link_state(ctx: Context, link: PayLink, payment: Payment) -> str:
    if link.cancelled_at is not None or payment.status == PaymentStatus.CANCELLED.value:
        return "cancelled"
    if link.used_at is not None or payment.status in SUCCESSFUL:
        return "used"
    if payment.status in IN_DOUBT:
        return "processing"
    if link.failed_attempts >= link.max_attempts:
        return "locked"
    if as_utc(link.expires_at) <= ctx.now() or payment.status == PaymentStatus.EXPIRED.value:  # type: ignore[operator]
        return "expired"
    return "open"
