"""Charging: one attempt at the PSP, recorded before the call and applied after it.

Sequence (DESIGN.md rules 1, 3, 6, 7):
1. short transaction, payment row locked: check the link, move to ``processing``,
   bump the attempt, record ``sale_requested`` with our deterministic order id;
2. the PSP call, with no transaction open, idempotent by ``api_request_key``;
3. short transaction, row locked again: apply the outcome. A timeout or 5xx leaves the
   payment ``unknown``, for the janitor; it is never treated as failed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import advise
from crm_pay.domain.errors import (
    Conflict,
    Gone,
    NotFound,
    PspProtocolError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.ledger import plan_allocation
from crm_pay.domain.money import Money
from crm_pay.domain.payment import SUCCESSFUL, EventKind, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, PayLink, Payment
from crm_pay.ports import PspTransaction, PspTxnStatus, SaleOutcome, SaleRequest
from vault import tokens

from . import audit
from .cases import open_case
from .context import Context
from .customers import load_ledger, persist_entries
from .notifications import queue_failure_notice, queue_receipt_email
from .outbox import enqueue
from .payments import (
    IN_DOUBT,
    _open_invoices,
    add_event,
    crm_sync_messages,
    link_state,
    payment_view,
    transition,
)
from .receipts import issue_receipt

__all__ = [
    "find_link",
    "pay_link_view",
    "pay_with_nonce",
    "charge_vaulted",
    "apply_transaction",
    "order_id_for",
    "closed_message",
    "publish_status",
]

log = logging.getLogger("crm_pay.charging")

_STATUS_FOR = {
    PspTxnStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    PspTxnStatus.SUBMITTED_FOR_SETTLEMENT: PaymentStatus.SUBMITTED_FOR_SETTLEMENT,
    PspTxnStatus.SETTLING: PaymentStatus.SUBMITTED_FOR_SETTLEMENT,
    PspTxnStatus.SETTLED: PaymentStatus.SETTLED,
}


def order_id_for(payment_id: str, attempt: int) -> str:
    """Deterministic: the janitor finds an attempt at the PSP by it."""
    return f"{payment_id}-{attempt}"


def _request_key(payment_id: str, attempt: int) -> str:
    return f"{payment_id}:{attempt}"


def find_link(session: Session, ctx: Context, token: str) -> tuple[PayLink, Payment]:
    if not token or len(token) > 200:
        raise NotFound("this payment link is not valid")
    digest = tokens.hash_token(token, pepper=ctx.settings.token_pepper)
    link = session.scalars(select(PayLink).where(PayLink.token_hash == digest)).first()
    if link is None:
        raise NotFound("this payment link is not valid; ask for a new one")
    payment = session.get(Payment, link.payment_id)
    assert payment is not None
    return link, payment


def pay_link_view(ctx: Context, token: str, *, mark_opened: bool = False) -> dict[str, Any]:
    """What the customer's pay page shows: who asks, how much, for what, and the link's state."""
    with ctx.db.transaction() as s:
        link, payment = find_link(s, ctx, token)
        state = link_state(ctx, link, payment)
        expired_now = state == "expired" and payment.status != PaymentStatus.EXPIRED.value
        if expired_now:
            _expire(s, ctx, payment)
        first_open = mark_opened and link.opened_at is None and state == "open"
        if first_open:
            link.opened_at = ctx.now()
        view = payment_view(s, ctx, payment)
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        invoices = {i.ref: i for i in _open_invoices(s, customer)}
        view["customer_name"] = customer.name
        view["merchant"] = ctx.settings.merchant.name
        view["link_state"] = state
        view["invoices"] = [
            {"number": ref, "total": invoices[ref].total.to_decimal_str()}
            for ref in payment.requested_allocations
            if ref in invoices
        ]
    if first_open:
        ctx.publish(payment.id, {"status": payment.status, "link": "opened"})
    if expired_now:
        ctx.publish(payment.id, {"status": PaymentStatus.EXPIRED.value})
    return view


def _expire(session: Session, ctx: Context, payment: Payment) -> None:
    if transition(session, ctx, payment, PaymentStatus.EXPIRED):
        customer = session.get(Customer, payment.customer_id)
        assert customer is not None
        crm_sync_messages(session, ctx, payment, customer, "expired")


_LINK_CLOSED = {
    "cancelled": (
        "link_cancelled",
        "This payment link was cancelled. Please contact us for a new one.",
    ),
    "used": ("link_used", "This payment has already been made. Thank you."),
    "expired": ("link_expired", "This payment link has expired. Please ask us to send a new one."),
    "locked": ("link_locked", "Too many attempts were made with this link. Please contact us."),
    "processing": (
        "payment_processing",
        "Your payment is being confirmed. Please do not pay again.",
    ),
}


def _closed_state(ctx: Context, payment_id: str, token: str) -> str | None:
    """The link's state if it cannot take a payment. An expired link's payment is moved
    to ``expired`` here, in a transaction of its own that commits (the caller raises)."""
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        link, _ = find_link(s, ctx, token)
        state = link_state(ctx, link, payment)
        if state == "open":
            return None
        expired_now = state == "expired" and payment.status != PaymentStatus.EXPIRED.value
        if expired_now:
            _expire(s, ctx, payment)
    if expired_now:
        ctx.publish(payment_id, {"status": PaymentStatus.EXPIRED.value})
    return state


def closed_message(state: str) -> str:
    """Plain words for a link that cannot take a payment, with what to do next."""
    return _LINK_CLOSED.get(state, ("", "This payment link cannot be used."))[1]


def _begin_attempt(ctx: Context, payment_id: str, link_token: str | None) -> SaleRequest:
    closed = _closed_state(ctx, payment_id, link_token) if link_token is not None else None
    if closed is not None:
        code, message = _LINK_CLOSED[closed]
        raise (Conflict if closed == "processing" else Gone)(message, code=code)
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if link_token is not None:
            link, _ = find_link(s, ctx, link_token)
            state = link_state(ctx, link, payment)
            if state != "open":  # changed since the check above: another request won
                code, message = _LINK_CLOSED[state]
                raise (Conflict if state == "processing" else Gone)(message, code=code)
        elif payment.status not in (
            PaymentStatus.CREATED.value,
            PaymentStatus.DECLINED.value,
            PaymentStatus.FAILED.value,
        ):
            raise Conflict(f"payment is {payment.status}; it cannot be charged now")
        transition(s, ctx, payment, PaymentStatus.PROCESSING)
        payment.attempt += 1
        order_id = order_id_for(payment.id, payment.attempt)
        add_event(s, ctx, payment, EventKind.SALE_REQUESTED, detail={"order_id": order_id})
        return SaleRequest(
            amount=Money(payment.amount_minor, payment.currency),
            order_id=order_id,
            request_key=_request_key(payment.id, payment.attempt),
            payment_method_token=payment.payment_method_token if link_token is None else None,
            transaction_source="moto" if payment.channel == "vaulted" else None,
        )


def pay_with_nonce(
    ctx: Context, token: str, nonce: str, device_data: str | None = None
) -> dict[str, Any]:
    """The customer submitted the hosted-fields form: charge the nonce once."""
    if not nonce or len(nonce) > 200:
        raise ValidationError("payment_method_nonce is missing; please enter your card again")
    with ctx.db.transaction() as s:
        _, payment = find_link(s, ctx, token)
        payment_id = payment.id
    request = _begin_attempt(ctx, payment_id, token)
    ctx.publish(payment_id, {"status": PaymentStatus.PROCESSING.value})
    request = SaleRequest(
        amount=request.amount,
        order_id=request.order_id,
        request_key=request.request_key,
        payment_method_nonce=nonce,
        device_data=(device_data or None) and device_data[:4000],
    )
    return _call_and_apply(ctx, payment_id, request)


def charge_vaulted(ctx: Context, payment_id: str) -> dict[str, Any]:
    request = _begin_attempt(ctx, payment_id, None)
    ctx.publish(payment_id, {"status": PaymentStatus.PROCESSING.value})
    return _call_and_apply(ctx, payment_id, request)


def _call_and_apply(ctx: Context, payment_id: str, request: SaleRequest) -> dict[str, Any]:
    try:
        outcome = ctx.psp.sale(request)
    except PspProtocolError as exc:
        _mark_unknown(ctx, payment_id, reason=str(exc), mismatch=True)
    except PspUnavailable as exc:
        _mark_unknown(ctx, payment_id, reason=str(exc))
    else:
        with ctx.db.transaction() as s:
            payment = ctx.db.lock(s, Payment, payment_id)
            assert payment is not None
            apply_outcome(s, ctx, payment, outcome)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, _live(view))
    return view


def publish_status(ctx: Context, payment_id: str) -> None:
    """Push the payment's current status to agents watching it (after a commit made by
    someone other than the customer's request: the janitor, a webhook)."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            return
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, _live(view))


