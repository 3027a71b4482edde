"""Dispute outcomes in the payment's event log: money gone is charged back once, a
reversal after a later win gives it back; totals stay derived from events."""

from __future__ import annotations

import pytest

from crm_pay.domain import EventKind, Money, PaymentEvent, totals_from_events


def _ev(kind: EventKind, amount: str) -> PaymentEvent:
    return PaymentEvent(kind, Money.parse(amount, "USD"), psp_reference="dp1")


@pytest.mark.parametrize(
    "gone", [EventKind.DISPUTE_LOST, EventKind.DISPUTE_ACCEPTED, EventKind.DISPUTE_EXPIRED]
)
def test_money_gone_in_a_dispute_is_charged_back_and_a_reversal_gives_it_back(
    gone: EventKind,
) -> None:
    events = [
        _ev(EventKind.SALE_SUCCEEDED, "50.00"),
        _ev(EventKind.DISPUTE_OPENED, "50.00"),
        _ev(gone, "50.00"),
    ]
    totals = totals_from_events("USD", events)
    assert totals.disputed.is_zero() and totals.charged_back == Money(5000, "USD")
    totals = totals_from_events("USD", [*events, _ev(EventKind.CHARGEBACK_REVERSED, "50.00")])
    assert totals.charged_back.is_zero() and totals.net == Money(5000, "USD")
