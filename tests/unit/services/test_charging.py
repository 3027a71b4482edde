"""Charging a pay link through the services with a fake PSP: what the customer and the
agent see for an approval, a decline, a PSP timeout and a second pay of a paid link."""

from __future__ import annotations

import pytest

from crm_pay.domain.errors import CrmPayError
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.payments import get_payment
from crm_pay.testing import FakeWorld, OutboxRunner
from servicetest import link, token_of


def test_approved_payment_is_charged_once_and_gets_a_receipt(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    view = link(world.ctx, "100.00")
    answer = pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")

    assert answer["status"] == "submitted_for_settlement"
    assert answer["captured"] == "100.00"
    assert answer["receipt_number"]
    assert answer["card"] == {"brand": "Visa", "last4": "1111"}
    assert answer["allocations"] == [{"invoice": "INV-1001", "amount": "100.00"}]
    assert answer["pay_link"]["state"] == "used"
    (sale,) = world.psp.calls_to("sale")
    assert (sale.amount.minor, sale.amount.currency) == (10000, "USD")
    assert sale.payment_method_nonce == "fake-valid-nonce"

    outbox.drain()
    record = world.crm.payments[answer["id"]]
    assert record.status == "submitted_for_settlement"
    assert record.receipt_number == answer["receipt_number"]
    assert record.card_last4 == "1111"


def test_declined_card_leaves_the_link_open_with_advice(world: FakeWorld) -> None:
    view = link(world.ctx, "2000.00")
    answer = pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")

    assert answer["status"] == "declined"
    assert answer["receipt_number"] is None
    assert answer["captured"] == "0.00"
    assert answer["decline"]["category"] == "issuer_declined"
    assert answer["decline"]["message"]
    assert answer["pay_link"]["attempts_left"] == 4


def test_soft_decline_then_another_card_pays_the_same_link(world: FakeWorld) -> None:
    view = link(world.ctx, "100.00")
    first = pay_with_nonce(world.ctx, token_of(view), "fake-soft-declined-nonce")
    assert first["status"] == "declined"
    assert first["decline"]["category"] == "insufficient_funds"

    second = pay_with_nonce(world.ctx, token_of(view), "fake-valid-mastercard-nonce")
    assert second["status"] == "submitted_for_settlement"
    assert second["card"]["brand"] == "MasterCard"
    # Two attempts, two distinct order ids: the janitor can tell them apart.
    orders = [s.order_id for s in world.psp.calls_to("sale")]
    assert len(orders) == 2 and orders[0] != orders[1]


def test_psp_timeout_leaves_the_payment_unknown_without_a_receipt(world: FakeWorld) -> None:
    view = link(world.ctx, "100.00")
    world.psp.fail_next("timeout")
    answer = pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")

    assert answer["status"] == "unknown"
    assert answer["receipt_number"] is None
    # The money did move at the PSP: only the janitor may decide (test_janitor.py).
    assert len(world.psp.transactions("sale")) == 1
    shown = get_payment(world.ctx, answer["id"], resolve=False)
    assert shown["status"] == "unknown"


def test_paying_a_paid_link_again_charges_nothing(world: FakeWorld) -> None:
    view = link(world.ctx, "100.00")
    pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")

    with pytest.raises(CrmPayError) as refused:
        pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")

    assert refused.value.status in (409, 410)
    assert len(world.psp.calls_to("sale")) == 1
    assert get_payment(world.ctx, view["id"], resolve=False)["captured"] == "100.00"
