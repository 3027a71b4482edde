"""Pay links: the customer's one-time link to pay a payment.

Layer: records (above :mod:`.payment_records`, below every use case). Issuing a link,
finding it by its token, its state, its URL (the token is sealed in the vault, never
stored in clear), and expiring its payment. The rule for what a closed link tells the
customer lives here too, so the pay page, live status and charging say the same thing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import Conflict, Gone, NotFound
from crm_pay.domain.payment import SUCCESSFUL, PaymentStatus
from crm_pay.persistence.db import as_utc, unit_cache
from crm_pay.persistence.models import Customer, PayLink, Payment
from vault import tokens

from .context import Context
from .payment_records import IN_DOUBT, crm_sync_messages, transition

__all__ = [
    "issue_pay_link",
    "find_link",
    "find_link_locked",
    "link_of",
    "remember_link",
    "link_state",
    "pay_url_of",
    "expire_payment",
    "expire_if_due",
    "publish_expired",
    "closed_message",
    "closed_link_error",
]

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


def _seal_context(payment_id: str) -> bytes:
    """The vault context a link's token is sealed under: it opens for this payment only."""
    return f"paylink:{payment_id}".encode()


def issue_pay_link(
    session: Session, ctx: Context, payment: Payment, token: str, *, now: datetime
) -> PayLink:
    """Store a new link for ``payment`` in the caller's transaction. Only the token's
    hash finds it; the token itself is sealed, because it is shown once and replays and
    resends get it back from the vault."""
    link = PayLink(
        payment_id=payment.id,
        token_hash=tokens.hash_token(token, pepper=ctx.settings.token_pepper),
        sealed_token=ctx.keyring.encrypt_text(token, context=_seal_context(payment.id)),
        expires_at=now + timedelta(seconds=ctx.settings.pay_link_ttl_seconds),
        max_attempts=ctx.settings.pay_link_max_attempts,
        failed_attempts=0,
        created_at=now,
    )
    session.add(link)
    unit_cache(session, "link_of")[payment.id] = link
    return link


def find_link(session: Session, ctx: Context, token: str) -> tuple[PayLink, Payment]:
    """The link and its payment for a customer's token; ``NotFound`` for anything else."""
    if not token or len(token) > 200:
        raise NotFound("this payment link is not valid")
    digest = tokens.hash_token(token, pepper=ctx.settings.token_pepper)
    # The link and its payment in one query (a link always has its payment).
    found = session.execute(
        select(PayLink, Payment)
        .join(Payment, Payment.id == PayLink.payment_id)
        .where(PayLink.token_hash == digest)
    ).first()
    if found is None:
        raise NotFound("this payment link is not valid; ask for a new one")
    link, payment = found
    unit_cache(session, "link_of")[link.payment_id] = link
    return link, payment


def find_link_locked(session: Session, ctx: Context, token: str) -> tuple[PayLink, Payment]:
    """:func:`find_link` with the payment's row locked, and the link read after the lock
    was granted (another attempt may have used it while this one waited).

    SQLite: the transaction already holds the database write lock, so the one joined
    read of :func:`find_link` is fresh. PostgreSQL: the payment is locked by a SELECT …
    FOR UPDATE that finds it from the token, then the link is read — two statements,
    where finding, locking and re-reading the link took three."""
    if ctx.db.is_sqlite:
        return find_link(session, ctx, token)
    if not token or len(token) > 200:
        raise NotFound("this payment link is not valid")
    digest = tokens.hash_token(token, pepper=ctx.settings.token_pepper)
    payment = session.scalars(
        ctx.db.locking(
            select(Payment).where(
                Payment.id.in_(select(PayLink.payment_id).where(PayLink.token_hash == digest))
            ),
            Payment,
        )
    ).first()
    if payment is None:
        raise NotFound("this payment link is not valid; ask for a new one")
    link = session.scalars(
        select(PayLink)
        .where(PayLink.payment_id == payment.id)
        .execution_options(populate_existing=True)
    ).first()
    assert link is not None  # a link never moves to another payment, nor is it deleted
    unit_cache(session, "link_of")[link.payment_id] = link
    return link, payment


