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
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import (
    ConfigurationError,
    Conflict,
    Gone,
    NotFound,
    PspProtocolError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.money import Money
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, PayLink, Payment
from crm_pay.ports import SaleRequest
from vault import pan, tokens

from .cases import open_case
from .context import Context
from .payments import (
    add_event,
    crm_sync_messages,
    invoices_with_payments,
    link_state,
    payment_view,
    require_psp_currency,
    transition,
)
from .psp_outcome import apply_decline, apply_outcome, live_event

__all__ = [
    "find_link",
    "pay_link_view",
    "pay_with_nonce",
    "charge_vaulted",
    "order_id_for",
    "closed_message",
    "expire_payment",
]

log = logging.getLogger("crm_pay.charging")


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
            expire_payment(s, ctx, payment)
        first_open = mark_opened and link.opened_at is None and state == "open"
        if first_open:
            link.opened_at = ctx.now()
        view = payment_view(s, ctx, payment)
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        invoices = {i.ref: i for i in invoices_with_payments(s, customer)}
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


def expire_payment(session: Session, ctx: Context, payment: Payment) -> None:
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
            expire_payment(s, ctx, payment)
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
        payment.in_doubt_since = None  # a new attempt: the window starts when it is in doubt
        payment.janitor_checks = 0
        order_id = order_id_for(payment.id, payment.attempt)
        add_event(s, ctx, payment, EventKind.SALE_REQUESTED, detail={"order_id": order_id})
        return SaleRequest(
            amount=Money(payment.amount_minor, payment.currency),
            order_id=order_id,
            request_key=_request_key(payment.id, payment.attempt),
            payment_method_token=payment.payment_method_token if link_token is None else None,
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
    with ctx.db.transaction() as s:
        _, payment = find_link(s, ctx, token)
        payment_id, currency = payment.id, payment.currency
    require_psp_currency(ctx, currency)
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
    except (ValidationError, ConfigurationError) as exc:
        # Refused before any money could move: our adapter's own checks, or Braintree
        # refusing our credentials (it authenticates before it processes anything).
        log.error("payment %s: the PSP call was refused unsent: %s", payment_id, exc.message)
        _refused_unsent(ctx, payment_id)
    else:
        with ctx.db.transaction() as s:
            payment = ctx.db.lock(s, Payment, payment_id)
            assert payment is not None
            apply_outcome(s, ctx, payment, outcome)
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        view = payment_view(s, ctx, payment)
    ctx.publish(payment_id, live_event(view))
    return view


def _refused_unsent(ctx: Context, payment_id: str) -> None:
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status == PaymentStatus.PROCESSING.value:
            # The merchant's PSP setup cannot take it: "Please contact us" to the customer.
            apply_decline(s, ctx, payment, "gateway", "application_incomplete")


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


def expires_in_seconds(ctx: Context, link: PayLink) -> int:
    return max(0, int((as_utc(link.expires_at) - ctx.now()).total_seconds()))  # type: ignore[operator]
