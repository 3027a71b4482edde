"""Customer messages: receipt emails, pay links by email or SMS, payment-failure notices,
payment reminders and case updates.

Every message is a ``Message`` row (its delivery status for the console) plus an outbox
message ``message.deliver``, both written in the transaction of the change that causes
them. The row's ``message_id`` is stable per logical message (``receipt.R-2026-000123@
example.com``), so a message delivered again after a crash carries the same Message-ID
and the receiving side recognises the duplicate. A resend is a new logical message
(``receipt.R-2026-000123.2@...``).

Neither the row nor the outbox payload holds a pay-link URL: the handler re-derives it
from the payment at delivery time.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_pay.domain.errors import ConfigurationError, Conflict, NotFound, ValidationError
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Customer, Message, Payment
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.ports import DeliveryFailed, OutgoingEmail
from vault import pan

from . import audit, inbound
from .cases import open_case
from .context import Context
from .message_content import compose, gather
from .outbox import enqueue, postpone
from .pay_links import link_of, link_state
from .receipts import issued_in_this_unit

__all__ = [
    "queue_receipt_email",
    "queue_failure_notice",
    "share_receipt",
    "send_pay_link",
    "resend_receipt",
    "deliver_message",
    "message_views",
    "message_domain",
    "queue_reminder",
    "queue_in_review_notice",
    "notify_case_update",
    "CASE_UPDATE_TOPIC",
]

log = logging.getLogger("crm_pay.notifications")

TOPIC = "message.deliver"
CASE_UPDATE_TOPIC = "customer.case_update"
_CODE = re.compile(r"[a-z0-9_]{1,40}")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_EMAIL = re.compile(r"[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


def message_domain(ctx: Context) -> str:
    """The right-hand side of our Message-IDs: the merchant's mail domain."""
    domain = ctx.settings.merchant.email.rpartition("@")[2].strip().lower()
    return domain if _DOMAIN.fullmatch(domain) else "crm-pay.local"


def _next_id(session: Session, ctx: Context, base: str, *filters: Any) -> str:
    """``base@domain`` for the first message of its kind, then ``base.2@domain``..."""
    domain = message_domain(ctx)
    n = int(session.scalar(select(func.count()).select_from(Message).where(*filters)) or 0) + 1
    while True:
        candidate = f"{base}@{domain}" if n == 1 else f"{base}.{n}@{domain}"
        if session.scalar(select(Message.id).where(Message.message_id == candidate)) is None:
            return candidate
        n += 1


def _queue(
    session: Session,
    ctx: Context,
    *,
    message_id: str,
    kind: str,
    channel: str,
    recipient: str,
    payment_id: str | None,
    receipt_number: str | None = None,
    actor: str = "system",
    deliver_at: datetime | None = None,
) -> Message:
    now = ctx.now()
    msg = Message(
        message_id=message_id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        payment_id=payment_id,
        receipt_number=receipt_number,
        status="queued",
        attempts=0,
        last_error=None,
        created_by=actor,
        created_at=now,
        sent_at=None,
    )
    session.add(msg)
    enqueue(
        session,
        topic=TOPIC,
        # One key per message: a message waiting for a retry never holds up another.
        ordering_key=f"message:{message_id}",
        dedupe_key=f"message:{message_id}",
        payload={"message_id": message_id},
        now=now,
        deliver_at=deliver_at,
    )
    session.flush()
    return msg


def _existing(session: Session, message_id: str) -> Message | None:
    return session.scalars(select(Message).where(Message.message_id == message_id)).first()


def queue_receipt_email(
    session: Session, ctx: Context, *, receipt_row: ReceiptRow, customer: Customer
) -> Message | None:
    """Queue the receipt email, in the transaction that issues the receipt. Called again
    for the same receipt, it returns the first message. Without an email address there
    is nothing to send: a ``receipt_undeliverable`` case is opened instead."""
    number = receipt_row.number
    if not customer.email:
        open_case(
            session,
            ctx,
            kind="receipt_undeliverable",
            subject=f"receipt:{number}",
            payment_id=receipt_row.payment_id,
            detail={"receipt": number, "reason": "the customer has no email address"},
        )
        return None
    message_id = f"receipt.{number}@{message_domain(ctx)}"
    # A receipt issued in this very transaction has no email yet: no look-up for one.
    found = None if issued_in_this_unit(session, number) else _existing(session, message_id)
    if found is not None:
        return found
    return _queue(
        session,
        ctx,
        message_id=message_id,
        kind="receipt",
        channel="email",
        recipient=customer.email,
        payment_id=receipt_row.payment_id,
        receipt_number=number,
    )