def link_of(session: Session, payment_id: str) -> PayLink | None:
    """The payment's pay link, or None (a vaulted payment has none). Read once per unit
    of work: a link already found or issued in this transaction is not read again (a
    payment has at most one link, and a link never moves to another payment)."""
    known = unit_cache(session, "link_of")
    if payment_id in known:
        return known[payment_id]  # type: ignore[no-any-return]
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment_id)).first()
    if link is not None:
        known[payment_id] = link
    return link


def remember_link(session: Session, payment_id: str, link: PayLink | None) -> None:
    """Record the payment's link (or that it has none), read by the caller together with
    the payment, so :func:`link_of` does not read it again in this unit of work."""
    unit_cache(session, "link_of")[payment_id] = link


def link_state(ctx: Context, link: PayLink, payment: Payment) -> str:
    """``open`` (it can take a payment), or why not: ``cancelled``, ``used``,
    ``processing``, ``locked`` (too many declines) or ``expired``."""
    if link.cancelled_at is not None or payment.status == PaymentStatus.CANCELLED.value:
        return "cancelled"
    if link.used_at is not None or payment.status in SUCCESSFUL:
        return "used"
    if payment.status in IN_DOUBT or payment.status == PaymentStatus.HELD.value:
        return "processing"  # held by the fraud rules: being confirmed, not to pay again
    if link.failed_attempts >= link.max_attempts:
        return "locked"
    if as_utc(link.expires_at) <= ctx.now() or payment.status == PaymentStatus.EXPIRED.value:  # type: ignore[operator]
        return "expired"
    return "open"


def pay_url_of(session: Session, ctx: Context, payment_id: str) -> str | None:
    """The payment's pay link URL (decrypted from the vault), or None without a link."""
    link = link_of(session, payment_id)
    if link is None:
        return None
    token = ctx.keyring.decrypt_text(link.sealed_token, context=_seal_context(payment_id))
    return ctx.settings.pay_url(token)


def expire_payment(session: Session, ctx: Context, payment: Payment) -> bool:
    """Move the payment to ``expired`` and queue the CRM update, in the caller's
    transaction. Returns True if it moved now; the caller publishes the change with
    :func:`publish_expired` once that transaction has committed."""
    if not transition(session, ctx, payment, PaymentStatus.EXPIRED):
        return False
    customer = session.get(Customer, payment.customer_id)
    assert customer is not None
    crm_sync_messages(session, ctx, payment, customer, "expired")
    return True


def expire_if_due(
    session: Session, ctx: Context, link: PayLink, payment: Payment
) -> tuple[str, bool]:
    """The link's state, with a link found past its expiry closing its payment on the
    spot, whoever looks first (the pay page, a charge attempt). Returns
    ``(state, expired_now)``; ``expired_now`` asks the caller to :func:`publish_expired`
    after its commit."""
    state = link_state(ctx, link, payment)
    expired_now = state == "expired" and expire_payment(session, ctx, payment)
    return state, expired_now


def publish_expired(ctx: Context, payment_id: str) -> None:
    """Tell agents watching the payment that its link expired (after the commit)."""
    ctx.publish(payment_id, {"status": PaymentStatus.EXPIRED.value})


def closed_message(state: str) -> str:
    """Plain words for a link that cannot take a payment, with what to do next."""
    return _LINK_CLOSED.get(state, ("", "This payment link cannot be used."))[1]


def closed_link_error(state: str) -> Conflict | Gone:
    """The error a charge attempt on a closed link answers with: ``Conflict`` while the
    payment is being confirmed (it may still succeed), ``Gone`` once the link is over."""
    code, message = _LINK_CLOSED[state]
    return (Conflict if state == "processing" else Gone)(message, code=code)
