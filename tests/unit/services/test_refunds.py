"""Refunds with a fake PSP: full and partial refunds of a settled payment, an
over-refund refused, a void while the sale is unsettled."""

from __future__ import annotations

import uuid

import pytest

from crm_pay.domain.errors import CrmPayError
from crm_pay.services.access import Principal
from crm_pay.services.refunds import refund_payment
from crm_pay.testing import FakeWorld
from servicetest import paid

SUPERVISOR = Principal(kind="api_key", id=1, role="supervisor", name="sup")


def _refund(world: FakeWorld, payment_id: str, amount: str | None) -> dict:
    view, _ = refund_payment(
        world.ctx,
        payment_id,
        amount=amount,
        principal=SUPERVISOR,
        idempotency_key=uuid.uuid4().hex,
        request_hash=str(amount),
    )
    return view


def test_partial_then_full_refund_of_a_settled_payment(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()

    after_part = _refund(world, payment["id"], "30.00")
    assert after_part["refunded"] == "30.00"
    rest = _refund(world, payment["id"], None)
    assert rest["refunded"] == "100.00"
    credits = world.psp.transactions("credit")
    assert sorted(c.amount.minor for c in credits) == [3000, 7000]
    assert len(rest["refund_receipts"]) == 2


def test_refund_above_what_is_left_is_refused_and_nothing_moves(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    _refund(world, payment["id"], "80.00")

    with pytest.raises(CrmPayError):
        _refund(world, payment["id"], "30.00")

    assert [c.amount.minor for c in world.psp.transactions("credit")] == [8000]


def test_refund_before_settlement_voids_the_sale(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")

    view = _refund(world, payment["id"], None)

    assert view["status"] == "voided"
    assert world.psp.calls_to("void") == [payment["psp_reference"]]
    assert world.psp.transactions("credit") == []
