"""Applying what the PSP says of a sale: approved, declined, settled, settlement
declined, voided. Shared by the charge itself, the janitor, settlement checks and
webhooks; each caller holds the payment's row lock and no PSP call is made here.

Layer: outcomes (below the use cases that ask the PSP: charging, janitor, settlement,
webhooks, refunds; above the records, receipts and notifications it writes through).

Every move is written once: the ledger, receipt and outbox messages on the first move
into a status, nothing on a repeat. An answer that does not fit the payment (another
amount or currency, a second sale) opens a case in the caller's transaction and changes
nothing else, so the case commits with it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from crm_pay.domain.fraud import Action, Decision
from crm_pay.domain.ledger import LedgerEntry, plan_allocation
from crm_pay.domain.money import Money
from crm_pay.domain.payment import SUCCESSFUL, EventKind, PaymentStatus
from crm_pay.domain.reconciliation import MONEY_MOVING
from crm_pay.persistence.models import Customer, Payment
from crm_pay.ports import DeclineInfo, PspTransaction, PspTxnStatus, SaleOutcome

from . import audit, partial_cases
from .cases import open_case
from .context import Context
from .customers import load_ledger, load_ledger_and_invoices, persist_entries
from .fraud_screening import INTERRUPTED, SCREENED, hold
from .live_status import event_from_rows, event_from_view
from .notifications import queue_failure_notice, share_receipt
from .pay_links import link_of
from .payment_records import IN_DOUBT, add_event, crm_sync_messages, crm_timeline_note, transition
from .receipts import issue_receipt
from .saved_cards import keep_saved_card

__all__ = [
    "apply_outcome",
    "apply_transaction",
    "apply_decline",
    "publish_status",
    "live_event",
    "remember_card",
]

log = logging.getLogger("crm_pay.psp_outcome")

_STATUS_FOR = {
    PspTxnStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    PspTxnStatus.SUBMITTED_FOR_SETTLEMENT: PaymentStatus.SUBMITTED_FOR_SETTLEMENT,
    PspTxnStatus.SETTLING: PaymentStatus.SUBMITTED_FOR_SETTLEMENT,
    PspTxnStatus.SETTLED: PaymentStatus.SETTLED,
}


def publish_status(ctx: Context, payment_id: str) -> None:
    """Push the payment's current status to agents watching it (after a commit made by
    someone other than the customer's request: the janitor, a webhook)."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            return
        event = event_from_rows(s, payment)
    ctx.publish(payment_id, event)


def live_event(view: dict[str, Any]) -> dict[str, Any]:
    """The ``payment_status`` event for a payment view (the one builder is
    :func:`crm_pay.services.live_status.status_event`); a decline used one attempt, so
    the agent's "Attempts left" follows."""
    return event_from_view(view)


def apply_outcome(session: Session, ctx: Context, payment: Payment, outcome: SaleOutcome) -> None:
    if outcome.approved and outcome.transaction is not None:
        apply_transaction(session, ctx, payment, outcome.transaction)
        return
    decline = outcome.decline or DeclineInfo(kind="unknown", code="")
    if outcome.transaction is not None:
        payment.psp_transaction_id = outcome.transaction.id
        remember_card(payment, outcome.transaction)
    else:
        # Refused before a transaction existed (e.g. a nonce Braintree does not know):
        # no card was read, so the previous attempt's card must not be shown with it.
        payment.card_brand = payment.card_last4 = payment.card_exp = None
        payment.wallet = payment.wallet_account = None
    apply_decline(session, ctx, payment, decline)


