"""The ``payment_status`` event: one builder for what an agent's screen is told.

Three places used to assemble it, each its own way: the snapshot an agent gets on
``watch`` (from the rows), the event published after a PSP outcome (from the payment
view), and whatever keys callers passed to ``ctx.publish``. They differed: the snapshot
said whether the pay link was opened and stamped the event with the payment's
``updated_at``; the outcome event left the link out, was stamped with the publishing
time, and carried the decline advice for ``settlement_declined`` too (which the console
never renders: it shows decline advice for ``declined`` and ``failed`` only).

:func:`status_event` now holds the rules once:

- ``status`` always; ``at`` is the moment of the payment's last change (``updated_at``),
  so an agent joining late and one watching all along see the same time;
- ``decline`` (plain-words ``message`` and ``next_step``) only while the payment is
  ``declined`` or ``failed`` and a message exists: advice for a refused attempt, shown
  next to that status;
- ``attempts_left`` and ``link`` (``sent``/``opened``) when the payment has a pay link
  and the caller knows them; ``receipt_number`` once a receipt exists;
- ``attempt``, the number of the customer's attempt in progress or last made, when the
  caller knows it: the console reads a number above the one that was declined as "the
  customer is trying again" and starts the field ticks afresh;
- ``channel`` once a pay-link message was delivered (``email``/``sms``, the newest): a
  console that joins after the delivery still turns its "queued" row to "sent".

:func:`event_from_rows` (the snapshot) and :func:`event_from_view` (after an outcome,
where the payment view is already built, so no extra query) only gather those facts.
The whitelist in :mod:`crm_pay.live_publisher` still checks every event before it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_pay.persistence.db import as_utc
from crm_pay.persistence.models import Message, PayLink, Payment, Receipt

__all__ = ["DECLINE_SHOWN_FOR", "event_from_rows", "event_from_view", "status_event"]

#: Statuses whose event carries the decline advice (what the console renders).
DECLINE_SHOWN_FOR = frozenset({"declined", "failed"})


def status_event(
    status: str,
    *,
    at: datetime | str | None = None,
    decline_message: str | None = None,
    decline_next_step: str | None = None,
    attempts_left: int | None = None,
    link_opened: bool | None = None,
    receipt_number: str | None = None,
    attempt: int | None = None,
    delivered_by: str | None = None,
) -> dict[str, Any]:
    """The ``payment_status`` event for a payment in ``status`` with these facts.

    ``link_opened``: ``None`` when the payment has no pay link or the caller does not
    know (the console keeps what it was told before: a link never goes back from
    opened to sent). ``at`` may be a datetime (naive is UTC) or ISO text.
    """
    event: dict[str, Any] = {"status": status}
    if link_opened is not None:
        event["link"] = "opened" if link_opened else "sent"
    if attempts_left is not None:
        event["attempts_left"] = max(0, attempts_left)
    if receipt_number:
        event["receipt_number"] = receipt_number
    if attempt is not None:
        event["attempt"] = max(0, attempt)
    if delivered_by:
        event["channel"] = delivered_by
    if decline_message and status in DECLINE_SHOWN_FOR:
        event["decline"] = {"message": decline_message, "next_step": decline_next_step or ""}
    if isinstance(at, datetime):
        event["at"] = as_utc(at).isoformat()  # type: ignore[union-attr]
    elif at:
        event["at"] = at
    return event


def event_from_rows(session: Session, payment: Payment) -> dict[str, Any]:
    """The event for ``payment`` read from its rows (the snapshot on ``watch``)."""
    link = session.scalars(select(PayLink).where(PayLink.payment_id == payment.id)).first()
    number = session.scalars(
        select(Receipt.number).where(Receipt.payment_id == payment.id, Receipt.kind == "payment")
    ).first()
    delivered = session.scalars(
        select(Message.channel)
        .where(
            Message.payment_id == payment.id,
            Message.kind == "pay_link",
            Message.status == "sent",
        )
        .order_by(Message.id.desc())
    ).first()
    return status_event(
        payment.status,
        at=payment.updated_at,
        decline_message=payment.decline_message,
        decline_next_step=payment.decline_next_step,
        attempts_left=(link.max_attempts - link.failed_attempts) if link is not None else None,
        link_opened=(link.opened_at is not None) if link is not None else None,
        receipt_number=number,
        attempt=payment.attempt,
        delivered_by=delivered,
    )


def event_from_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """The event for a payment view (``payment_view``), built without another query.

    The view does not say whether the link was opened; the event then leaves ``link``
    out, which the console reads as "unchanged".
    """
    decline = view.get("decline") or {}
    link = view.get("pay_link") or {}
    attempts = link.get("attempts_left")
    return status_event(
        view["status"],
        at=view.get("updated_at"),
        decline_message=decline.get("message"),
        decline_next_step=decline.get("next_step"),
        attempts_left=attempts if isinstance(attempts, int) else None,
        receipt_number=view.get("receipt_number"),
    )
