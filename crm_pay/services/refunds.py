"""Refunds and voids: money back to the customer's card, recorded like a charge.

Same discipline as charging: the request is recorded (event ``refund_requested``) before
the PSP call; the PSP call carries an ``api_request_key`` derived from the caller's
Idempotency-Key, so a retry after a timeout returns the PSP's first answer instead of a
second refund; the result is applied under the payment's row lock, with the ledger
entries, a refund receipt and the CRM messages in one transaction.

Unsettled payments are voided (Braintree refunds only settled transactions); a partial
amount is refused until settlement. Agents may refund up to ``CRM_PAY_AGENT_REFUND_LIMIT``;
above that it takes a supervisor.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import (
    Conflict,
    Forbidden,
    IdempotencyConflict,
    NotFound,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, IdempotencyRecord, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import PspTxnStatus, SaleOutcome

from . import audit
from .access import Principal, has_role
from .charging import publish_status
from .context import Context
from .customers import load_ledger, persist_entries
from .outbox import enqueue
from .payments import add_event, crm_sync_messages, payment_view, transition
from .receipts import issue_receipt

__all__ = ["refund_payment"]

log = logging.getLogger("crm_pay.refunds")

_UNSETTLED = (PaymentStatus.AUTHORIZED.value, PaymentStatus.SUBMITTED_FOR_SETTLEMENT.value)


def refund_payment(
    ctx: Context,
    payment_id: str,
    *,
    amount: str | None,
    principal: Principal,
    idempotency_key: str,
    request_hash: str,
    agent_limit: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Refund ``amount`` (default: all that is left) of a payment, or void it while it is
    unsettled. Returns ``(view, created)``; a retried request returns the first result."""
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValidationError(
            "an Idempotency-Key header (1-200 characters) is required",
            code="idempotency_key_required",
            status=400,
        )
    scope = f"refund:{principal.kind}:{principal.id}"
    with ctx.db.transaction() as s:
        record = s.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == idempotency_key
            )
        ).first()
        if record is not None:
            if record.request_hash != request_hash:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used with a different request", status=422
                )
            if record.response_status is not None:
                payment = s.get(Payment, payment_id)
                assert payment is not None
                return payment_view(s, ctx, payment), False
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        ledger = load_ledger(s, customer)
        left = (
            ledger.refundable(payment.id)
            if payment.status != "voided"
            else Money.zero(payment.currency)
        )
        if payment.status not in (*_UNSETTLED, PaymentStatus.SETTLED.value) or not left.minor:
            raise Conflict(
                "there is nothing left to refund on this payment", code="nothing_to_refund"
            )
        wanted = Money.parse(amount, payment.currency) if amount else left
        if not wanted.is_positive():
            raise ValidationError("a refund must be more than zero")
        if wanted > left:
            raise ValidationError(f"at most {left.format()} can be refunded on this payment")
        void = payment.status in _UNSETTLED
        if void and wanted != Money(payment.amount_minor, payment.currency):
            raise ValidationError(
                "this payment has not settled yet: it can only be voided in full; partial "
                "refunds are possible once it has settled",
                code="void_in_full",
            )
        limit = Money.parse(agent_limit, payment.currency) if agent_limit is not None else None
        if limit is not None and not has_role(principal, "supervisor") and wanted > limit:
            raise Forbidden(f"refunds above {limit.format()} need a supervisor")
        if record is None:
            s.add(
                IdempotencyRecord(
                    scope=scope,
                    key=idempotency_key,
                    request_hash=request_hash,
                    response_status=None,
                    response_body={"payment_id": payment.id},
                    created_at=ctx.now(),
                )
            )
        add_event(
            s,
            ctx,
            payment,
            EventKind.REFUND_REQUESTED,
            amount=wanted,
            detail={"void": str(void), "by": principal.actor},
        )
        psp_txn = payment.psp_transaction_id
        assert psp_txn is not None
    request_key = f"{payment_id}:refund:{scope}:{idempotency_key}"
    try:
        outcome = (
            ctx.psp.void(psp_txn)
            if void
            else ctx.psp.refund(psp_txn, wanted, request_key=request_key)
        )
    except PspUnavailable as exc:
        log.warning("refund of %s: PSP outcome unknown (%s)", payment_id, exc)
        raise PspUnavailable(
            "the payment provider did not answer; retry with the same "
            "Idempotency-Key: it will not refund twice"
        ) from None
    if void and not outcome.approved:
        # A void that timed out earlier may have gone through: the retry's "cannot void"
        # then means "already voided". Ask the PSP before calling it refused.
        found = ctx.psp.find(psp_txn)
        if found is not None and found.status is PspTxnStatus.VOIDED:
            outcome = SaleOutcome(approved=True, transaction=found)
    refused = False
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        rec = s.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == idempotency_key
            )
        ).one()
        if not outcome.approved:
            add_event(
                s,
                ctx,
                payment,
                EventKind.REFUND_FAILED,
                amount=wanted,
                detail={"code": outcome.decline.code if outcome.decline else ""},
            )
            refused = True  # the event commits with this transaction; the error follows
        elif rec.response_status is None:
            _apply(s, ctx, payment, wanted, outcome, void=void, actor=principal.actor)
            rec.response_status = 200
        view = payment_view(s, ctx, payment)
    if refused:
        raise Conflict("the payment provider refused the refund", code="refund_refused")
    publish_status(ctx, payment_id)
    return view, True


def _apply(
    s: Any, ctx: Context, payment: Payment, amount: Money, outcome: Any, *, void: bool, actor: str
) -> None:
    customer = s.get(Customer, payment.customer_id)
    assert customer is not None
    ref = outcome.transaction.id if outcome.transaction is not None else payment.psp_transaction_id
    if void:
        transition(s, ctx, payment, PaymentStatus.VOIDED)
        add_event(s, ctx, payment, EventKind.VOID_SUCCEEDED, amount=amount, psp_reference=ref)
    else:
        add_event(s, ctx, payment, EventKind.REFUND_SUCCEEDED, amount=amount, psp_reference=ref)
    ledger = load_ledger(s, customer)
    persist_entries(
        s,
        customer,
        ledger.record_refund(payment.id, amount, memo=f"{'Void' if void else 'Refund'} {ref}"),
        ctx.now(),
    )
    receipt: ReceiptRow = issue_receipt(
        s,
        ctx,
        payment=payment,
        customer=customer,
        allocations=[],
        credit=Money.zero(payment.currency),
        kind="refund",
        refund_ref=ref or "",
        amount=amount,
    )
    audit.record(
        s,
        ctx,
        actor=actor,
        action="payment.voided" if void else "payment.refunded",
        subject=payment.id,
        data={"amount": amount.to_decimal_str(), "reference": ref or "", "receipt": receipt.number},
    )
    crm_sync_messages(s, ctx, payment, customer, f"refund:{ref}")
    enqueue(
        s,
        topic="crm.timeline_note",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.note:refund:{ref}",
        payload={
            "crm_ref": customer.crm_ref,
            "key": f"refund:{ref}",
            "text": f"{'Void' if void else 'Refund'} of {amount.format()} on payment "
            f"{payment.id} (receipt {receipt.number}).",
        },
        now=ctx.now(),
    )
    enqueue(
        s,
        topic="crm.attach_receipt",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.receipt:{receipt.number}",
        payload={"receipt_number": receipt.number},
        now=ctx.now(),
    )
    from .notifications import queue_receipt_email

    queue_receipt_email(s, ctx, receipt_row=receipt, customer=customer)
