"""Use cases around a payment: create (with its pay link), get, cancel.

Layer: use case, the top of the services (the API and the console call these). A vaulted
payment is charged at once through :mod:`.charging`; a payment in doubt is re-checked
with the PSP on read through :mod:`.janitor`. Records, links and views come from the
modules below (:mod:`.payment_records`, :mod:`.pay_links`, :mod:`.views`); the
Idempotency-Key rule from :mod:`.idempotency`, shared with refunds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, NotFound, ValidationError
from crm_pay.domain.ledger import plan_allocation
from crm_pay.domain.money import Money, normalize_currency
from crm_pay.domain.payment import SUCCESSFUL, Channel, PaymentStatus, check_transition
from crm_pay.persistence.models import Customer, Payment
from vault import pan, tokens

from . import audit, idempotency, inbound
from .charging import charge_vaulted
from .context import Context
from .customers import (
    cards_on_file,
    fetch_customer,
    load_ledger,
    store_customer,
    unresolved_payments,
)
from .janitor import resolve_payment
from .keypad_sessions import telephony_of
from .pay_links import issue_pay_link, link_of, pay_url_of
from .payment_records import (
    IN_DOUBT,
    crm_sync_messages,
    new_payment_id,
    require_psp_currency,
    transition,
)
from .views import payment_view

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "CreatePayment",
    "create_payment",
    "get_payment",
    "cancel_payment",
]

log = logging.getLogger("crm_pay.payments")

DESCRIPTION_MAX_LENGTH = 500  # Payment.description is String(500)


@dataclass(frozen=True)
class CreatePayment:
    """What the API or the console asks for; checked and parsed by :func:`create_payment`."""

    crm_ref: str
    amount: str
    currency: str
    channel: str = "link"
    allocations: dict[str, str] | None = None
    description: str = ""
    payment_method_token: str | None = None  # card on file, channel "vaulted"
    customer_consent: bool = False  # vaulted: the agent recorded the customer's consent


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
    """Reliability rule 1 (docs/architecture.md): no new charge while an earlier
    attempt's outcome is unknown."""
    for p in unresolved_payments(session, customer):
        theirs = set(p.requested_allocations)
        if not invoice_refs or not theirs or theirs & invoice_refs:
            if p.status == PaymentStatus.HELD.value:
                raise Conflict(
                    f"payment {p.id} for this customer is authorized and held for a fraud "
                    "review; a supervisor releases or declines it before another charge",
                    code="payment_held",
                )
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