def share_receipt(
    session: Session, ctx: Context, *, receipt_row: ReceiptRow, customer: Customer
) -> None:
    """Send a newly issued receipt (payment, refund or reversal) where it belongs, in the
    transaction that issued it: attached to the customer in the CRM, emailed to them."""
    enqueue(
        session,
        topic="crm.attach_receipt",
        ordering_key=f"crm:{customer.crm_ref}",
        dedupe_key=f"crm.receipt:{receipt_row.number}",
        payload={"receipt_number": receipt_row.number},
        now=ctx.now(),
    )
    queue_receipt_email(session, ctx, receipt_row=receipt_row, customer=customer)


def _attempt_notice(
    session: Session, ctx: Context, payment: Payment, customer: Customer, *, kind: str
) -> Message | None:
    """One notice of ``kind`` per payment attempt, by email else SMS (none without
    either); queued again for the same attempt, it returns the first."""
    if customer.email:
        channel, recipient = "email", customer.email
    elif customer.phone:
        channel, recipient = "sms", customer.phone
    else:
        return None
    name = kind.replace("_", "-")
    message_id = f"{name}.{payment.id}.{payment.attempt}@{message_domain(ctx)}"
    found = _existing(session, message_id)
    if found is not None:
        return found
    return _queue(
        session,
        ctx,
        message_id=message_id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        payment_id=payment.id,
    )


def queue_failure_notice(
    session: Session, ctx: Context, payment: Payment, customer: Customer
) -> Message | None:
    """Tell the customer a link payment did not go through: one notice per run of
    declines, by email else SMS, debounced.

    A customer who is declined is usually still on the pay page, on the phone with the
    agent, and tries again: five declines must not be five e-mails. So the notice waits
    ``CRM_PAY_FAILURE_NOTICE_DELAY`` seconds (the customer has left without success); a
    further decline restarts the wait, a closed link (attempts used up, expired,
    cancelled) sends it at once, and a success meanwhile skips it at delivery (its
    content, and the retry link if the link is still open, are worked out then). A run
    of declines after a notice was sent or skipped gets one notice of its own."""
    if customer.email:
        channel, recipient = "email", customer.email
    elif customer.phone:
        channel, recipient = "sms", customer.phone
    else:
        return None
    link = link_of(session, payment.id)
    now = ctx.now()
    still_open = link is not None and link_state(ctx, link, payment) == "open"
    deliver_at = now + timedelta(
        seconds=ctx.settings.failure_notice_delay_seconds if still_open else 0
    )
    waiting = session.scalars(
        select(Message)
        .where(Message.payment_id == payment.id, Message.kind == "payment_failed")
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    if waiting is not None and waiting.status == "queued":
        postpone(session, dedupe_key=f"message:{waiting.message_id}", deliver_at=deliver_at)
        return waiting
    # The first decline of a run names the notice; after a notice went out (or was
    # skipped), a new run of declines gets a notice of its own.
    message_id = f"payment-failed.{payment.id}.{payment.attempt}@{message_domain(ctx)}"
    if waiting is not None and waiting.message_id == message_id:
        return waiting  # this decline was applied before
    return _queue(
        session,
        ctx,
        message_id=message_id,
        kind="payment_failed",
        channel=channel,
        recipient=recipient,
        payment_id=payment.id,
        deliver_at=deliver_at,
    )


def queue_in_review_notice(
    session: Session, ctx: Context, payment: Payment, customer: Customer
) -> Message | None:
    """Tell the customer we are still checking a payment whose outcome is unknown (once
    per attempt; not sent if the payment is resolved by delivery time)."""
    return _attempt_notice(session, ctx, payment, customer, kind="payment_in_review")


def queue_reminder(
    session: Session, ctx: Context, *, message_id: str, channel: str, recipient: str
) -> Message:
    """Queue a payment reminder (``crm_pay.services.reminders`` claims it first). What it
    says, and whether it still goes out, is worked out at delivery."""
    return _queue(
        session,
        ctx,
        message_id=message_id,
        kind="reminder",
        channel=channel,
        recipient=recipient,
        payment_id=None,
        actor="reminders",
    )


def notify_case_update(ctx: Context, payload: dict[str, Any]) -> None:
    """Outbox handler of ``customer.case_update`` (a customer-facing case was resolved):
    queue one message to the customer, by email else SMS. Payload: ``case_id``,
    ``payment_id``, ``customer_id`` (our customer id or the CRM id) and
    ``resolution_code``. Delivered again, it finds its first message and adds nothing."""
    case_id = int(payload["case_id"])
    code = str(payload.get("resolution_code") or "").strip().lower()
    code = code if _CODE.fullmatch(code) else "other"
    payment_id = payload.get("payment_id") or None
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id) if payment_id else None
        customer = _customer_of(s, payload.get("customer_id"), payment)
        if customer is None:
            log.error("case %s: its customer is unknown; no update sent", case_id)
            return
        if customer.email:
            channel, recipient = "email", customer.email
        elif customer.phone:
            channel, recipient = "sms", customer.phone
        else:
            log.info("case %s: customer %s has no email or phone", case_id, customer.crm_ref)
            return
        message_id = f"case-update.{case_id}.{code}@{message_domain(ctx)}"
        if _existing(s, message_id) is not None:
            return
        _queue(
            s,
            ctx,
            message_id=message_id,
            kind="case_update",
            channel=channel,
            recipient=recipient,
            payment_id=payment.id if payment is not None else None,
        )
    _wake(ctx)