def _live(view: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"status": view["status"]}
    if view.get("receipt_number"):
        event["receipt_number"] = view["receipt_number"]
    if view.get("decline"):
        event["decline"] = view["decline"]
    link = view.get("pay_link") or {}
    if isinstance(link.get("attempts_left"), int):
        # a decline used one attempt: the agent's "Attempts left" must follow
        event["attempts_left"] = link["attempts_left"]
    return event


def _mark_unknown(ctx: Context, payment_id: str, *, reason: str, mismatch: bool = False) -> None:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status != PaymentStatus.PROCESSING.value:
            return  # a webhook or the janitor already applied the real outcome
        transition(s, ctx, payment, PaymentStatus.UNKNOWN)
        payment.next_check_at = ctx.now()
        add_event(s, ctx, payment, EventKind.SALE_UNKNOWN, detail={"reason": reason[:300]})
        if mismatch:
            open_case(
                s,
                ctx,
                kind="amount_mismatch",
                subject=payment.id,
                payment_id=payment.id,
                detail={"reason": reason[:300]},
            )
        log.warning("payment %s outcome unknown: %s", payment.id, reason)


def apply_outcome(session: Session, ctx: Context, payment: Payment, outcome: SaleOutcome) -> None:
    if outcome.approved and outcome.transaction is not None:
        apply_transaction(session, ctx, payment, outcome.transaction)
        return
    decline = outcome.decline
    kind = decline.kind if decline else "unknown"
    code = decline.code if decline else ""
    if outcome.transaction is not None:
        payment.psp_transaction_id = outcome.transaction.id
        _remember_card(payment, outcome.transaction)
    _apply_decline(session, ctx, payment, kind, code)