def remember_card(payment: Payment, txn: PspTransaction) -> None:
    """Keep what may be shown of the transaction's card (brand, last 4, expiry) and the
    PSP's card fingerprint (for the fraud rules' card velocity) on the payment."""
    if txn.checks is not None and txn.checks.card_fingerprint:
        payment.card_fingerprint = txn.checks.card_fingerprint
    if txn.card is not None:
        payment.card_brand = txn.card.brand
        payment.card_last4 = txn.card.last4
        # the wallet it came through, and the account as the adapter masked it
        payment.wallet, payment.wallet_account = txn.card.wallet, txn.card.account
        if txn.card.exp_month and txn.card.exp_year:
            payment.card_exp = f"{txn.card.exp_month}/{txn.card.exp_year}"
    # what the bank's 3-D Secure check of this attempt gave (None: no check ran)
    check = txn.three_d_secure
    payment.three_d_secure_status = check.status if check else None
    payment.three_d_secure_liability_shifted = check.liability_shifted if check else None


def apply_decline(session: Session, ctx: Context, payment: Payment, decline: DeclineInfo) -> None:
    """The PSP said no (``decline`` as the adapter classified it): words from our
    category, the PSP's code kept only as its safe reference."""
    failed = decline.kind == "failed"
    target = PaymentStatus.FAILED if failed else PaymentStatus.DECLINED
    advice = decline.advice()
    if payment.status == target.value and payment.decline_code == advice.code:
        return
    # A new decline code with the status unchanged is still a change: transition() only
    # moves updated_at on a status move, and the dashboard's pass picks up by updated_at.
    if not transition(session, ctx, payment, target):
        payment.updated_at = ctx.now()
    payment.decline_code = advice.code
    payment.decline_category = advice.category
    payment.decline_message = advice.message
    payment.decline_next_step = advice.next_step
    add_event(
        session,
        ctx,
        payment,
        EventKind.SALE_FAILED if failed else EventKind.SALE_DECLINED,
        psp_reference=payment.psp_transaction_id,
        detail={"kind": decline.kind, "code": decline.code, "category": advice.category},
    )
    link = link_of(session, payment.id)
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
) -> bool:
    """Apply what the PSP says of the sale behind ``payment`` (approved, settled,
    settlement declined, voided, declined...).

    Safe to call again with the same transaction: ledger, receipt and outbox are written
    once, on the first move into a status. Returns False when the PSP's answer does not
    fit the payment (another amount or currency, a second sale): a case is opened in the
    caller's transaction, which must commit it, and nothing else changes."""
    if txn.kind != "sale":
        # A refund's credit transaction carries the sale's order id; it is booked by the
        # refund itself, never mistaken for the sale (its amount differs by design).
        log.info("payment %s: %s transaction %s is not the sale", payment.id, txn.kind, txn.id)
        return True
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
                "psp_reference": txn.id,
            },
        )
        log.error("payment %s: the PSP reports another amount or currency (%s)", payment.id, txn.id)
        return False
    booked = payment.status in SUCCESSFUL or payment.status == PaymentStatus.SETTLEMENT_DECLINED
    if booked and payment.psp_transaction_id and txn.id != payment.psp_transaction_id:
        if txn.status.value in MONEY_MOVING:
            open_case(
                session,
                ctx,
                kind="duplicate_charge",
                subject=f"{payment.id}:{txn.id}",
                payment_id=payment.id,
                detail={"booked": payment.psp_transaction_id, "also_at_psp": txn.id},
            )
            log.error("payment %s: a second sale %s at the PSP", payment.id, txn.id)
        return False
    if txn.status is PspTxnStatus.SETTLEMENT_DECLINED:
        if payment.status == PaymentStatus.SETTLED.value:
            # We saw it settled; the PSP now says declined. Two truths: a person decides.
            open_case(
                session,
                ctx,
                kind="status_mismatch",
                subject=payment.id,
                payment_id=payment.id,
                detail={"ours": payment.status, "psp": txn.status.value, "psp_reference": txn.id},
            )
            return False
        _apply_settlement_decline(session, ctx, payment, txn)
        return True
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
                apply_decline(session, ctx, payment, txn.decline or DeclineInfo(kind, ""))
            return True
        if txn.status is PspTxnStatus.VOIDED and payment.status in (
            PaymentStatus.AUTHORIZED.value,
            PaymentStatus.SUBMITTED_FOR_SETTLEMENT.value,
            PaymentStatus.UNKNOWN.value,
        ):
            # Voided at the PSP by someone else (control panel): the money never moved.
            if payment.status in SUCCESSFUL:
                _book_void(session, ctx, payment, txn)
            transition(session, ctx, payment, PaymentStatus.VOIDED)
            # A card the customer saved with it stays on file, as after a void made in
            # crm-pay (refunds): the sale went through and was taken back, the consent
            # stands. Only an authorization that crm-pay's rules or a supervisor
            # refused takes its card with it (charging, fraud_review).
        return True
    if payment.status == PaymentStatus.SETTLEMENT_DECLINED.value:
        return True  # final: a stale "settled" read never undoes the reversal
    was_successful = payment.status in SUCCESSFUL
    if was_successful and target.value != PaymentStatus.SETTLED.value:
        return True  # already applied; a late "authorized" never moves a settled payment back
    if target is PaymentStatus.AUTHORIZED and (
        payment.status == PaymentStatus.HELD.value
        or (payment.fraud_review in SCREENED and payment.status in IN_DOUBT)
    ):
        # An authorize-only attempt: held until a person decides, never booked. One
        # whose screening never finished (the janitor found it) is held now, with a case.
        if payment.status != PaymentStatus.HELD.value:
            remember_card(payment, txn)
            hold(session, ctx, payment, txn, Decision(Action.REVIEW, (INTERRUPTED,)))
        return True
    moved = transition(session, ctx, payment, target)
    if was_successful:
        if moved:
            add_event(session, ctx, payment, EventKind.SETTLEMENT_SUCCEEDED, psp_reference=txn.id)
        return True
    # the card the customer asked to save (a consent recorded with this attempt)
    keep_saved_card(session, ctx, payment, txn)
    _record_success(session, ctx, payment, txn)
    return True