def _customer_of(session: Session, ref: object, payment: Payment | None) -> Customer | None:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = session.get(Customer, int(ref))
        if found is not None:
            return found
    if isinstance(ref, str) and ref:
        found = session.scalars(select(Customer).where(Customer.crm_ref == ref)).first()
        if found is not None:
            return found
    return session.get(Customer, payment.customer_id) if payment is not None else None


def _wake(ctx: Context) -> None:
    """Ask an in-process dispatcher to deliver now rather than at its next tick."""
    if ctx.workers is not None:
        ctx.workers.dispatcher.wake()


def send_pay_link(ctx: Context, payment_id: str, *, channel: str, actor: str) -> dict[str, Any]:
    """Send (or send again) a payment's pay link to its customer by email or SMS."""
    if channel not in ("email", "sms"):
        raise ValidationError("channel must be 'email' or 'sms'")
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)  # serializes resends: ids stay unique
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        link = link_of(s, payment.id)
        if link is None:
            raise Conflict(
                f"payment {payment_id} has no pay link (channel {payment.channel})",
                code="no_pay_link",
            )
        state = link_state(ctx, link, payment)
        if state != "open":
            raise Conflict(
                f"the pay link is {state}, so it cannot be sent; create a new payment for a "
                "new link",
                code="link_not_open",
            )
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        recipient = customer.email if channel == "email" else customer.phone
        if not recipient:
            other = "SMS" if channel == "email" else "email"
            what = "email address" if channel == "email" else "mobile phone number"
            raise ValidationError(
                f"customer {customer.crm_ref} has no {what} on file; add one in the CRM or "
                f"send the link by {other}",
                code=f"no_{'email' if channel == 'email' else 'phone'}",
            )
        message_id = _next_id(
            s,
            ctx,
            f"paylink.{channel}.{payment.id}",
            Message.kind == "pay_link",
            Message.payment_id == payment.id,
            Message.channel == channel,
        )
        msg = _queue(
            s,
            ctx,
            message_id=message_id,
            kind="pay_link",
            channel=channel,
            recipient=recipient,
            payment_id=payment.id,
            actor=actor,
        )
        audit.record(
            s,
            ctx,
            actor=actor,
            action="pay_link.sent",
            subject=payment.id,
            data={"channel": channel, "message_id": message_id},
        )
        view = _view(msg)
    _wake(ctx)
    return view


def resend_receipt(
    ctx: Context, number: str, *, actor: str, to: str | None = None
) -> dict[str, Any]:
    """Email a receipt again, to the customer or to the address ``to``."""
    if to is not None:
        to = inbound.recipient(to.strip(), channel="email")
        if not _EMAIL.fullmatch(to):
            raise ValidationError(f"{to[:80]!r} is not an email address", code="invalid_email")
    with ctx.db.transaction() as s:
        row = s.scalars(select(ReceiptRow).where(ReceiptRow.number == number)).first()
        if row is None:
            raise NotFound(f"no receipt {number!r}")
        payment = ctx.db.lock(s, Payment, row.payment_id)
        assert payment is not None
        customer = s.get(Customer, payment.customer_id)
        assert customer is not None
        recipient = to or customer.email
        if not recipient:
            raise ValidationError(
                f"customer {customer.crm_ref} has no email address on file; give one ('to')",
                code="no_email",
            )
        message_id = _next_id(
            s,
            ctx,
            f"receipt.{number}",
            Message.kind == "receipt",
            Message.receipt_number == number,
        )
        msg = _queue(
            s,
            ctx,
            message_id=message_id,
            kind="receipt",
            channel="email",
            recipient=recipient,
            payment_id=payment.id,
            receipt_number=number,
            actor=actor,
        )
        audit.record(
            s,
            ctx,
            actor=actor,
            action="receipt.resent",
            subject=number,
            data={"message_id": message_id, "other_address": to is not None},
        )
        view = _view(msg)
    _wake(ctx)
    return view


