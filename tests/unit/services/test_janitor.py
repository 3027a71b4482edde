"""The janitor with a fake PSP: a payment in doubt is resolved from what the PSP holds,
or fails as ``not_at_psp`` once the unknown window has passed without a trace."""

from __future__ import annotations

from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.janitor import run_janitor
from crm_pay.services.payments import get_payment
from crm_pay.testing import FakeWorld
from servicetest import link, token_of


def _unknown(world: FakeWorld, fault: str) -> str:
    view = link(world.ctx, "100.00")
    world.psp.fail_next(fault)
    answer = pay_with_nonce(world.ctx, token_of(view), "fake-valid-nonce")
    assert answer["status"] == "unknown"
    return str(answer["id"])


def test_unknown_sale_the_psp_has_is_resolved_to_paid_with_a_receipt(world: FakeWorld) -> None:
    payment_id = _unknown(world, "timeout")
    world.clock.advance(world.ctx.settings.janitor_first_check_seconds + 1)

    run_janitor(world.ctx)

    shown = get_payment(world.ctx, payment_id, resolve=False)
    assert shown["status"] == "submitted_for_settlement"
    assert shown["captured"] == "100.00"
    assert shown["receipt_number"]
    assert len(world.psp.calls_to("sale")) == 1  # asked about, never charged again


def test_unknown_sale_the_psp_never_saw_fails_after_the_window(world: FakeWorld) -> None:
    payment_id = _unknown(world, "down")
    world.clock.advance(world.ctx.settings.janitor_first_check_seconds + 1)
    run_janitor(world.ctx)
    # Inside the window the PSP's search may still lag: the payment stays in doubt.
    assert get_payment(world.ctx, payment_id, resolve=False)["status"] == "unknown"

    world.clock.advance(world.ctx.settings.unknown_window_seconds + 1)
    run_janitor(world.ctx)

    shown = get_payment(world.ctx, payment_id, resolve=False)
    assert shown["status"] == "failed"
    assert shown["decline"]["category"] == "not_at_psp"
    assert shown["receipt_number"] is None
    assert world.psp.transactions() == []
