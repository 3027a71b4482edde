"""Charging: one attempt at the PSP, recorded before the call and applied after it.

Layer: use case (the customer's pay-page charge and the vaulted charge). It applies the
PSP's answer through :mod:`.psp_outcome`, the code the janitor and webhooks share; links
come from :mod:`.pay_links`, records from :mod:`.payment_records`.

Sequence (reliability rules 1, 3, 6, 7 in docs/architecture.md):
1. short transaction, payment row locked: check the link, move to ``processing``,
   bump the attempt, record ``sale_requested`` with our deterministic order id;
2. the PSP call, with no transaction open, idempotent by ``api_request_key``;
3. short transaction, row locked again: apply the outcome. A timeout or 5xx leaves the
   payment ``unknown``, for the janitor; it is never treated as failed.

Fraud rules (:mod:`.fraud_screening`, none by default) join in at steps 1 and 3: the
pre-charge decision is taken in step 1's transaction (``decline``: the attempt is
declined there, the PSP is never called); an attempt to be screened after its
authorization is sent authorize-only, and step 3 evaluates the authorization, then
either holds the payment (review, one transaction) or makes one more PSP call with no
transaction open (accept: submit for settlement; decline: void) and applies its answer
in a last short transaction. With no rule in force the sale is the one call it was.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.declines import DeclineCategory
from crm_pay.domain.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    PspProtocolError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.fraud import Action, Decision, Reason, combine
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, PayLink, Payment, PaymentEventRow
from crm_pay.ports import DeclineInfo, PspTransaction, PspTxnStatus, SaleOutcome, SaleRequest
from vault import pan

from .cases import open_case
from .context import Context
from .fraud_rules import RulesInForce, rules_in_force
from .fraud_screening import FRAUD_DECLINE, hold, screen_after_authorization, screen_before_charge
from .pay_links import (
    closed_link_error,
    expire_if_due,
    find_link_locked,
    publish_expired,
    remember_link,
)
from .payment_records import (
    add_event,
    order_id_for,
    remember_events,
    require_psp_currency,
    transition,
)
from .psp_outcome import apply_decline, apply_outcome, live_event, remember_card
from .saved_cards import SaveCardConsent, forget_vaulted_card, record_consent
from .views import payment_view

__all__ = ["pay_with_nonce", "charge_vaulted"]

log = logging.getLogger("crm_pay.charging")


def _request_key(payment_id: str, attempt: int) -> str:
    return f"{payment_id}:{attempt}"


# What step 1 hands on: the sale to send (None: the fraud rules declined the attempt,
# nothing is sent) and the pre-charge decision.
_Attempt = tuple[SaleRequest | None, Decision]


def _begin_link_attempt(
    ctx: Context,
    token: str,
    rules: RulesInForce,
    ip: str | None,
    save_card: SaveCardConsent | None = None,
) -> tuple[str, _Attempt]:
    """Step 1 for a pay link, in one transaction: find the link, refuse a currency the
    PSP cannot take, lock the payment, check the link is open, record the attempt.

    A link found closed raises after the block, so that a link found past its expiry
    still commits its payment's move to ``expired`` (nothing else is written then).
    Returns ``(payment id, sale request)``."""
    closed: str | None = None
    with ctx.db.transaction() as s:
        # The payment locked and the link read after the lock (one statement on SQLite).
        link, payment = find_link_locked(s, ctx, token)
        require_psp_currency(ctx, payment.currency)  # raises before anything is written
        state, expired_now = expire_if_due(s, ctx, link, payment)
        if state == "open":
            attempt = _record_attempt(s, ctx, payment, vaulted=False, rules=rules, ip=ip)
            if save_card is not None and attempt[0] is not None:
                # the customer's consent, kept with the attempt before the PSP is called
                record_consent(s, ctx, payment, save_card, pay_link_id=link.id)
        else:
            closed = state
    if closed is not None:
        if expired_now:
            publish_expired(ctx, payment.id)
        raise closed_link_error(closed)
    return payment.id, attempt


def _begin_attempt(ctx: Context, payment_id: str, rules: RulesInForce, ip: str | None) -> _Attempt:
    """Step 1 for a vaulted charge: lock the payment, check it can be charged, record
    the attempt."""
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if payment.status not in (
            PaymentStatus.CREATED.value,
            PaymentStatus.DECLINED.value,
            PaymentStatus.FAILED.value,
        ):
            raise Conflict(f"payment is {payment.status}; it cannot be charged now")
        return _record_attempt(s, ctx, payment, vaulted=True, rules=rules, ip=ip)


def _record_attempt(
    s: Session,
    ctx: Context,
    payment: Payment,
    *,
    vaulted: bool,
    rules: RulesInForce,
    ip: str | None,
) -> _Attempt:
    """Move the locked payment to ``processing`` with a new attempt number and its
    ``sale_requested`` event (committed before the PSP is called: reliability rule 1),
    and take the fraud rules' pre-charge decision (a decline ends the attempt here)."""
    transition(s, ctx, payment, PaymentStatus.PROCESSING)
    payment.attempt += 1
    payment.in_doubt_since = None  # a new attempt: the window starts when it is in doubt
    payment.janitor_checks = 0
    payment.charged_at = ctx.now()
    payment.payer_ip = (ip or None) and ip[:45]
    order_id = order_id_for(payment.id, payment.attempt)
    add_event(s, ctx, payment, EventKind.SALE_REQUESTED, detail={"order_id": order_id})
    decision = screen_before_charge(s, ctx, payment, rules, customer_ref=str(payment.customer_id))
    if decision.action is Action.DECLINE:
        apply_decline(s, ctx, payment, FRAUD_DECLINE)
        return None, decision
    request = SaleRequest(
        amount=Money(payment.amount_minor, payment.currency),
        order_id=order_id,
        request_key=_request_key(payment.id, payment.attempt),
        payment_method_token=payment.payment_method_token if vaulted else None,
        # taken by the agent (card on file, keypad): a telephone order, outside SCA
        transaction_source="moto" if payment.channel in ("vaulted", "ivr") else None,
        # authorize only when a decision is still to come after the authorization
        submit_for_settlement=payment.fraud_review is None,
    )
    return request, decision