def deliver_message(ctx: Context, payload: dict[str, Any]) -> None:
    """Outbox handler of ``message.deliver``. Idempotent: a message already sent (or
    given up) is not sent again; one sent but not marked (crash) goes out again with the
    same Message-ID. A permanent refusal marks it failed and is not retried; any other
    error is recorded and raised, and the outbox retries with backoff."""
    message_id = str(payload.get("message_id", ""))
    with ctx.db.transaction() as s:
        msg = _existing(s, message_id)
        if msg is None:
            log.error("message %s is not in the database; nothing to deliver", message_id)
            return
        if msg.status != "queued":
            return
        draft = gather(s, ctx, msg)
    if draft.skip_reason is not None:
        _finish(ctx, message_id, "skipped", reason=f"not sent: {draft.skip_reason}")
        return
    try:
        outgoing = compose(ctx, draft)
        sender = ctx.email if isinstance(outgoing, OutgoingEmail) else ctx.sms
        if sender is None:
            raise ConfigurationError(f"no {draft.channel} sender is configured")
        sender.send(outgoing)  # type: ignore[arg-type]
    except DeliveryFailed as exc:
        _finish(ctx, message_id, "failed", reason=str(exc))
        return
    except Exception as exc:
        _finish(ctx, message_id, "queued", reason=f"{type(exc).__name__}: {exc}")
        raise
    _finish(ctx, message_id, "sent")


def _finish(ctx: Context, message_id: str, status: str, *, reason: str | None = None) -> None:
    reason = pan.redact(reason)[:1000] if reason else None
    with ctx.db.transaction() as s:
        msg = _existing(s, message_id)
        assert msg is not None
        msg.attempts += 1
        msg.last_error = reason
        if status == "queued":  # a temporary failure: the outbox will try again
            log.warning("message %s not delivered yet: %s", message_id, reason)
            return
        msg.status = status
        if status == "sent":
            msg.sent_at = ctx.now()
            log.info("message %s sent (%s %s)", message_id, msg.channel, msg.kind)
        else:
            log.warning("message %s %s: %s", message_id, status, reason)
        if status == "failed" and msg.kind == "receipt":
            open_case(
                s,
                ctx,
                kind="receipt_undeliverable",
                subject=f"message:{message_id}",
                payment_id=msg.payment_id,
                detail={"receipt": msg.receipt_number, "reason": reason},
            )
        payment_id, kind, channel = msg.payment_id, msg.kind, msg.channel
        payment = s.get(Payment, payment_id) if payment_id else None
        payment_status = payment.status if payment is not None else None
    if status == "sent" and kind == "pay_link" and payment_id and payment_status:
        ctx.publish(payment_id, {"status": payment_status, "link": "sent", "channel": channel})


def _view(msg: Message) -> dict[str, Any]:
    return {
        "message_id": msg.message_id,
        "kind": msg.kind,
        "channel": msg.channel,
        "recipient": msg.recipient,
        "payment_id": msg.payment_id,
        "receipt_number": msg.receipt_number,
        "status": msg.status,
        "reason": msg.last_error,
        "attempts": msg.attempts,
        "created_by": msg.created_by,
        "created_at": as_utc(msg.created_at).isoformat(),  # type: ignore[union-attr]
        "sent_at": as_utc(msg.sent_at).isoformat() if msg.sent_at else None,  # type: ignore[union-attr]
    }


def message_views(
    ctx: Context, payment_id: str | None = None, receipt_number: str | None = None
) -> list[dict[str, Any]]:
    """Messages of a payment and/or a receipt with their delivery status, newest first:
    ``queued``, ``sent``, ``failed`` (with the reason) or ``skipped`` (out of date)."""
    stmt = select(Message).order_by(Message.id.desc())
    if payment_id is not None:
        stmt = stmt.where(Message.payment_id == payment_id)
    if receipt_number is not None:
        stmt = stmt.where(Message.receipt_number == receipt_number)
    with ctx.db.transaction() as s:
        return [_view(m) for m in s.scalars(stmt.limit(200))]