def _remember_card(payment: Payment, txn: PspTransaction) -> None:
    if txn.card is not None:
        payment.card_brand = txn.card.brand
        payment.card_last4 = txn.card.last4
        if txn.card.exp_month and txn.card.exp_year:
            payment.card_exp = f"{txn.card.exp_month}/{txn.card.exp_year}"


def _apply_decline(session: Session, ctx: Context, payment: Payment, kind: str, code: str) -> None:
    failed = kind == "failed"
    target = PaymentStatus.FAILED if failed else PaymentStatus.DECLINED
    if payment.status == target.value and payment.decline_code == code:
        return
    transition(session, ctx, payment, target)
    advice = advise("processor" if failed else kind, code)
    payment.decline_code = advice.code
    payment.decline_message = advice.message
    payment.decline_next_step = advice.next_step
    add_event(
        session,
        ctx,
        payment,
        EventKind.SALE_FAILED if failed else EventKind.SALE_DECLINED,
        psp_reference=payment.psp_transaction_id,
        detail={"kind": kind, "code": code, "category": advice.category},
    )
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment.id)).first()
    if link is not None:
        link.failed_attempts += 1
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    audit.record(
        session,
        ctx,
        actor="psp",
        action=f"payment.{target.value}",
        subject=payment.id,
        data={"code": advice.code, "attempt": payment.attempt},
    )
    crm_sync_messages(session, ctx, payment, customer, f"{target.value}:{payment.attempt}")
    if payment.channel == "link":
        queue_failure_notice(session, ctx, payment, customer)