# Braintree nonces are UUIDs or "tokencc_..." handles and the SDK's test nonces are at
# most 75 characters (braintree_python braintree/test/nonces.py), all of letters, digits,
# "-" and "_". A hosted-fields dataCollector's device_data is a short JSON text.
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_DEVICE_DATA_MAX = 4000


def _bad_input(message: str, code: str) -> ValidationError:
    # 400: the request itself is malformed (not a page our form would post).
    return ValidationError(message, code=code, status=400)


def pay_with_nonce(
    ctx: Context,
    token: str,
    nonce: object,
    device_data: object = None,
    *,
    ip: str | None = None,
    save_card: SaveCardConsent | None = None,
) -> dict[str, Any]:
    """The customer submitted the hosted-fields form: charge the nonce once.

    ``nonce`` and ``device_data`` are what the request carried, unchecked: anything but a
    well-formed nonce (and short printable device data) is refused here, before the
    payment, its attempts or its link change. ``ip`` is the customer's address (the
    fraud rules' IP velocity). ``save_card``: the customer ticked "save this card"; the
    PSP keeps it only if the sale succeeds (:mod:`.saved_cards`)."""
    if nonce is None or nonce == "":
        raise ValidationError("payment_method_nonce is missing; please enter your card again")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise _bad_input(
            "payment_method_nonce is not a card nonce from the secure fields; please reload "
            "the page and enter your card again",
            "invalid_payment_method_nonce",
        )
    if device_data is not None and not (
        isinstance(device_data, str)
        and len(device_data) <= _DEVICE_DATA_MAX
        and device_data.isprintable()
        and not pan.contains_pan(device_data)  # forwarded to the PSP: never a card number
    ):
        raise _bad_input(
            f"device_data must be the fraud-tools text (at most {_DEVICE_DATA_MAX} printable "
            "characters); please reload the page",
            "invalid_device_data",
        )
    if not token or not isinstance(token, str):
        raise NotFound("this payment link is not valid")
    rules = rules_in_force(ctx)
    payment_id, (request, decision) = _begin_link_attempt(ctx, token, rules, ip, save_card)
    if request is None:
        return _declined_by_rules(ctx, payment_id)
    ctx.publish(payment_id, {"status": PaymentStatus.PROCESSING.value})
    request = SaleRequest(
        amount=request.amount,
        order_id=request.order_id,
        request_key=request.request_key,
        payment_method_nonce=nonce,
        device_data=(device_data or None) and device_data[:4000],
        submit_for_settlement=request.submit_for_settlement,
        store_in_vault=save_card is not None,
        # the customer's own payment: the merchant's 3-D Secure rule for its currency
        three_d_secure_required=ctx.config.three_d_secure_for(request.amount.currency)
        == "required",
    )
    return _call_and_apply(ctx, payment_id, request, decision, rules)


