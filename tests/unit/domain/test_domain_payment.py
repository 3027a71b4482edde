"""Payment status transitions and amounts derived from the event log."""

from __future__ import annotations

import itertools

import pytest

from crm_pay.domain import (
    SUCCESSFUL,
    TERMINAL,
    TRANSITIONS,
    EventKind,
    IllegalTransition,
    Money,
    PaymentEvent,
    PaymentStatus,
    check_transition,
    totals_from_events,
)

S = PaymentStatus
ALL_MOVES = list(itertools.permutations(PaymentStatus, 2))
ALLOWED = [(a, b) for a, b in ALL_MOVES if b in TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_MOVES if b not in TRANSITIONS[a]]


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(PaymentStatus)
    assert ALLOWED and REFUSED


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_moves_are_accepted(current: PaymentStatus, target: PaymentStatus) -> None:
    assert check_transition(current, target) is True


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_move_is_refused(current: PaymentStatus, target: PaymentStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target)
    assert info.value.code == "illegal_transition"
    assert f"from {current.value} to {target.value}" in info.value.message


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_repeating_the_current_status_is_a_no_op(status: PaymentStatus) -> None:
    assert check_transition(status, status) is False


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.SETTLED, S.DECLINED, False),  # settled money is never "declined" afterwards
        (S.SETTLED, S.VOIDED, False),  # a settled payment is refunded, not voided
        (S.UNKNOWN, S.SETTLED, True),  # the janitor learns it went through
        (S.UNKNOWN, S.DECLINED, True),
        (S.UNKNOWN, S.CANCELLED, False),  # unknown is never given up on as failed
        (S.UNKNOWN, S.EXPIRED, False),
        (S.DECLINED, S.PROCESSING, True),  # the customer tries another card on the link
        (S.CREATED, S.SETTLED, False),
        (S.VOIDED, S.SETTLED, False),
        (S.AUTHORIZED, S.VOIDED, True),
    ],
)
def test_named_moves(current: PaymentStatus, target: PaymentStatus, allowed: bool) -> None:
    if allowed:
        assert check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_statuses_given_as_text_are_accepted() -> None:
    assert check_transition("processing", "settled") is True


def test_terminal_statuses_have_no_way_out() -> None:
    assert {S.SETTLED, S.EXPIRED, S.CANCELLED, S.VOIDED, S.SETTLEMENT_DECLINED} == TERMINAL
    assert S.UNKNOWN not in TERMINAL
    assert SUCCESSFUL.isdisjoint({S.DECLINED, S.FAILED, S.UNKNOWN})


def _ev(kind: EventKind, amount: str) -> PaymentEvent:
    return PaymentEvent(kind, Money.parse(amount, "USD"), psp_reference="txn")


def test_totals_are_derived_from_events() -> None:
    events = [
        _ev(EventKind.SALE_REQUESTED, "100.00"),
        _ev(EventKind.SALE_SUCCEEDED, "100.00"),
        _ev(EventKind.REFUND_REQUESTED, "30.00"),
        _ev(EventKind.REFUND_SUCCEEDED, "30.00"),
        _ev(EventKind.REFUND_REQUESTED, "5.00"),
        _ev(EventKind.REFUND_FAILED, "5.00"),
        _ev(EventKind.DISPUTE_OPENED, "70.00"),
    ]
    totals = totals_from_events("USD", events)
    assert totals.captured == Money(10000, "USD")
    assert totals.refunded == Money(3000, "USD")  # requested and failed refunds moved nothing
    assert totals.disputed == Money(7000, "USD")
    assert totals.charged_back == Money(0, "USD")
    assert totals.net == Money(7000, "USD")


def test_lost_dispute_becomes_a_chargeback() -> None:
    events = [
        _ev(EventKind.SALE_SUCCEEDED, "50.00"),
        _ev(EventKind.DISPUTE_OPENED, "50.00"),
        _ev(EventKind.DISPUTE_LOST, "50.00"),
    ]
    totals = totals_from_events("USD", events)
    assert totals.disputed.is_zero()
    assert totals.charged_back == Money(5000, "USD")
    assert totals.net.is_zero()


def test_won_dispute_keeps_the_money() -> None:
    events = [
        _ev(EventKind.SALE_SUCCEEDED, "50.00"),
        _ev(EventKind.DISPUTE_OPENED, "50.00"),
        _ev(EventKind.DISPUTE_WON, "50.00"),
    ]
    totals = totals_from_events("USD", events)
    assert totals.disputed.is_zero() and totals.charged_back.is_zero()
    assert totals.net == Money(5000, "USD")


def test_void_takes_back_the_capture() -> None:
    totals = totals_from_events(
        "USD", [_ev(EventKind.SALE_SUCCEEDED, "20.00"), _ev(EventKind.VOID_SUCCEEDED, "20.00")]
    )
    assert totals.captured.is_zero()


def test_declined_failed_and_unknown_sales_capture_nothing() -> None:
    events = [
        _ev(EventKind.SALE_DECLINED, "20.00"),
        _ev(EventKind.SALE_FAILED, "20.00"),
        _ev(EventKind.SALE_UNKNOWN, "20.00"),
    ]
    assert totals_from_events("USD", events).captured.is_zero()


def test_no_events_no_money() -> None:
    totals = totals_from_events("JPY", [])
    assert totals.captured == Money(0, "JPY") and totals.net == Money(0, "JPY")
