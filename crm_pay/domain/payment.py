"""Payment lifecycle: the explicit transitions table and the append-only event log.

A ``Payment`` is one attempt to collect an amount from a customer. Its status moves only
along ``TRANSITIONS``; repeating the current status is a no-op, anything else is refused.
Captured, refunded and disputed amounts are *derived* from events, never stored as totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from .errors import IllegalTransition
from .money import Money

__all__ = [
    "Channel",
    "PaymentStatus",
    "TRANSITIONS",
    "TERMINAL",
    "SUCCESSFUL",
    "DISPUTE_MONEY_GONE",
    "check_transition",
    "EventKind",
    "PaymentEvent",
    "PaymentTotals",
    "totals_from_events",
]


class Channel(StrEnum):
    LINK = "link"
    IVR = "ivr"
    VAULTED = "vaulted"
    AGENT_KEYED = "agent_keyed"
    MANUAL = "manual"


class PaymentStatus(StrEnum):
    CREATED = "created"
    AWAITING_CUSTOMER = "awaiting_customer"
    PROCESSING = "processing"
    AUTHORIZED = "authorized"
    SUBMITTED_FOR_SETTLEMENT = "submitted_for_settlement"
    SETTLED = "settled"
    DECLINED = "declined"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    VOIDED = "voided"
    # The card was charged but the money never arrived: the PSP's settlement batch
    # declined it. The ledger entry is reversed and a reversal receipt issued.
    SETTLEMENT_DECLINED = "settlement_declined"
    # The PSP's outcome is not known (timeout, crash). Never treated as failed: the
    # janitor asks the PSP and moves it on.
    UNKNOWN = "unknown"
    # Held for a fraud review: authorized at the PSP but not submitted for settlement, so
    # no money is captured and nothing is booked. A supervisor releases it (submitted,
    # then booked as any success) or declines it (the authorization is voided).
    HELD = "held"


S = PaymentStatus
TRANSITIONS: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    # created -> failed: a keypad capture on the call ended without a card (the customer
    # pressed *, hung up, let it time out): nothing was charged; another capture may
    # follow (failed -> processing) or the agent cancels the payment.
    S.CREATED: frozenset({S.AWAITING_CUSTOMER, S.PROCESSING, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.AWAITING_CUSTOMER: frozenset({S.PROCESSING, S.CANCELLED, S.EXPIRED}),
    S.PROCESSING: frozenset(
        {
            S.AUTHORIZED,
            S.SUBMITTED_FOR_SETTLEMENT,
            S.SETTLED,
            S.DECLINED,
            S.FAILED,
            S.UNKNOWN,
            S.HELD,
        }
    ),
    # A decline or a gateway failure moved no money: the customer may try again on the
    # same link while attempts remain, or the agent may cancel.
    S.DECLINED: frozenset({S.PROCESSING, S.CANCELLED, S.EXPIRED}),
    S.FAILED: frozenset({S.PROCESSING, S.CANCELLED, S.EXPIRED}),
    # An unknown sale the PSP shows already settlement-declined moved no money either.
    S.UNKNOWN: frozenset(
        {
            S.AUTHORIZED,
            S.SUBMITTED_FOR_SETTLEMENT,
            S.SETTLED,
            S.DECLINED,
            S.FAILED,
            S.VOIDED,
            S.SETTLEMENT_DECLINED,
            S.HELD,
        }
    ),
    # Released (submitted, or found settled), declined by the reviewer (voided: the
    # customer is told it did not go through), or voided at the PSP by someone else.
    S.HELD: frozenset({S.SUBMITTED_FOR_SETTLEMENT, S.SETTLED, S.DECLINED, S.VOIDED}),
    S.AUTHORIZED: frozenset(
        {S.SUBMITTED_FOR_SETTLEMENT, S.SETTLED, S.VOIDED, S.SETTLEMENT_DECLINED}
    ),
    S.SUBMITTED_FOR_SETTLEMENT: frozenset({S.SETTLED, S.VOIDED, S.SETTLEMENT_DECLINED}),
    S.SETTLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
    S.VOIDED: frozenset(),
    S.SETTLEMENT_DECLINED: frozenset(),
}
del S

TERMINAL: Final = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# Statuses in which the customer's money has been taken (or authorised to be taken).
SUCCESSFUL: Final = frozenset(
    {PaymentStatus.AUTHORIZED, PaymentStatus.SUBMITTED_FOR_SETTLEMENT, PaymentStatus.SETTLED}
)


#: Dispute statuses (the PSP's words) in which the disputed money is gone: a chargeback
#: is booked for them, and reversed if the dispute is won later.
DISPUTE_MONEY_GONE: Final = frozenset({"lost", "accepted", "auto_accepted", "expired"})


def check_transition(current: PaymentStatus | str, target: PaymentStatus | str) -> bool:
    """Return True if ``current → target`` is a move, False if it is a no-op.

    Raises ``IllegalTransition`` for a move the table does not allow.
    """
    cur, tgt = PaymentStatus(current), PaymentStatus(target)
    if cur == tgt:
        return False
    if tgt not in TRANSITIONS[cur]:
        raise IllegalTransition(f"a payment cannot move from {cur.value} to {tgt.value}")
    return True


class EventKind(StrEnum):
    SALE_REQUESTED = "sale_requested"
    SALE_SUCCEEDED = "sale_succeeded"
    SALE_DECLINED = "sale_declined"
    SALE_FAILED = "sale_failed"
    SALE_UNKNOWN = "sale_unknown"
    # Authorized but held for a fraud review: nothing captured (totals ignore it).
    SALE_HELD = "sale_held"
    SETTLEMENT_SUCCEEDED = "settlement_succeeded"
    SETTLEMENT_DECLINED = "settlement_declined"  # the captured amount never arrived
    VOID_SUCCEEDED = "void_succeeded"
    REFUND_REQUESTED = "refund_requested"
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    # The merchant accepted the chargeback (or let Braintree auto-accept it): money gone.
    DISPUTE_ACCEPTED = "dispute_accepted"
    # The reply-by date passed without an answer: the issuer keeps the money.
    DISPUTE_EXPIRED = "dispute_expired"
    # Won after the money had been booked as gone: the chargeback is reversed.
    CHARGEBACK_REVERSED = "chargeback_reversed"
    CHARGEBACK = "chargeback"


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    kind: EventKind
    amount: Money
    psp_reference: str | None = None
    occurred_at: datetime | None = None
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentTotals:
    captured: Money
    refunded: Money
    disputed: Money
    charged_back: Money

    @property
    def net(self) -> Money:
        """What the merchant keeps: captured − refunded − charged back."""
        return self.captured - self.refunded - self.charged_back


# Dispute outcomes that take the disputed amount from the merchant: a dispute leaves
# "disputed" and the amount is charged back.
_MONEY_GONE: Final = frozenset(
    {EventKind.DISPUTE_LOST, EventKind.DISPUTE_ACCEPTED, EventKind.DISPUTE_EXPIRED}
)


def totals_from_events(currency: str, events: Iterable[PaymentEvent]) -> PaymentTotals:
    """Derive captured/refunded/disputed amounts from the append-only event log.

    A dispute is ``disputed`` from its opening until it is won (released) or the money
    is gone (lost, accepted, expired: charged back); a chargeback reversed after a
    later win is no longer charged back."""
    zero = Money.zero(currency)
    captured = refunded = disputed = charged_back = zero
    for ev in events:
        if ev.kind is EventKind.SALE_SUCCEEDED:
            captured += ev.amount
        elif ev.kind in (EventKind.VOID_SUCCEEDED, EventKind.SETTLEMENT_DECLINED):
            captured -= ev.amount
        elif ev.kind is EventKind.REFUND_SUCCEEDED:
            refunded += ev.amount
        elif ev.kind is EventKind.DISPUTE_OPENED:
            disputed += ev.amount
        elif ev.kind is EventKind.DISPUTE_WON:
            disputed -= ev.amount
        elif ev.kind in _MONEY_GONE:
            disputed -= ev.amount
            charged_back += ev.amount
        elif ev.kind is EventKind.CHARGEBACK:
            charged_back += ev.amount
        elif ev.kind is EventKind.CHARGEBACK_REVERSED:
            charged_back -= ev.amount
    return PaymentTotals(captured, refunded, disputed, charged_back)
