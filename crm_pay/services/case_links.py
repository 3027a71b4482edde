"""A pay link sent to a case's customer from the case page ("Send the customer a pay link").

Above :mod:`crm_pay.services.payments` (it may create a link payment) and
:mod:`crm_pay.services.notifications` (it sends the link, as an agent's resend does).
Which link: the case's payment's own while it can still be paid, else a new payment of
the same amount, once per opening of the case. A ``partial`` case
(:mod:`crm_pay.services.partial_cases`) always gets a new payment of what its invoices
still owe, allocated to them, and is resolved ``new_link_sent`` once the link is sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crm_pay.domain.errors import Conflict, ValidationError

from . import case_views, cases, notifications, partial_cases
from .access import Principal
from .context import Context
from .payments import CreatePayment, create_payment, get_payment

__all__ = ["send_case_link"]


def send_case_link(
    ctx: Context, case_id: int, *, channel: str, principal: Principal
) -> dict[str, Any]:
    """Send the case's customer a pay link by ``channel`` (email or SMS); the link is
    noted in the case's history (a partial case is resolved with it). Returns
    ``payment_id`` (the payment whose link went out), ``channel`` and, for a partial
    case, ``rest`` (what the link asks for: ``total`` and ``currency``)."""
    view = case_views.case_page(ctx, case_id)
    payment, customer = view["payment"], view["customer"]
    if payment is None or customer is None:
        raise ValidationError("this case concerns no customer's payment; no link was sent")
    if channel not in ("email", "sms"):
        raise ValidationError("choose email or SMS for the link")
    partial = view["kind"] == partial_cases.KIND
    target = payment["id"]
    if partial:
        target = _link_for_the_rest(ctx, view, principal)
    elif (get_payment(ctx, target, resolve=False).get("pay_link") or {}).get("state") != "open":
        target = _new_link_payment(
            ctx,
            view,
            principal,
            key=f"case-{case_id}-new-link-{view['reopened']}",
            amount=payment["amount_decimal"],
            description=f"New pay link for case #{case_id}",
        )
    notifications.send_pay_link(ctx, target, channel=channel, actor=principal.actor)
    if partial:
        partial_cases.record_new_link(
            ctx, case_id, actor=principal.actor, payment_id=target, channel=channel
        )
        rest = view["rest_to_pay"]
        return {
            "payment_id": target,
            "channel": channel,
            "rest": {"total": rest["total"], "currency": rest["currency"]},
        }
    cases.add_note(
        ctx,
        case_id,
        actor=principal.actor,
        note=f"Pay link for payment {target} sent by {channel}.",
    )
    return {"payment_id": target, "channel": channel, "rest": None}


def _link_for_the_rest(ctx: Context, view: dict[str, Any], principal: Principal) -> str:
    """The payment asking for what a partial case's invoices still owe, allocated to
    them: new, or the one an earlier click made (the amount is in the key, so a rest
    that changed meanwhile gets a payment of its own)."""
    rest = view["rest_to_pay"]
    if rest is None:
        raise Conflict(
            f"case {view['id']} is already {view['status']}; no link was sent",
            code="case_resolved",
        )
    if not rest["invoices"]:
        raise ValidationError(
            "the invoices of this case owe nothing now; resolve it with a note instead. "
            "No link was sent",
            code="nothing_owed",
        )
    refs = ", ".join(inv["ref"] for inv in rest["invoices"])
    return _new_link_payment(
        ctx,
        view,
        principal,
        key=f"case-{view['id']}-rest-link-{rest['total']}-{view['reopened']}",
        amount=rest["total"],
        allocations={inv["ref"]: inv["outstanding"] for inv in rest["invoices"]},
        description=f"The rest of {refs} (case #{view['id']})",
    )


def _new_link_payment(
    ctx: Context,
    view: dict[str, Any],
    principal: Principal,
    *,
    key: str,
    amount: str,
    description: str,
    allocations: dict[str, str] | None = None,
) -> str:
    """A pay-link payment for the case's customer, once per ``key`` (a second click gets
    the first payment back)."""
    command = CreatePayment(
        crm_ref=view["customer"]["crm_ref"],
        amount=amount,
        currency=view["payment"]["currency"],
        channel="link",
        allocations=allocations,
        description=description,
    )
    created, _ = create_payment(
        ctx,
        command,
        actor=principal.actor,
        idempotency_scope=f"user:{principal.id}",
        idempotency_key=key,
        request_hash=hashlib.sha256(key.encode()).hexdigest(),
    )
    return str(created["id"])
