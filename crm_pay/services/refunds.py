"""Refunds and voids: money back to the customer's card, recorded like a charge.

Same discipline as charging: the request is recorded (event ``refund_requested``) before
the PSP call; the PSP call carries an ``api_request_key`` derived from the caller's
Idempotency-Key, so a retry after a timeout returns the PSP's first answer instead of a
second refund; the result is applied under the payment's row lock, with the ledger
entries, a refund receipt and the CRM messages in one transaction.

What happens at the PSP follows the PSP's state of the sale, not ours (reliability rule 8):
the sale is found first and its settlement applied; while Braintree can void it
(authorized, submitted for settlement) it is voided, in full only; once it is settling or
settled it is refunded, fully or partly. A void refused because the batch settled the
sale meanwhile falls through to a refund under the same idempotency key. A refund the
card's bank declines is recorded (``refund_failed``) and answered in plain words; nothing
is booked. Agents may refund up to ``CRM_PAY_AGENT_REFUND_LIMIT``; above that it takes a
supervisor: with ``agent_limit`` given, an agent's refund above it raises
:class:`ApprovalNeeded` before anything is recorded (:mod:`.approval_refunds` turns it
into a four-eyes approval request and calls this once a supervisor approves it, under the
approval's own idempotency scope).

A refund may carry a ``reason`` (free text, screened for card numbers): it is kept on the
``refund_requested`` event, in the audit entry and in the CRM timeline note.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from crm_pay.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import PspTxnStatus, SaleOutcome
from vault import pan

from . import audit, idempotency, inbound
from .access import Principal, has_role
from .context import Context
from .customers import load_ledger, persist_entries
from .notifications import share_receipt
from .payment_records import add_event, crm_sync_messages, crm_timeline_note, transition
from .psp_outcome import publish_status
from .receipts import issue_receipt
from .settlement import refresh_from_psp
from .views import payment_view

__all__ = [
    "ApprovalNeeded",
    "refund_payment",
    "refund_request_key",
    "clean_reason",
    "REASON_MAX_LENGTH",
]

log = logging.getLogger("crm_pay.refunds")

_UNSETTLED = (PaymentStatus.AUTHORIZED.value, PaymentStatus.SUBMITTED_FOR_SETTLEMENT.value)
# What Braintree can do with a sale in each state (Braintree docs: "Void" applies to
# authorized and submitted_for_settlement; "Refund" to settling and settled).
_PSP_VOIDABLE = (PspTxnStatus.AUTHORIZED, PspTxnStatus.SUBMITTED_FOR_SETTLEMENT)
_PSP_REFUNDABLE = (PspTxnStatus.SETTLING, PspTxnStatus.SETTLED)
_MAX_REQUEST_KEY = 255
REASON_MAX_LENGTH = 500


class ApprovalNeeded(Forbidden):
    """The one agent-limit rule: an agent's refund of ``amount`` is above ``limit`` (the
    agent limit in the payment's currency), so it needs a supervisor. Raised before
    anything is recorded or sent; :func:`crm_pay.services.approval_refunds.refund_or_request`
    turns it into an approval request."""

    code = "approval_needed"

    def __init__(self, amount: Money, limit: Money) -> None:
        super().__init__(
            f"refunds above {limit.format()} need a supervisor's approval; nothing was "
            "refunded. Send it with a reason and it is asked for"
        )
        self.amount = amount
        self.limit = limit


def clean_reason(reason: str | None, *, required: bool = False, what: str = "reason") -> str:
    """A free-text reason as it is kept: trimmed, at most :data:`REASON_MAX_LENGTH`
    characters, card numbers redacted (every free-text field passes the PAN
    detector). ``required``: a blank reason is refused."""
    text = (reason or "").strip()
    if required and not text:
        raise ValidationError(f"say why: a {what} is required", code=f"{what}_required")
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationError(
            f"the {what} is {len(text)} characters long; keep it to {REASON_MAX_LENGTH}",
            code=f"{what}_too_long",
        )
    return pan.redact(text)


def refund_payment(
    ctx: Context,
    payment_id: str,
    *,
    amount: str | None,
    principal: Principal,
    idempotency_key: str,
    request_hash: str,
    agent_limit: str | None = None,
    reason: str = "",
    idempotency_scope: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Refund ``amount`` (default: all that is left) of a payment, or void it while it is
    unsettled. Returns ``(view, created)``; a retried request returns the first result.

    ``idempotency_scope`` replaces the caller's own scope (``refund:<kind>:<id>``): an
    approved request refunds under ``approval:<id>``, whoever retries it."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    reason = clean_reason(reason)
    scope = idempotency_scope or f"refund:{principal.kind}:{principal.id}"
    with ctx.db.transaction() as s:
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:
            idempotency.check_same_request(record, request_hash)
            if record.response_status is not None:
                payment = s.get(Payment, payment_id)
                assert payment is not None
                return payment_view(s, ctx, payment), False
        found = s.get(Payment, payment_id)
        if found is None:
            raise NotFound(f"no payment {payment_id!r}")
        if found.channel == "manual":
            raise Conflict(
                "this payment was taken outside the payment provider (a manual payment), so "
                "nothing can go back to a card; give the money back the way it came and "
                "record it as an adjustment. Nothing was refunded",
                code="manual_payment_not_refundable",
            )
    # The PSP's state decides between void and refund: ask it first (no transaction open),
    # applying a settlement (or settlement decline, or void) that happened since our last look.
    try:
        psp_sale = refresh_from_psp(ctx, payment_id, apply_voids=False)
    except PspUnavailable:
        raise PspUnavailable(
            "the payment provider did not answer; nothing was refunded. Try again in a moment"
        ) from None
    with ctx.db.transaction() as s:
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
        wanted = Money.parse(amount, payment.currency) if amount is not None else left
        if not wanted.is_positive():
            raise ValidationError("a refund must be more than zero")
        if wanted > left:
            raise ValidationError(f"at most {left.format()} can be refunded on this payment")
        void = (
            # VOIDED here: a void we asked for earlier went through (its answer was lost);
            # voiding again is refused and the flow below books the first void.
            psp_sale.status in (*_PSP_VOIDABLE, PspTxnStatus.VOIDED)
            if psp_sale is not None
            else payment.status in _UNSETTLED
        )
        if void and wanted != Money(payment.amount_minor, payment.currency):
            raise ValidationError(
                "this payment has not settled yet: it can only be voided in full; partial "
                "refunds are possible once it has settled",
                code="void_in_full",
            )
        limit = Money.parse(agent_limit, payment.currency) if agent_limit is not None else None
        if limit is not None and not has_role(principal, "supervisor") and wanted > limit:
            raise ApprovalNeeded(wanted, limit)  # nothing claimed, recorded or sent
        record = idempotency.find_record(s, scope, idempotency_key)
        if record is not None:
            idempotency.check_same_request(record, request_hash)
            if record.response_status is not None:
                return payment_view(s, ctx, payment), False  # a concurrent retry finished it
        else:
            idempotency.claim(
                s,
                scope=scope,
                key=idempotency_key,
                request_hash=request_hash,
                payment_id=payment.id,
                now=ctx.now(),
            )
        add_event(
            s,
            ctx,
            payment,
            EventKind.REFUND_REQUESTED,
            amount=wanted,
            detail={"void": str(void), "by": principal.actor, "reason": reason},
        )
        psp_txn = payment.psp_transaction_id
        assert psp_txn is not None
    request_key = refund_request_key(payment_id, scope, idempotency_key)
    try:
        outcome = (
            ctx.psp.void(psp_txn)
            if void
            else ctx.psp.refund(psp_txn, wanted, request_key=request_key)
        )
        if void and not outcome.approved:
            # Refused: either a void that timed out earlier went through (the retry's
            # "cannot void" means "already voided"), or the batch settled the sale since
            # we looked (Braintree 91504): then it is refunded instead, same key.
            found = ctx.psp.find(psp_txn)
            if found is not None and found.status is PspTxnStatus.VOIDED:
                outcome = SaleOutcome(approved=True, transaction=found)
            elif found is not None and found.status in _PSP_REFUNDABLE:
                void = False
                outcome = ctx.psp.refund(psp_txn, wanted, request_key=request_key)
    except PspUnavailable as exc:
        log.warning("refund of %s: PSP outcome unknown (%s)", payment_id, exc)
        raise PspUnavailable(
            "the payment provider did not answer; retry with the same "
            "Idempotency-Key: it will not refund twice"
        ) from None
    refused = False
    decline_code = ""
    decline_words = ""
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        rec = idempotency.find_record(s, scope, idempotency_key)
        assert rec is not None  # claimed above, in a transaction that committed
        if not outcome.approved:
            decline_code = outcome.decline.code if outcome.decline else ""
            # words from our category (e.g. "The card has expired."), never the PSP's
            decline_words = outcome.decline.advice().message if outcome.decline else ""
            add_event(
                s,
                ctx,
                payment,
                EventKind.REFUND_FAILED,
                amount=wanted,
                detail={"code": decline_code, "void": str(void)},
            )
            refused = True  # the event commits with this transaction; the error follows
        elif rec.response_status is None:
            _apply(
                s, ctx, payment, wanted, outcome, void=void, actor=principal.actor, reason=reason
            )
            rec.response_status = 200
        view = payment_view(s, ctx, payment)
    if refused:
        raise Conflict(_refused_words(void, decline_words), code="refund_refused")
    publish_status(ctx, payment_id)
    return view, True


def _apply(
    s: Any,
    ctx: Context,
    payment: Payment,
    amount: Money,
    outcome: Any,
    *,
    void: bool,
    actor: str,
    reason: str = "",
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
        data={
            "amount": amount.to_decimal_str(),
            "reference": ref or "",
            "receipt": receipt.number,
            "reason": reason,
        },
    )
    crm_sync_messages(s, ctx, payment, customer, f"refund:{ref}")
    crm_timeline_note(
        s,
        ctx,
        customer,
        key=f"refund:{ref}",
        text=f"{'Void' if void else 'Refund'} of {amount.format()} on payment "
        f"{payment.id} (receipt {receipt.number})." + (f" Reason: {reason}" if reason else ""),
    )
    share_receipt(s, ctx, receipt_row=receipt, customer=customer)


def refund_request_key(payment_id: str, scope: str, idempotency_key: str) -> str:
    """The ``api_request_key`` of a refund: deterministic per (payment, caller, key), so a
    retry is answered with the first refund. Braintree refuses keys over 255 characters
    (error 915230); a longer one is replaced by its SHA-256, still deterministic."""
    key = f"{payment_id}:refund:{scope}:{idempotency_key}"
    if len(key) <= _MAX_REQUEST_KEY:
        return key
    digest = hashlib.sha256(f"{scope}:{idempotency_key}".encode()).hexdigest()
    return f"{payment_id}:refund:sha256:{digest}"


def _refused_words(void: bool, reason: str) -> str:
    what = "void" if void else "refund"
    return (
        f"the payment provider refused the {what}; nothing was refunded. "
        + (f"{reason} " if reason else "")
        + "Try again later, or give the money back another way and record it."
    )