def _book_void(session: Session, ctx: Context, payment: Payment, txn: PspTransaction) -> None:
    """A booked sale voided at the PSP without us: take it off the ledger."""
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    ledger = load_ledger(session, customer)
    left = ledger.refundable(payment.id)
    entries = (
        ledger.record_refund(payment.id, left, memo=f"Voided at the PSP {txn.id}")
        if left.is_positive()
        else []
    )
    persist_entries(session, customer, entries, ctx.now())
    amount = _sum(entries, payment.currency)
    add_event(session, ctx, payment, EventKind.VOID_SUCCEEDED, amount=amount, psp_reference=txn.id)
    open_case(
        session,
        ctx,
        kind="status_mismatch",
        subject=payment.id,
        payment_id=payment.id,
        detail={"reason": "voided at the PSP outside crm-pay", "psp_reference": txn.id},
    )
    crm_sync_messages(session, ctx, payment, customer, "voided_at_psp", balance_moved=True)


def _amount(payment: Payment) -> Money:
    return Money(payment.amount_minor, payment.currency)


def _sum(entries: list[LedgerEntry], currency: str) -> Money:
    total = Money.zero(currency)
    for entry in entries:
        total += entry.amount
    return total


def _apply_settlement_decline(
    session: Session, ctx: Context, payment: Payment, txn: PspTransaction
) -> None:
    """The PSP's settlement batch declined the sale: the money never arrived.

    Exactly once (the status is final): the ledger entry is reversed so the balance is as
    if the payment had never happened, a numbered reversal receipt is issued and sent
    (it tells the customer what happened and what to do), the CRM is updated and a
    ``settlement_declined`` case opens for a person."""
    if payment.status == PaymentStatus.SETTLEMENT_DECLINED.value:
        return
    was_booked = payment.status in SUCCESSFUL
    if payment.status == PaymentStatus.PROCESSING.value:
        transition(session, ctx, payment, PaymentStatus.UNKNOWN)
    transition(session, ctx, payment, PaymentStatus.SETTLEMENT_DECLINED)
    payment.psp_transaction_id = txn.id
    remember_card(payment, txn)
    advice = (txn.decline or DeclineInfo(kind="settlement", code="")).advice()
    payment.decline_code = advice.code
    payment.decline_category = advice.category
    payment.decline_message = advice.message
    payment.decline_next_step = advice.next_step
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    reversed_amount = Money.zero(payment.currency)
    receipt_number = None
    if was_booked:
        ledger = load_ledger(session, customer)
        entries = ledger.record_settlement_reversal(
            payment.id, memo=f"Settlement declined {txn.id}"
        )
        persist_entries(session, customer, entries, ctx.now())
        reversed_amount = _sum(entries, payment.currency)
        add_event(
            session,
            ctx,
            payment,
            EventKind.SETTLEMENT_DECLINED,
            amount=reversed_amount,
            psp_reference=txn.id,
        )
        if reversed_amount.is_positive():
            receipt = issue_receipt(
                session,
                ctx,
                payment=payment,
                customer=customer,
                allocations=[],
                credit=Money.zero(payment.currency),
                kind="reversal",
                refund_ref=txn.id,
                amount=reversed_amount,
            )
            receipt_number = receipt.number
            share_receipt(session, ctx, receipt_row=receipt, customer=customer)
    else:
        # Never booked (we learnt of the sale only now): nothing to reverse.
        add_event(
            session,
            ctx,
            payment,
            EventKind.SALE_FAILED,
            psp_reference=txn.id,
            detail={"reason": "settlement_declined"},
        )
    open_case(
        session,
        ctx,
        kind="settlement_declined",
        subject=payment.id,
        payment_id=payment.id,
        detail={
            "psp_reference": txn.id,
            "reversed": reversed_amount.to_decimal_str(),
            "receipt": receipt_number or "",
        },
    )
    audit.record(
        session,
        ctx,
        actor="psp",
        action="payment.settlement_declined",
        subject=payment.id,
        data={"psp_reference": txn.id, "reversed": reversed_amount.to_decimal_str()},
    )
    crm_sync_messages(session, ctx, payment, customer, "settlement_declined", balance_moved=True)
    crm_timeline_note(
        session,
        ctx,
        customer,
        key=f"settlement_declined:{payment.id}",
        text=f"Payment {payment.id} of {_amount(payment).format()} was declined at "
        f"settlement by the bank (PSP reference {txn.id}); {reversed_amount.format()} is "
        "owed again" + (f" (reversal {receipt_number})." if receipt_number else "."),
    )
    log.warning("payment %s: settlement declined (%s)", payment.id, txn.id)


