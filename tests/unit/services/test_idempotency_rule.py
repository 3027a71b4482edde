"""One Idempotency-Key rule for payments and refunds (crm_pay.services.idempotency):
a retry gets the first answer, the same key for another request is refused, and a key
claimed twice at once lets only one request through."""

from __future__ import annotations

import pytest

from crm_pay.domain.errors import Conflict, IdempotencyConflict
from crm_pay.ports import CardSummary, StoredCard
from crm_pay.services import idempotency, payments
from crm_pay.services.access import Principal
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.services.refunds import refund_payment
from crm_pay.testing import FakeWorld
from servicetest import paid

SUPERVISOR = Principal(kind="api_key", id=7, name="tests", role="supervisor")


def _create(world: FakeWorld, amount: str, *, key: str, request_hash: str) -> tuple[dict, bool]:
    return create_payment(
        world.ctx,
        CreatePayment(crm_ref="CUST-0001", amount=amount, currency="USD"),
        actor="api:tests",
        idempotency_scope="api:tests",
        idempotency_key=key,
        request_hash=request_hash,
    )


def test_a_retried_payment_request_returns_the_first_payment_and_its_link(
    world: FakeWorld,
) -> None:
    first, created = _create(world, "40.00", key="key-create-1", request_hash="h1")
    again, created_again = _create(world, "40.00", key="key-create-1", request_hash="h1")

    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"]
    assert again["pay_url"] == first["pay_url"]  # the token comes back from the vault


def test_the_same_key_for_another_payment_is_refused_with_advice(world: FakeWorld) -> None:
    _create(world, "40.00", key="key-create-2", request_hash="h1")

    with pytest.raises(IdempotencyConflict) as refused:
        _create(world, "41.00", key="key-create-2", request_hash="h2")

    assert refused.value.status == 422
    assert "use a new key for a new payment" in refused.value.message


def test_a_retried_refund_returns_the_first_result_and_refunds_once(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")

    def refund(amount: str, request_hash: str) -> tuple[dict, bool]:
        return refund_payment(
            world.ctx,
            payment["id"],
            amount=amount,
            principal=SUPERVISOR,
            idempotency_key="key-refund-1",
            request_hash=request_hash,
        )

    first, created = refund("100.00", "r1")
    again, created_again = refund("100.00", "r1")

    assert (created, created_again) == (True, False)
    assert again["status"] == first["status"] == "voided"
    assert len(world.psp.calls_to("void")) + len(world.psp.calls_to("refund")) == 1
    with pytest.raises(IdempotencyConflict):
        refund("50.00", "r2")


def test_a_key_claimed_twice_lets_one_request_through(world: FakeWorld) -> None:
    now = world.ctx.now()
    with world.ctx.db.transaction() as s:
        idempotency.claim(s, scope="api:tests", key="k", request_hash="h", payment_id="p1", now=now)

    with pytest.raises(Conflict) as second, world.ctx.db.transaction() as s:
        idempotency.claim(s, scope="api:tests", key="k", request_hash="h", payment_id="p2", now=now)

    assert second.value.code == "idempotency_key_in_progress"
    with world.ctx.db.transaction() as s:
        record = idempotency.find_record(s, "api:tests", "k")
        assert record is not None and record.response_body == {"payment_id": "p1"}


def _vaulted(world: FakeWorld, key: str) -> tuple[dict, bool]:
    return create_payment(
        world.ctx,
        CreatePayment(
            crm_ref="CUST-0001",
            amount="25.00",
            currency="USD",
            channel="vaulted",
            payment_method_token="card-on-file-1",
            customer_consent=True,
        ),
        actor="api:tests",
        idempotency_scope="api:tests",
        idempotency_key=key,
        request_hash="vaulted-25",
    )


def test_a_vaulted_payment_stored_but_never_charged_is_charged_by_the_retry_once(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request stored the payment and died before the charge: the client's
    retry with the same key charges it (once), instead of answering "created" forever."""
    world.crm.add_card(
        "CUST-0001", StoredCard(token="card-on-file-1", card=CardSummary("Visa", "1111"))
    )

    def died(_ctx: object, _payment_id: str, **_kw: object) -> dict:
        raise RuntimeError("the process died before the charge")

    monkeypatch.setattr(payments, "charge_vaulted", died)
    with pytest.raises(RuntimeError):
        _vaulted(world, "key-vaulted-1")
    monkeypatch.undo()
    assert world.psp.calls_to("sale") == []

    again, created = _vaulted(world, "key-vaulted-1")
    once_more, _ = _vaulted(world, "key-vaulted-1")

    assert created is False
    assert again["status"] == once_more["status"] == "submitted_for_settlement"
    assert again["id"] == once_more["id"]
    assert len(world.psp.calls_to("sale")) == 1