def create_payment(
    ctx: Context,
    cmd: CreatePayment,
    *,
    actor: str,
    idempotency_scope: str,
    idempotency_key: str,
    request_hash: str,
    ip: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create a payment (``link``: with a pay link; ``vaulted``: charged now; ``ivr``:
    to be taken on the phone's keypad, :mod:`.keypad_payments`; ``TelephonyUnavailable``
    when keypad payments are not set up, and nothing is created).

    Returns ``(view, created)``; the same idempotency key with the same request returns
    the first payment (``created`` False), with another request raises
    ``IdempotencyConflict``. Nothing reaches the PSP before the attempt is recorded."""
    idempotency_key = inbound.idempotency_key(idempotency_key)
    channel = cmd.channel
    if channel not in (Channel.LINK.value, Channel.VAULTED.value, Channel.IVR.value):
        raise ValidationError("channel must be 'link', 'vaulted' or 'ivr'")
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
    if channel == Channel.IVR.value:
        # An ivr payment can only be taken by a keypad capture: refuse it now, with the
        # start step's words, rather than leave a payment no step can take.
        telephony_of(ctx)

    snapshot = fetch_customer(ctx, cmd.crm_ref)  # CRM call: before the transaction
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
        # What the CRM said is stored in this transaction (the row comes back locked).
        customer = store_customer(s, ctx, snapshot)
        if currency != customer.currency:
            raise ValidationError(
                f"this customer's account is in {customer.currency}, not {currency}"
            )
        plan = plan_allocation(amount, load_ledger(s, customer).open_invoices(), requested)
        _check_nothing_in_doubt(s, customer, {a.invoice_ref for a in plan.allocations})
        payment_id = new_payment_id()
        idempotency.claim(
            s,
            scope=idempotency_scope,
            key=idempotency_key,
            request_hash=request_hash,
            payment_id=payment_id,
            now=now,
            response_status=201,  # rolled back with the payment if this transaction fails
        )
        # A link payment is stored as awaiting its customer at once (one INSERT, not an
        # INSERT and an UPDATE); the move is checked as the transition would check it.
        # No event is recorded for it, as none was for the transition.
        status = PaymentStatus.CREATED
        if token is not None:
            check_transition(status.value, PaymentStatus.AWAITING_CUSTOMER)
            status = PaymentStatus.AWAITING_CUSTOMER
        payment = Payment(
            id=payment_id,
            customer_id=customer.id,
            channel=channel,
            status=status.value,
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
            issue_pay_link(s, ctx, payment, token, now=now)
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
        # Built from what this transaction wrote: a new payment has nothing else to read.
        # ivr: taken on the phone's keypad (services.keypad_payments), charged from there
        keep = token is not None or channel == Channel.IVR.value
        view = payment_view(s, ctx, payment, new=True) if keep else None
    if view is not None:
        if token is not None:
            view["pay_url"] = ctx.settings.pay_url(token)
        ctx.publish(payment_id, {"status": view["status"]})
        return view, True
    return charge_vaulted(ctx, payment_id, ip=ip), True


def _replay(ctx: Context, scope: str, key: str, request_hash: str) -> dict[str, Any] | None:
    """The first answer to this key (with its pay link), or None for a new request.

    A vaulted payment whose first request stopped between storing it and charging it
    (the process died, the client gave up) is still ``created`` with no attempt: the
    retry the client sends for exactly that case charges it now, once (the attempt is
    recorded under the payment's lock: a second retry at the same moment gets the
    payment as the first one left it)."""
    with ctx.db.transaction() as s:
        rec = idempotency.find_record(s, scope, key)
        if rec is None:
            return None
        idempotency.check_same_request(rec, request_hash, advice="use a new key for a new payment")
        body = rec.response_body or {}
        payment = s.get(Payment, body.get("payment_id"))
        if payment is None:
            raise idempotency.in_progress()
        never_charged = (
            payment.channel == Channel.VAULTED.value
            and payment.status == PaymentStatus.CREATED.value
            and payment.attempt == 0
        )
        view = None if never_charged else payment_view(s, ctx, payment)
        url = pay_url_of(s, ctx, payment.id)
        payment_id = payment.id
    if view is None:
        try:
            return charge_vaulted(ctx, payment_id)
        except Conflict:  # another retry recorded the attempt first: show where it is
            return get_payment(ctx, payment_id, resolve=False)
    if url is not None:
        view["pay_url"] = url
    return view


def get_payment(ctx: Context, payment_id: str, *, resolve: bool = True) -> dict[str, Any]:
    """The payment as the API shows it. A payment in doubt is re-checked with the PSP on
    read (reliability rule 4, docs/architecture.md), so a caller polling sees it resolve."""
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        in_doubt = payment.status == PaymentStatus.UNKNOWN.value
    if resolve and in_doubt:
        resolve_payment(ctx, payment_id)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        return payment_view(s, ctx, payment)


def cancel_payment(ctx: Context, payment_id: str, *, actor: str) -> dict[str, Any]:
    """Cancel a payment not yet paid (its link closes); a paid or in-doubt one refuses."""
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
        if payment.status == PaymentStatus.HELD.value:
            raise Conflict(
                "this payment is authorized and held for a fraud review; a supervisor "
                "releases or declines it from its case",
                code="payment_held",
            )
        if transition(s, ctx, payment, PaymentStatus.CANCELLED):
            link = link_of(s, payment.id)
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
