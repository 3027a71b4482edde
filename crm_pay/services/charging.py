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
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.models import Customer, PayLink, Payment
from crm_pay.ports import DeclineInfo, SaleRequest
from vault import pan

from .cases import open_case
from .context import Context
from .pay_links import (
    closed_link_error,
    expire_if_due,
    find_link_locked,
    publish_expired,
    remember_link,
)
from .payment_records import add_event, order_id_for, require_psp_currency, transition
from .psp_outcome import apply_decline, apply_outcome, live_event
from .views import payment_view

__all__ = ["pay_with_nonce", "charge_vaulted"]

log = logging.getLogger("crm_pay.charging")


def _request_key(payment_id: str, attempt: int) -> str:
    return f"{payment_id}:{attempt}"


def _begin_link_attempt(ctx: Context, token: str) -> tuple[str, SaleRequest]:
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
            request = _record_attempt(s, ctx, payment, vaulted=False)
        else:
            closed = state
    if closed is not None:
        if expired_now:
            publish_expired(ctx, payment.id)
        raise closed_link_error(closed)
    return payment.id, request


def _begin_attempt(ctx: Context, payment_id: str) -> SaleRequest:
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
        return _record_attempt(s, ctx, payment, vaulted=True)


def _record_attempt(s: Session, ctx: Context, payment: Payment, *, vaulted: bool) -> SaleRequest:
    """Move the locked payment to ``processing`` with a new attempt number and its
    ``sale_requested`` event (committed before the PSP is called: reliability rule 1)."""
    transition(s, ctx, payment, PaymentStatus.PROCESSING)
    payment.attempt += 1
    payment.in_doubt_since = None  # a new attempt: the window starts when it is in doubt
    payment.janitor_checks = 0
    order_id = order_id_for(payment.id, payment.attempt)
    add_event(s, ctx, payment, EventKind.SALE_REQUESTED, detail={"order_id": order_id})
    return SaleRequest(
        amount=Money(payment.amount_minor, payment.currency),
        order_id=order_id,
        request_key=_request_key(payment.id, payment.attempt),
        payment_method_token=payment.payment_method_token if vaulted else None,
        transaction_source="moto" if payment.channel == "vaulted" else None,
    )


# Braintree nonces are UUIDs or "tokencc_..." handles and the SDK's test nonces are at
# most 75 characters (braintree_python braintree/test/nonces.py), all of letters, digits,
# "-" and "_". A hosted-fields dataCollector's device_data is a short JSON text.
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_DEVICE_DATA_MAX = 4000


def _bad_input(message: str, code: str) -> ValidationError:
    # 400: the request itself is malformed (not a page our form would post).
    return ValidationError(message, code=code, status=400)


def pay_with_nonce(
    ctx: Context, token: str, nonce: object, device_data: object = None
) -> dict[str, Any]:
    """The customer submitted the hosted-fields form: charge the nonce once.

    ``nonce`` and ``device_data`` are what the request carried, unchecked: anything but a
    well-formed nonce (and short printable device data) is refused here, before the
    payment, its attempts or its link change."""
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
    payment_id, request = _begin_link_attempt(ctx, token)
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
    request = _begin_attempt(ctx, payment_id)
    ctx.publish(payment_id, {"status": PaymentStatus.PROCESSING.value})
    return _call_and_apply(ctx, payment_id, request)


def _lock_with_related(s: Session, ctx: Context, payment_id: str) -> Payment:
    """The payment, locked, with its customer and its pay link loaded by the same
    statement: applying the outcome and building the answer need all three."""
    row = s.execute(
        ctx.db.locking(
            select(Payment, Customer, PayLink)
            .join(Customer, Customer.id == Payment.customer_id)
            .outerjoin(PayLink, PayLink.payment_id == Payment.id)
            .where(Payment.id == payment_id),
            Payment,
        )
    ).first()
    assert row is not None
    payment, _customer, link = row  # the customer stays in the unit of work
    remember_link(s, payment.id, link)
    return payment


def _call_and_apply(ctx: Context, payment_id: str, request: SaleRequest) -> dict[str, Any]:
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
        with ctx.db.transaction() as s:
            payment = _lock_with_related(s, ctx, payment_id)
            apply_outcome(s, ctx, payment, outcome)
            view = payment_view(s, ctx, payment)
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
