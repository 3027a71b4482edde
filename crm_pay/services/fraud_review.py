"""A supervisor releases or declines a payment the fraud rules held.

Layer: use case (the API's ``POST /payments/{id}/release`` and ``/decline`` and the
supervisor's case page call it). Same discipline as a charge: checked in one short
transaction, the PSP called with none open, its answer applied under the payment's
row lock in another.

- **Release**: the authorization is submitted for settlement, then booked exactly as
  any successful payment (:func:`.psp_outcome.apply_transaction`: ledger, receipt,
  receipt email, CRM sync, once: the payment leaves ``held`` under its lock).
- **Decline**: the authorization is voided and the payment declined with the "could
  not be approved" words; the customer gets the failure notice. A card the customer
  ticked to save, which the PSP kept at the authorization, is deleted at the PSP
  (:func:`.saved_cards.forget_vaulted_card`); a released one becomes their card on file.

Both resolve the payment's ``fraud_review`` case, audited with the supervisor's note.
A repeat of the decision taken (same or another key) returns the payment as it is now;
the other decision is refused (409 ``already_decided``), and the same
``Idempotency-Key`` with another body is refused (422). If the PSP does not answer
the payment stays held and the call may be repeated: a submit or void already done at
the PSP is found (``find``) and applied instead of being sent twice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from crm_pay.domain.errors import Conflict, Forbidden, NotFound, ValidationError
from crm_pay.domain.payment import PaymentStatus
from crm_pay.persistence.models import Case, Payment
from crm_pay.ports import PspTransaction, PspTxnStatus
from vault import pan

from . import audit, idempotency, inbound
from .access import Principal, has_role
from .cases import resolve_in
from .context import Context
from .fraud_screening import FRAUD_DECLINE
from .psp_outcome import apply_decline, apply_transaction, publish_status
from .saved_cards import forget_vaulted_card
from .views import payment_view

__all__ = ["release_held", "decline_held"]

log = logging.getLogger("crm_pay.fraud")

_NOTE_MAX = 500


def release_held(
    ctx: Context,
    payment_id: str,
    *,
    principal: Principal,
    note: str,
    idempotency_key: str,
    request_hash: str,
) -> dict[str, Any]:
    """Submit a held payment for settlement and book it (see the module docstring)."""
    return _decide(ctx, payment_id, "release", principal, note, idempotency_key, request_hash)


def decline_held(
    ctx: Context,
    payment_id: str,
    *,
    principal: Principal,
    note: str,
    idempotency_key: str,
    request_hash: str,
) -> dict[str, Any]:
    """Void a held payment's authorization and decline it (see the module docstring)."""
    return _decide(ctx, payment_id, "decline", principal, note, idempotency_key, request_hash)


def _decide(
    ctx: Context,
    payment_id: str,
    action: str,
    principal: Principal,
    note: str,
    key: str,
    request_hash: str,
) -> dict[str, Any]:
    if not has_role(principal, "supervisor"):
        raise Forbidden("only a supervisor can release or decline a held payment")
    text = pan.redact(str(note or "")).strip()
    if len(text) > _NOTE_MAX:
        raise ValidationError(f"the note is longer than {_NOTE_MAX} characters; shorten it")
    if not text:
        raise ValidationError(
            "say why in the note (what you checked): a decision without a reason is not "
            "kept. Nothing was changed"
        )
    key = inbound.idempotency_key(key)
    scope = f"fraud_review:{payment_id}"
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}; nothing was changed")
        record = idempotency.find_record(s, scope, key)
        if record is not None:
            idempotency.check_same_request(record, request_hash, advice="use a new key")
        elif payment.status == PaymentStatus.HELD.value:
            idempotency.claim(
                s,
                scope=scope,
                key=key,
                request_hash=request_hash,
                payment_id=payment_id,
                now=ctx.now(),
                response_status=200,
            )
        if payment.status != PaymentStatus.HELD.value:
            done = {"release": "released", "decline": "declined"}[action]
            if record is not None or payment.fraud_review == done:
                return payment_view(s, ctx, payment)  # already decided: as it is now
            if payment.fraud_review in ("released", "declined"):
                raise Conflict(
                    f"payment {payment_id} was already {payment.fraud_review} by a "
                    "supervisor; nothing was changed",
                    code="already_decided",
                )
            raise Conflict(
                f"payment {payment_id} is {payment.status}, not held for a fraud review; "
                "nothing was changed",
                code="not_held",
            )
        txn_id = payment.psp_transaction_id
    if not txn_id:
        raise Conflict("the held payment has no PSP transaction; nothing was changed")
    txn = _at_psp(ctx, txn_id, release=action == "release")
    with ctx.db.transaction() as s:
        payment = ctx.db.lock(s, Payment, payment_id)
        assert payment is not None
        if payment.status == PaymentStatus.HELD.value:
            _apply(s, ctx, payment, txn, action, principal, text)
        view = payment_view(s, ctx, payment)
    publish_status(ctx, payment_id)
    return view


def _at_psp(ctx: Context, txn_id: str, *, release: bool) -> PspTransaction:
    """Submit or void ``txn_id``; a refusal (already done, or no longer possible) is
    answered by what the PSP now says of the transaction."""
    outcome = ctx.psp.submit_for_settlement(txn_id) if release else ctx.psp.void(txn_id)
    if outcome.approved and outcome.transaction is not None:
        return outcome.transaction
    found = ctx.psp.find(txn_id)
    if found is None:
        raise Conflict(f"the PSP has no transaction {txn_id}; nothing was changed")
    return found


_RELEASED = (PspTxnStatus.SUBMITTED_FOR_SETTLEMENT, PspTxnStatus.SETTLING, PspTxnStatus.SETTLED)


def _apply(
    s: Any,
    ctx: Context,
    payment: Payment,
    txn: PspTransaction,
    action: str,
    principal: Principal,
    note: str,
) -> None:
    if action == "release":
        if txn.status not in _RELEASED:
            raise Conflict(
                f"the PSP did not take the payment for settlement (its transaction is "
                f"{txn.status.value}: the authorization may have expired); decline it "
                "instead. The payment is still held",
                code="release_refused",
            )
        payment.fraud_review = "released"
        apply_transaction(s, ctx, payment, txn)
        code = "released"
    else:
        if txn.status in _RELEASED:
            raise Conflict(
                "the PSP has this payment submitted for settlement already; refund it "
                "instead of declining it. The payment is still held",
                code="decline_refused",
            )
        payment.fraud_review = "declined"
        apply_decline(s, ctx, payment, FRAUD_DECLINE)
        # the authorization kept the card the customer asked to save: delete it
        forget_vaulted_card(s, ctx, payment, txn)
        code = "declined"
    audit.record(
        s,
        ctx,
        actor=principal.actor,
        action=f"payment.review_{code}",
        subject=payment.id,
        data={"psp_reference": txn.id, "psp_status": txn.status.value, "note": note},
    )
    case = s.scalars(
        select(Case).where(Case.kind == "fraud_review", Case.subject == payment.id)
    ).first()
    if case is not None and case.status in ("open", "assigned"):
        resolve_in(s, ctx, case.id, actor=principal.actor, code=code, note=note)
    log.info("payment %s %s by %s", payment.id, code, principal.actor)
