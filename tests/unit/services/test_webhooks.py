"""PSP notices through the fake gateway's signed webhooks: a dispute opened on a paid
payment, a settlement notice, a replayed notice, a forged one."""

from __future__ import annotations

import pytest

from crm_pay.domain.errors import WebhookRejected
from crm_pay.persistence.models import WebhookEvent
from crm_pay.ports import PspTxnStatus, WebhookEnvelope
from crm_pay.services.payments import get_payment
from crm_pay.services.webhooks import CARD_NUMBER_REASON, receive_envelope, replay_webhook
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


@pytest.mark.parametrize("stored_reason", ["current", "earlier"])
def test_a_notice_refused_for_a_card_number_is_never_replayed(
    world: FakeWorld, stored_reason: str
) -> None:
    """Also one refused by an earlier release, whose stored reason named Braintree."""
    reason = (
        CARD_NUMBER_REASON
        if stored_reason == "current"
        else "the notification holds what looks like a full card number, which Braintree "
        "never sends (it masks card numbers); it was kept only redacted and will not be "
        "processed"
    )
    with world.ctx.db.transaction() as s:
        row = WebhookEvent(
            provider="fake",
            received_at=world.clock.now,
            signature="sig",
            payload="[REDACTED PAN]",
            remote_addr="203.0.113.9",
            status="rejected",
            error=reason,
        )
        s.add(row)
        s.flush()
        webhook_id = row.id

    with pytest.raises(WebhookRejected) as refused:
        replay_webhook(world.ctx, webhook_id)

    assert refused.value.code == "webhook_card_number"
    assert "card number" in refused.value.message
