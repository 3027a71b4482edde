"""PSP webhook intake that never loses a notice: a notice the PSP sent is stored before
anything else is done with it, and a stored notice is never answered with a 5xx.

Every notice is stored raw first, then verified, deduplicated on the PSP's event
identity and applied in one transaction. Its row ends in one of:

- ``processed``: applied (a settlement, a dispute, a failed refund);
- ``ignored``: a kind crm-pay has no use for, with the reason in ``error``;
- ``pending``: it concerns a charge not applied yet (no payment found, or still
  processing/unknown) or could not be applied now; ``retry_pending_webhooks`` applies it
  later and gives up (``failed``, reason kept) after ``PENDING_WINDOW``;
- ``duplicate``: the same notice was stored before;
- ``rejected``: not verified or not decodable (the caller answers 4xx; fails closed).

Nothing here answers a 5xx for a stored notice: once it is in our table, the PSP
resending it would add nothing. What is PSP-specific (which fields hold the signature
and payload, how the payload decodes, how it is verified) is the PSP adapter's
(``PaymentGateway.webhook_envelope`` / ``webhook_documents`` / ``parse_webhook``); the
row's ``provider`` is the adapter's name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_pay.domain.errors import CrmPayError, NotFound, WebhookRejected
from crm_pay.domain.payment import EventKind, PaymentStatus
from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Payment, PaymentEventRow, WebhookEvent
from crm_pay.ports import WebhookEnvelope, WebhookNotification, WebhookRequest

from . import audit, inbound
from .cases import open_case
from .context import Context
from .dispute_records import DISPUTE_KINDS, record_dispute_notice
from .payment_records import IN_DOUBT
from .psp_outcome import apply_transaction, publish_status

__all__ = [
    "CARD_NUMBER_REASON",
    "PENDING_WINDOW",
    "WebhookResult",
    "ignored_reason",
    "receive_envelope",
    "receive_webhook",
    "replay_webhook",
    "retry_pending_webhooks",
]

log = logging.getLogger("crm_pay.webhooks")

_MAX_BODY = 256 * 1024
# Why a notice holding a card number was refused; also what marks it never to be replayed.
CARD_NUMBER_REASON = (
    "the notification holds what looks like a full card number, which a payment provider "
    "never sends (providers mask card numbers); it was kept only redacted and will not be "
    "processed"
)
# The same reason as stored by earlier releases (it named Braintree): still never replayed.
_EARLIER_CARD_NUMBER_REASONS = frozenset(
    {
        "the notification holds what looks like a full card number, which Braintree never "
        "sends (it masks card numbers); it was kept only redacted and will not be processed"
    }
)
# How long a notice may wait for the charge it concerns before a person must look.
PENDING_WINDOW = timedelta(days=3)
_SETTLEMENT_KINDS = frozenset({"transaction_settled", "transaction_settlement_declined"})
# A payment whose charge has not been applied yet: a notice about it waits.
_NOT_YET = IN_DOUBT | {PaymentStatus.CREATED.value, PaymentStatus.AWAITING_CUSTOMER.value}


@dataclass(frozen=True)
class WebhookResult:
    status: str  # processed | ignored | pending | duplicate | failed
    webhook_id: int
    kind: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class _Outcome:
    status: str
    reason: str | None = None
    payment_id: str | None = None


def ignored_reason(note: WebhookNotification) -> str | None:
    """Why crm-pay ignores ``note`` (``None``: it applies it): the PSP adapter's reason
    for a kind it knows crm-pay has no use for (``WebhookNotification.ignored``), else
    that the kind is unknown."""
    kind = note.kind
    if kind in _SETTLEMENT_KINDS or kind in DISPUTE_KINDS or kind == "refund_failed":
        return None
    return note.ignored or f"{kind} is not a notice crm-pay knows"


def receive_webhook(
    ctx: Context, request: WebhookRequest, *, remote_addr: str | None
) -> WebhookResult:
    """Store, verify and apply one notice as ``POST {prefix}/webhooks/<psp>`` received
    it: the PSP's adapter picks its signature and payload out of the request
    (``PaymentGateway.webhook_envelope``; ``WebhookRejected`` 400, nothing stored, when
    they are missing). Raises ``WebhookRejected`` (4xx) when it is not ours or cannot be
    decoded; the row is kept as ``rejected`` with the reason."""
    envelope = ctx.psp.webhook_envelope(request)
    return receive_envelope(ctx, envelope, remote_addr=remote_addr)


def receive_envelope(
    ctx: Context, envelope: WebhookEnvelope, *, remote_addr: str | None
) -> WebhookResult:
    """:func:`receive_webhook` once the signature and payload are known."""
    signature, payload = envelope.signature, envelope.payload
    provider = str(ctx.psp.name)
    if len(signature) + len(payload) > _MAX_BODY:
        raise WebhookRejected("webhook body too large", status=413)
    remote_addr = inbound.stored_header(remote_addr, 64) or None
    if inbound.webhook_has_card_number(ctx.psp.webhook_documents(envelope)):
        _refuse_card_number(
            ctx, signature=signature, payload=payload, remote_addr=remote_addr, provider=provider
        )
    with ctx.db.transaction() as s:
        row = WebhookEvent(
            provider=provider,
            received_at=ctx.now(),
            signature=signature[:2000],
            payload=payload,
            remote_addr=remote_addr,
            status="received",
        )
        s.add(row)
        s.flush()
        webhook_id = row.id
    note = _verify(ctx, webhook_id, signature, payload, remote_addr)
    return _process(ctx, webhook_id, note)


def _refuse_card_number(
    ctx: Context, *, signature: str, payload: str, remote_addr: str | None, provider: str
) -> None:
    """A notice holding a card number: never processed, kept only redacted (its digest no
    longer matches, and ``replay_webhook`` refuses it by its reason), a case and an admin
    alert opened; raises ``WebhookRejected`` (400)."""
    with ctx.db.transaction() as s:
        row = WebhookEvent(
            provider=provider,
            received_at=ctx.now(),
            signature=inbound.stored_header(signature, 2000),
            payload=inbound.redacted_webhook_body(payload),
            remote_addr=remote_addr,
            status="rejected",
            error=CARD_NUMBER_REASON,
        )
        s.add(row)
        s.flush()
        open_case(
            s,
            ctx,
            kind="webhook_card_number",
            subject=f"webhook:{row.id}",
            detail={"remote_addr": remote_addr or "", "reason": CARD_NUMBER_REASON},
        )
        webhook_id = row.id
    log.error("webhook %s refused: it held a card number (stored redacted)", webhook_id)
    raise WebhookRejected(CARD_NUMBER_REASON, code="webhook_card_number", status=400)


def _verify(
    ctx: Context, webhook_id: int, signature: str, payload: str, remote_addr: str | None
) -> WebhookNotification:
    try:
        return ctx.psp.parse_webhook(signature, payload)
    except CrmPayError as exc:
        rejected = (
            exc
            if isinstance(exc, WebhookRejected)
            else WebhookRejected(
                f"webhook payload could not be read: {exc.message}", code="webhook_undecodable"
            )
        )
    with ctx.db.transaction() as s:
        row = s.get(WebhookEvent, webhook_id)
        assert row is not None
        row.status = "rejected"
        row.error = rejected.message
        open_case(
            s,
            ctx,
            kind="webhook_rejected",
            subject=f"webhook:{webhook_id}",
            detail={"remote_addr": remote_addr or "", "reason": rejected.message},
        )
    log.warning("webhook %s rejected (%s) from %s", webhook_id, rejected.message, remote_addr)
    raise rejected


def replay_webhook(ctx: Context, webhook_id: int) -> WebhookResult:
    """Verify a stored notice again and apply it if it has not been (pending, failed)."""
    with ctx.db.transaction() as s:
        row = s.get(WebhookEvent, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        if row.status in ("processed", "ignored", "duplicate"):
            return WebhookResult(row.status, webhook_id, row.kind, row.error)
        if row.error == CARD_NUMBER_REASON or row.error in _EARLIER_CARD_NUMBER_REASONS:
            raise WebhookRejected(CARD_NUMBER_REASON, code="webhook_card_number", status=400)
        signature, payload, remote_addr = row.signature, row.payload, row.remote_addr
    note = _verify(ctx, webhook_id, signature, payload, remote_addr)
    return _process(ctx, webhook_id, note)


def retry_pending_webhooks(ctx: Context, *, limit: int = 200) -> dict[str, int]:
    """Apply waiting notices again, oldest first (the janitor calls this). A notice
    still waiting after ``PENDING_WINDOW`` becomes ``failed`` with its reason, and a
    dispute among them opens a case: a person must find the payment."""
    counts: dict[str, int] = {}
    with ctx.db.transaction() as s:
        waiting = s.execute(
            select(WebhookEvent.id, WebhookEvent.received_at)
            .where(WebhookEvent.status == "pending")
            .order_by(WebhookEvent.id)
            .limit(limit)
        ).all()
    cutoff = ctx.now() - PENDING_WINDOW
    for webhook_id, received_at in waiting:
        if as_utc(received_at) < cutoff:  # type: ignore[operator]
            _give_up(ctx, webhook_id)
            status = "failed"
        else:
            try:
                status = replay_webhook(ctx, webhook_id).status
            except WebhookRejected:
                status = "rejected"
        counts[status] = counts.get(status, 0) + 1
    return counts


def _give_up(ctx: Context, webhook_id: int) -> None:
    with ctx.db.transaction() as s:
        row = s.get(WebhookEvent, webhook_id)
        assert row is not None
        row.status = "failed"
        row.error = f"still not applicable after {PENDING_WINDOW.days} days: {row.error or ''}"
        open_case(
            s,
            ctx,
            kind="disputed" if row.kind in DISPUTE_KINDS else "webhook_failed",
            subject=f"webhook:{webhook_id}",
            detail={"kind": row.kind or "", "reason": row.error[:300]},
        )
    log.error("webhook %s given up: no payment to apply it to", webhook_id)


def _process(ctx: Context, webhook_id: int, note: WebhookNotification) -> WebhookResult:
    try:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.kind = note.kind
            if row.event_id is None:
                row.event_id = note.event_id
            s.flush()  # the unique constraint on event_id is the dedupe
            outcome = _apply(s, ctx, note)
            row.status, row.error = outcome.status, outcome.reason
            row.processed_at = ctx.now() if outcome.status != "pending" else None
    except IntegrityError:
        return _keep(ctx, webhook_id, note, "duplicate", f"same notice as {note.event_id}")
    except CrmPayError as exc:
        return _keep(ctx, webhook_id, note, "pending", f"{exc.code}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - the notice is kept and retried; cause logged
        log.exception("webhook %s could not be applied", webhook_id)
        return _keep(ctx, webhook_id, note, "pending", f"internal error ({type(exc).__name__})")
    if outcome.status == "pending":
        log.info("webhook %s (%s) waits: %s", webhook_id, note.kind, outcome.reason)
    elif outcome.status == "ignored":
        log.info("webhook %s (%s) ignored: %s", webhook_id, note.kind, outcome.reason)
    if outcome.payment_id is not None and outcome.status == "processed":
        publish_status(ctx, outcome.payment_id)  # e.g. settled: the agent's panel follows
    return WebhookResult(outcome.status, webhook_id, note.kind, outcome.reason)


def _keep(
    ctx: Context, webhook_id: int, note: WebhookNotification, status: str, reason: str
) -> WebhookResult:
    """Record a notice that was not applied (its transaction rolled back)."""
    try:
        with ctx.db.transaction() as s:
            row = s.get(WebhookEvent, webhook_id)
            assert row is not None
            row.kind, row.status, row.error = note.kind, status, reason[:2000]
            if status == "pending" and row.event_id is None:
                row.event_id = note.event_id  # a resend is then a duplicate of this row
                s.flush()
    except IntegrityError:
        return _keep(ctx, webhook_id, note, "duplicate", f"same notice as {note.event_id}")
    level = logging.INFO if status == "duplicate" else logging.WARNING
    log.log(level, "webhook %s (%s) %s: %s", webhook_id, note.kind, status, reason)
    return WebhookResult(status, webhook_id, note.kind, reason)


def _payment_for(s: Session, transaction_id: str | None, order_id: str | None) -> Payment | None:
    payment = None
    if transaction_id:
        payment = s.scalars(
            select(Payment).where(Payment.psp_transaction_id == transaction_id)
        ).first()
    if payment is None and order_id and "-" in order_id:
        # our deterministic order id "<payment id>-<attempt>" finds a charge whose
        # outcome has not been applied yet
        payment = s.get(Payment, order_id.rsplit("-", 1)[0])
    return payment


def _apply(s: Session, ctx: Context, note: WebhookNotification) -> _Outcome:
    reason = ignored_reason(note)
    if reason is not None:
        return _Outcome("ignored", reason)
    if note.kind == "refund_failed":
        return _refund_failed(s, ctx, note)
    txn = note.transaction
    order_id = txn.order_id if txn is not None else None
    if note.dispute is not None:
        order_id = note.dispute.order_id
    payment = _payment_for(s, note.transaction_id, order_id)
    if payment is None:
        return _Outcome("pending", f"no payment for transaction {note.transaction_id} yet")
    payment = ctx.db.lock(s, Payment, payment.id)
    assert payment is not None
    if payment.status in _NOT_YET:
        return _Outcome("pending", f"payment {payment.id} is still {payment.status}")
    if note.kind in DISPUTE_KINDS:
        if note.dispute is None:
            return _Outcome("ignored", "a dispute notice without a dispute")
        record_dispute_notice(
            s,
            ctx,
            payment,
            note.dispute,
            status=DISPUTE_KINDS[note.kind],
            at=note.timestamp,
            source=note.kind,
        )
        return _Outcome("processed", None, payment.id)
    if txn is None:
        return _Outcome("ignored", f"{note.kind} without a readable amount and currency")
    # Settlement notices (bank transactions at Braintree): the charging rules apply.
    apply_transaction(s, ctx, payment, txn)
    return _Outcome("processed", None, payment.id)


def _refund_failed(s: Session, ctx: Context, note: WebhookNotification) -> _Outcome:
    """A refund we booked did not reach the customer: a supervisor must act (the ledger
    says the customer was paid back; the case says they were not)."""
    ref = note.transaction_id
    event = s.scalars(
        select(PaymentEventRow).where(
            PaymentEventRow.kind == EventKind.REFUND_SUCCEEDED.value,
            PaymentEventRow.psp_reference == ref,
        )
    ).first()
    if event is None:
        return _Outcome("pending", f"no refund of ours with PSP id {ref} yet")
    open_case(
        s,
        ctx,
        kind="failed",
        subject=f"refund:{ref}",
        payment_id=event.payment_id,
        detail={"refund": ref, "reason": "the PSP reported the refund failed"},
    )
    audit.record(
        s,
        ctx,
        actor="psp",
        action="payment.refund_failed",
        subject=event.payment_id,
        data={"refund": ref or ""},
    )
    return _Outcome("processed", None, event.payment_id)