def charge_vaulted(ctx: Context, payment_id: str, *, ip: str | None = None) -> dict[str, Any]:
    """Charge the card on file of a payment created for it (``ip``: who asked)."""
    rules = rules_in_force(ctx)
    request, decision = _begin_attempt(ctx, payment_id, rules, ip)
    if request is None:
        return _declined_by_rules(ctx, payment_id)
    ctx.publish(payment_id, {"status": PaymentStatus.PROCESSING.value})
    return _call_and_apply(ctx, payment_id, request, decision, rules)


def _declined_by_rules(ctx: Context, payment_id: str) -> dict[str, Any]:
    """The answer to an attempt the fraud rules declined before the PSP was called."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, live_event(view))
    return view


def _lock_with_related(s: Session, ctx: Context, payment_id: str) -> Payment:
    """The payment, locked, with its customer, its pay link and its event log: applying
    the outcome and building the answer need all four. One row per event (a payment has
    a handful: an attempt writes two), each carrying the customer and the link (at most
    one).

    SQLite: one statement, as the transaction already holds the write lock. PostgreSQL:
    the lock first, then the rest in a second statement — a SELECT … FOR UPDATE that had
    to wait returns the locked row as the other writer left it, but the rows it joins as
    they were before (PostgreSQL's READ COMMITTED re-reads only the locked rows), so a
    link or an event that writer changed would be missed."""
    related = (
        select(Payment, Customer, PayLink, PaymentEventRow)
        .join(Customer, Customer.id == Payment.customer_id)
        .outerjoin(PayLink, PayLink.payment_id == Payment.id)
        .outerjoin(PaymentEventRow, PaymentEventRow.payment_id == Payment.id)
        .where(Payment.id == payment_id)
        .order_by(PaymentEventRow.id)
    )
    if ctx.db.is_sqlite:
        rows = s.execute(related).all()
    else:
        ctx.db.lock(s, Payment, payment_id)
        rows = s.execute(related.execution_options(populate_existing=True)).all()
    assert rows
    payment, _customer, link, _event = rows[0]  # the customer stays in the unit of work
    remember_link(s, payment.id, link)
    remember_events(s, payment.id, [event for *_, event in rows if event is not None])
    return payment


def _call_and_apply(
    ctx: Context,
    payment_id: str,
    request: SaleRequest,
    decision: Decision,
    rules: RulesInForce,
) -> dict[str, Any]:
    try:
        outcome = ctx.psp.sale(request)
    except PspProtocolError as exc:
        _mark_unknown(ctx, payment_id, reason=str(exc), mismatch=True)
    except PspUnavailable as exc:
        _mark_unknown(ctx, payment_id, reason=str(exc))
    except (ValidationError, ConfigurationError) as exc:
        # Refused before any money could move: our adapter's own checks, or Braintree
        # refusing our credentials (it authenticates before it processes anything).
        log.error("payment %s: the PSP call was refused unsent: %s", payment_id, exc.message)
        _refused_unsent(ctx, payment_id)
    else:
        # The outcome and the answer from one transaction: the view reads what was just
        # written (rows already in the session are not read again).
        txn = _authorized_only(request, outcome)
        follow_up: str | None = None
        with ctx.db.transaction() as s:
            payment = _lock_with_related(s, ctx, payment_id)
            if txn is not None and payment.status == PaymentStatus.PROCESSING.value:
                follow_up = _decide(s, ctx, payment, txn, decision, rules)
            else:
                apply_outcome(s, ctx, payment, outcome)
            view = payment_view(s, ctx, payment)
        if follow_up is not None:
            assert txn is not None
            view = _finish_screened(ctx, payment_id, txn, submit=follow_up == "submit")
        ctx.publish(payment_id, live_event(view))
        return view
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, live_event(view))
    return view


# The merchant's PSP set-up cannot take the payment (no account for its currency...):
# refused before anything was sent. The reference is the one stored since the first
# release (Braintree's word for it), kept so stored and reported codes do not change.
MERCHANT_SETUP_DECLINE = DeclineInfo(
    kind="gateway",
    code="",
    category=DeclineCategory.MERCHANT_SETUP.value,
    reference="gateway.application_incomplete",
)


def _refused_unsent(ctx: Context, payment_id: str) -> None:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status == PaymentStatus.PROCESSING.value:
            # The merchant's PSP setup cannot take it: "Please contact us" to the customer.
            apply_decline(s, ctx, payment, MERCHANT_SETUP_DECLINE)


def _mark_unknown(ctx: Context, payment_id: str, *, reason: str, mismatch: bool = False) -> None:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status != PaymentStatus.PROCESSING.value:
            return  # a webhook or the janitor already applied the real outcome
        transition(s, ctx, payment, PaymentStatus.UNKNOWN)
        payment.next_check_at = ctx.now()
        payment.in_doubt_since = ctx.now()
        payment.janitor_checks = 0
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


def _authorized_only(request: SaleRequest, outcome: SaleOutcome) -> PspTransaction | None:
    """The authorization of an authorize-only sale, waiting for the fraud decision."""
    txn = outcome.transaction
    if request.submit_for_settlement or not outcome.approved or txn is None:
        return None
    return txn if txn.status is PspTxnStatus.AUTHORIZED else None


def _decide(
    s: Session,
    ctx: Context,
    payment: Payment,
    txn: PspTransaction,
    pre: Decision,
    rules: RulesInForce,
) -> str | None:
    """Step 3 of a screened attempt, under the payment's lock: the post-auth decision.
    Review holds the payment here; accept and decline return the PSP call still to make
    ("submit", "void"), recorded on the payment first, so a crash before it is held by
    the janitor (see :mod:`.fraud_screening`)."""
    payment.psp_transaction_id = txn.id
    remember_card(payment, txn)
    decision = combine(pre, screen_after_authorization(s, ctx, payment, rules, txn))
    if decision.action is Action.REVIEW:
        hold(s, ctx, payment, txn, decision)
        return None
    if decision.action is Action.ACCEPT:
        payment.fraud_review = "accepted"
        return "submit"
    payment.fraud_review = "declining"
    return "void"


_SUBMIT_FAILED = Reason(
    "submit_failed",
    Action.REVIEW,
    "The payment passed the fraud rules but the PSP did not confirm its submission for "
    "settlement; release it to submit it again.",
)
_VOID_FAILED = Reason(
    "void_failed",
    Action.REVIEW,
    "The fraud rules declined this payment but the PSP did not confirm the void of its "
    "authorization; decline it again from the case.",
)


def _finish_screened(
    ctx: Context, payment_id: str, txn: PspTransaction, *, submit: bool
) -> dict[str, Any]:
    """Submit (accepted) or void (declined) a screened authorization, no transaction
    open, then apply the answer. No answer (timeout, refusal) holds the payment for a
    person: an authorization is never left without a decision or settled unseen."""
    outcome: SaleOutcome | None
    try:
        outcome = ctx.psp.submit_for_settlement(txn.id) if submit else ctx.psp.void(txn.id)
    except (PspUnavailable, PspProtocolError) as exc:
        log.warning("payment %s: screened %s unconfirmed: %s", payment_id, txn.id, exc)
        outcome = None
    with ctx.db.transaction() as s:
        payment = _lock_with_related(s, ctx, payment_id)
        if payment.status == PaymentStatus.PROCESSING.value:
            if outcome is not None and outcome.approved and submit:
                apply_outcome(s, ctx, payment, outcome)
            elif outcome is not None and outcome.approved:
                payment.fraud_review = "declined"
                apply_decline(s, ctx, payment, FRAUD_DECLINE)
                # the authorization kept the card the customer asked to save: not now
                forget_vaulted_card(s, ctx, payment, outcome.transaction or txn)
            else:
                reason = _SUBMIT_FAILED if submit else _VOID_FAILED
                hold(s, ctx, payment, txn, Decision(Action.REVIEW, (reason,)))
        return payment_view(s, ctx, payment)
