"""Fraud screening on the charge path: the rules' decision, and holding a payment.

Layer: between the outcomes (:mod:`.psp_outcome` holds an interrupted screening through
it) and the notifications. Each function works in the caller's transaction, with the
payment locked; none calls the PSP.

How a charge is screened (the sequence is in :mod:`.charging`):

1. **Before the PSP call**, in the transaction that records the attempt: the
   pre-charge rules (velocity per customer, agent and IP; amount limits) are evaluated
   with counts made in SQL over ``payments.charged_at`` (one indexed ``COUNT`` per
   scope and window). ``decline``: the attempt is declined there and then, no PSP call,
   the agent and customer get the "could not be approved" words. ``review``: the sale
   is sent authorize-only. With no rule enabled nothing is counted or written.
2. **After the authorization**, only when a post-auth rule is enabled (AVS/CVV answers,
   the PSP's risk decision, card velocity by fingerprint) or the pre-charge decision was
   ``review``: the sale was authorize-only (``fraud_review = "screening"`` or
   ``"review"``); the authorization's checks are evaluated, then the charge path submits
   it for settlement (accept), holds it (review) or voids it (decline).
3. A **held** payment (status ``held``) is authorized, not captured, not booked: no
   ledger entry, no receipt, no settlement polling. A ``fraud_review`` case opens (one
   per payment), the customer is told the payment is being checked (the in-review
   notice), the agent sees "held". A supervisor releases or declines it
   (:mod:`.fraud_review`).

A process that dies between the authorization and the submit leaves the payment
``processing`` with ``fraud_review`` set: the janitor finds the authorization by its
order id and :mod:`.psp_outcome` holds it (case, "interrupted") instead of booking it,
so nothing authorize-only is ever settled or booked without a decision.

Every decision taken with rules in force is audited (``fraud.decision``: stage, action,
rules version, each reason with its figures). The card fingerprint is not card data,
but only its last 6 characters are shown or audited.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import DeclineCategory
from crm_pay.domain.fraud import (
    Action,
    AuthorizationFacts,
    ChargeFacts,
    Decision,
    Reason,
    Stage,
)
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, Payment
from crm_pay.ports import DeclineInfo, PspTransaction

from . import audit
from .cases import open_case
from .context import Context
from .fraud_rules import RulesInForce
from .notifications import queue_in_review_notice
from .payment_records import add_event, crm_sync_messages, transition

__all__ = [
    "FRAUD_DECLINE",
    "SCREENED",
    "INTERRUPTED",
    "short_fingerprint",
    "screen_before_charge",
    "screen_after_authorization",
    "hold",
]

log = logging.getLogger("crm_pay.fraud")

#: A charge the rules refused: the words of "could not be approved" (another card or
#: another way to pay), the reference kept for support.
FRAUD_DECLINE = DeclineInfo(
    kind="gateway",
    code="fraud_rules",
    category=DeclineCategory.NOT_APPROVED.value,
    reference="screening.declined",
)

#: ``fraud_review`` values of an attempt sent authorize-only whose decision is pending.
SCREENED = frozenset({"screening", "review", "accepted", "declining"})

INTERRUPTED = Reason(
    rule="interrupted",
    action=Action.REVIEW,
    words=(
        "The screening of this payment stopped after the card was authorized (the process "
        "ended or the PSP did not answer); nothing was submitted for settlement."
    ),
)


def short_fingerprint(fingerprint: str | None) -> str:
    """What may be shown of a card fingerprint: its last 6 characters."""
    return f"…{fingerprint[-6:]}" if fingerprint else ""


def _count(session: Session, payment: Payment, column: Any, value: Any, since: Any) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(column == value, Payment.charged_at >= since, Payment.id != payment.id)
        )
        or 0
    )


_SCOPE_COLUMNS = {
    "customer": Payment.customer_id,
    "agent": Payment.created_by,
    "ip": Payment.payer_ip,
    "card": Payment.card_fingerprint,
}


def _counts(
    session: Session, ctx: Context, payment: Payment, windows: frozenset[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    values = {
        "customer": payment.customer_id,
        "agent": payment.created_by,
        "ip": payment.payer_ip,
        "card": payment.card_fingerprint,
    }
    counts = {}
    for scope, minutes in sorted(windows):
        value = values[scope]
        if value is None:
            continue  # not known (no IP, no fingerprint): the rule cannot apply
        since = ctx.now() - timedelta(minutes=minutes)
        counts[(scope, minutes)] = _count(session, payment, _SCOPE_COLUMNS[scope], value, since)
    return counts


def _audit(
    session: Session,
    ctx: Context,
    payment: Payment,
    stage: Stage,
    decision: Decision,
    version: int,
) -> None:
    audit.record(
        session,
        ctx,
        actor="fraud_rules",
        action="fraud.decision",
        subject=payment.id,
        data={
            "stage": stage.value,
            "action": decision.action.value,
            "rules_version": version,
            "attempt": payment.attempt,
            # audit values are flat: each reason (rule, action, words, figures) as JSON
            "reasons": json.dumps([r.to_dict() for r in decision.reasons], sort_keys=True),
        },
    )


def screen_before_charge(
    session: Session, ctx: Context, payment: Payment, rules: RulesInForce, *, customer_ref: str
) -> Decision:
    """The pre-charge decision for the locked ``payment`` whose attempt is being
    recorded (``payer_ip`` and ``charged_at`` already set). Marks the attempt
    authorize-only when it must be screened after the authorization."""
    payment.fraud_review = None
    if not rules.rules.rules:
        return Decision(Action.ACCEPT)
    facts = ChargeFacts(
        amount=Money(payment.amount_minor, payment.currency),
        channel=payment.channel,
        agent=payment.created_by,
        customer=customer_ref,
        ip=payment.payer_ip,
    )
    decision = rules.rules.before_charge(
        facts, _counts(session, ctx, payment, rules.rules.windows(Stage.PRE_CHARGE))
    )
    if decision.action is Action.REVIEW:
        payment.fraud_review = "review"
    elif decision.action is Action.ACCEPT and rules.rules.screens_after_authorization:
        payment.fraud_review = "screening"
    if rules.rules.enabled(Stage.PRE_CHARGE):
        _audit(session, ctx, payment, Stage.PRE_CHARGE, decision, rules.version)
    if decision.action is not Action.ACCEPT:
        log.warning("payment %s: fraud rules say %s", payment.id, decision.action.value)
    return decision


def screen_after_authorization(
    session: Session, ctx: Context, payment: Payment, rules: RulesInForce, txn: PspTransaction
) -> Decision:
    """The post-auth decision for the locked ``payment`` from its authorization ``txn``
    (its fingerprint is remembered on the payment first, so the card's count excludes
    this payment and later ones count it)."""
    checks = txn.checks
    if checks is not None and checks.card_fingerprint:
        payment.card_fingerprint = checks.card_fingerprint
    facts = AuthorizationFacts(
        cvv=checks.cvv if checks else None,
        avs_postal_code=checks.avs_postal_code if checks else None,
        avs_street_address=checks.avs_street_address if checks else None,
        risk_decision=checks.risk_decision if checks else None,
        card_fingerprint=checks.card_fingerprint if checks else None,
    )
    decision = rules.rules.after_authorization(
        facts, _counts(session, ctx, payment, rules.rules.windows(Stage.POST_AUTH))
    )
    if rules.rules.enabled(Stage.POST_AUTH):
        _audit(session, ctx, payment, Stage.POST_AUTH, decision, rules.version)
    return decision


def hold(
    session: Session,
    ctx: Context,
    payment: Payment,
    txn: PspTransaction,
    decision: Decision,
) -> None:
    """Hold the locked ``payment`` (authorized at the PSP as ``txn``, not submitted):
    status ``held``, a ``fraud_review`` case with the reasons, the customer told it is
    being checked, the CRM told its status. Nothing is booked."""
    if payment.status in (PaymentStatus.PROCESSING.value, PaymentStatus.UNKNOWN.value):
        transition(session, ctx, payment, PaymentStatus.HELD)
    payment.psp_transaction_id = txn.id
    payment.fraud_review = "held"
    payment.next_check_at = None
    add_event(
        session,
        ctx,
        payment,
        EventKind.SALE_HELD,
        psp_reference=txn.id,
        detail={"reasons": [r.rule for r in decision.reasons]},
    )
    detail = {
        "reasons": decision.words,
        "rules": ", ".join(r.rule for r in decision.reasons),
        "psp_reference": txn.id,
        "card": short_fingerprint(payment.card_fingerprint),
    }
    open_case(
        session,
        ctx,
        kind="fraud_review",
        subject=payment.id,
        payment_id=payment.id,
        detail=detail,
    )
    audit.record(
        session,
        ctx,
        actor="fraud_rules",
        action="payment.held",
        subject=payment.id,
        data={**detail, "attempt": payment.attempt},
    )
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    crm_sync_messages(session, ctx, payment, customer, f"held:{payment.attempt}")
    if payment.channel in ("link", "ivr"):
        queue_in_review_notice(session, ctx, payment, customer)
    log.warning("payment %s held for a fraud review (%s)", payment.id, detail["rules"])
