"""PSP notices through the fake gateway's signed webhooks: a dispute opened on a paid
payment, a settlement notice, a replayed notice, a forged one."""

from __future__ import annotations

import pytest

from crm_pay.domain.errors import WebhookRejected
from crm_pay.ports import PspTxnStatus, WebhookEnvelope
from crm_pay.services.payments import get_payment
from crm_pay.services.webhooks import receive_envelope
from crm_pay.testing import FakeWorld
from servicetest import paid


def test_dispute_opened_is_recorded_against_the_payment(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    envelope = world.psp.signed_webhook(
        {
            "kind": "dispute_opened",
            "dispute_id": "dp_1",
            "transaction_id": payment["psp_reference"],
            "amount": "100.00",
            "currency": "USD",
            "timestamp": world.clock.now.isoformat(),
        }
    )

    result = receive_envelope(world.ctx, envelope, remote_addr="203.0.113.9")
    again = receive_envelope(world.ctx, envelope, remote_addr="203.0.113.9")

    assert (result.status, result.kind) == ("processed", "dispute_opened")
    assert again.status == "duplicate"


def test_settlement_notice_settles_the_payment(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.set_status(payment["psp_reference"], PspTxnStatus.SETTLED)
    envelope = world.psp.signed_webhook(
        {
            "kind": "transaction_settled",
            "transaction_id": payment["psp_reference"],
            "timestamp": world.clock.now.isoformat(),
        }
    )

    assert receive_envelope(world.ctx, envelope, remote_addr=None).status == "processed"
    assert get_payment(world.ctx, payment["id"], resolve=False)["status"] == "settled"


def test_forged_notice_is_rejected_and_changes_nothing(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    real = world.psp.signed_webhook(
        {"kind": "transaction_settled", "transaction_id": payment["psp_reference"]}
    )

    with pytest.raises(WebhookRejected):
        receive_envelope(world.ctx, WebhookEnvelope("0" * 64, real.payload), remote_addr=None)

    assert get_payment(world.ctx, payment["id"], resolve=False)["status"] == (
        "submitted_for_settlement"
    )