def _record_success(session: Session, ctx: Context, payment: Payment, txn: PspTransaction) -> None:
    payment.psp_transaction_id = txn.id
    payment.decline_code = payment.decline_message = payment.decline_next_step = None
    payment.decline_category = None
    remember_card(payment, txn)
    amount = Money(payment.amount_minor, payment.currency)
    add_event(session, ctx, payment, EventKind.SALE_SUCCEEDED, psp_reference=txn.id)
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    # Read once, with the invoices: plans the allocation, books it, and the booked
    # invoices' lines go on the receipt.
    ledger, invoices_by_ref = load_ledger_and_invoices(session, customer)
    invoices = ledger.open_invoices()
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
    # a payment for named invoices that left one owed opens a partial case; one that
    # paid the rest ends it (from the ledger in memory: no statement unless one does)
    partial_cases.after_allocation(session, ctx, payment, before=invoices, ledger=ledger)
    link = link_of(session, payment.id)
    if link is not None and link.used_at is None:
        link.used_at = now
    receipt = issue_receipt(
        session,
        ctx,
        payment=payment,
        customer=customer,
        allocations=[(a.invoice_ref, a.amount) for a in plan.allocations],
        credit=plan.credit,
        # _record_success runs once per payment: only when it first succeeds, under
        # its lock (apply_transaction returns before it for one already successful).
        first_of_kind=True,
        invoices_by_ref=invoices_by_ref,
        ledger=ledger,
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
    share_receipt(session, ctx, receipt_row=receipt, customer=customer)
    log.info("payment %s approved (%s), receipt %s", payment.id, txn.id, receipt.number)