def apply_transaction(
    session: Session, ctx: Context, payment: Payment, txn: PspTransaction
) -> None:
    """Apply what the PSP says of a transaction (sale approved, settled, declined...).

    Safe to call again with the same transaction: ledger, receipt and outbox are written
    once, on the first move into a successful status."""
    if txn.amount != Money(payment.amount_minor, payment.currency):
        open_case(
            session,
            ctx,
            kind="amount_mismatch",
            subject=payment.id,
            payment_id=payment.id,
            detail={
                "asked": f"{payment.amount_minor} {payment.currency}",
                "psp": f"{txn.amount.minor} {txn.amount.currency}",
            },
        )
        raise PspProtocolError("the PSP reported a different amount or currency than we asked")
    target = _STATUS_FOR.get(txn.status)
    if target is None:
        if txn.status in (
            PspTxnStatus.PROCESSOR_DECLINED,
            PspTxnStatus.GATEWAY_REJECTED,
            PspTxnStatus.FAILED,
        ):
            if payment.status in IN_DOUBT:
                payment.psp_transaction_id = txn.id
                kind = "failed" if txn.status is PspTxnStatus.FAILED else "processor"
                _apply_decline(session, ctx, payment, kind, txn.processor_response_code or "")
            return
        if txn.status is PspTxnStatus.VOIDED and payment.status in (
            PaymentStatus.AUTHORIZED.value,
            PaymentStatus.SUBMITTED_FOR_SETTLEMENT.value,
            PaymentStatus.UNKNOWN.value,
        ):
            transition(session, ctx, payment, PaymentStatus.VOIDED)
        return
    was_successful = payment.status in SUCCESSFUL
    if was_successful and target.value != PaymentStatus.SETTLED.value:
        return  # already applied; a late "authorized" never moves a settled payment back
    transition(session, ctx, payment, target)
    if was_successful:
        add_event(session, ctx, payment, EventKind.SETTLEMENT_SUCCEEDED, psp_reference=txn.id)
        return
    _record_success(session, ctx, payment, txn)


def _record_success(session: Session, ctx: Context, payment: Payment, txn: PspTransaction) -> None:
    payment.psp_transaction_id = txn.id
    payment.decline_code = payment.decline_message = payment.decline_next_step = None
    _remember_card(payment, txn)
    amount = Money(payment.amount_minor, payment.currency)
    add_event(session, ctx, payment, EventKind.SALE_SUCCEEDED, psp_reference=txn.id)
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    invoices = _open_invoices(session, customer)
    requested = {
        ref: Money(minor, payment.currency) for ref, minor in payment.requested_allocations.items()
    }
    try:
        plan = plan_allocation(amount, invoices, requested or None)
    except Exception:  # noqa: BLE001 - money was taken: never lose it, fall back to oldest due
        log.warning(
            "payment %s: requested allocation no longer fits; allocating oldest due first",
            payment.id,
        )
        plan = plan_allocation(amount, invoices, None)
    now = ctx.now()
    ledger = load_ledger(session, customer)
    persist_entries(
        session,
        customer,
        ledger.record_payment(payment.id, plan, memo=f"Payment {payment.id}"),
        now,
    )
    if plan.credit.is_positive():
        open_case(
            session,
            ctx,
            kind="overpaid",
            subject=payment.id,
            payment_id=payment.id,
            detail={"credit": plan.credit.to_decimal_str()},
        )
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment.id)).first()
    if link is not None and link.used_at is None:
        link.used_at = now
    receipt = issue_receipt(
        session,
        ctx,
        payment=payment,
        customer=customer,
        allocations=[(a.invoice_ref, a.amount) for a in plan.allocations],
        credit=plan.credit,
    )
    audit.record(
        session,
        ctx,
        actor="psp",
        action="payment.succeeded",
        subject=payment.id,
        data={
            "amount": amount.to_decimal_str(),
            "psp_reference": txn.id,
            "receipt": receipt.number,
        },
    )
    crm_sync_messages(session, ctx, payment, customer, "succeeded")
    enqueue(
        session,
        topic="crm.attach_receipt",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.receipt:{receipt.number}",
        payload={"receipt_number": receipt.number},
        now=now,
    )
    queue_receipt_email(session, ctx, receipt_row=receipt, customer=customer)
    log.info("payment %s approved (%s), receipt %s", payment.id, txn.id, receipt.number)


def expires_in_seconds(ctx: Context, link: PayLink) -> int:
    return max(0, int((as_utc(link.expires_at) - ctx.now()).total_seconds()))  # type: ignore[operator]
