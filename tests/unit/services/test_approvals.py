"""Four-eyes approvals with fakes: an agent's refund above the limit moves no money until
a supervisor approves it; nobody approves their own request; an expired request cannot
be approved; a manual payment reaches the ledger, the receipt sequence and the CRM once,
however often it is approved; write-offs and adjustments are ledger entries of their own."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_pay.domain.errors import CrmPayError
from crm_pay.persistence.models import (
    ApprovalRequest,
    AuditEntry,
    LedgerEntryRow,
    OutboxMessage,
    Payment,
)
from crm_pay.persistence.models import Receipt as ReceiptRow
from crm_pay.services import approvals
from crm_pay.services.access import Principal
from crm_pay.services.manual_payments import ManualPayment
from crm_pay.services.views import customer_view
from crm_pay.testing import FakeCrm, FakeWorld, OutboxRunner, fake_context
from servicetest import paid

AGENT = Principal(kind="user", id=2, name="agent@example.com", role="agent")
SUPERVISOR = Principal(kind="user", id=3, name="sup@example.com", role="supervisor")
OTHER_SUPERVISOR = Principal(kind="user", id=4, name="sup2@example.com", role="supervisor")

TEST_PAN = "4111111111111111"  # Braintree's published Visa test number


def _key() -> str:
    return uuid.uuid4().hex


def _ledger(world: FakeWorld) -> list[tuple[str, int, str | None]]:
    with world.ctx.db.transaction() as s:
        return [
            (r.kind, r.amount_minor, r.invoice_ref)
            for r in s.scalars(select(LedgerEntryRow).order_by(LedgerEntryRow.id))
        ]


def _count(world: FakeWorld, model: type, *where: object) -> int:
    with world.ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _agent_refund(world: FakeWorld, payment_id: str, amount: str | None, reason: str = "Broken"):
    result, _ = approvals.refund_or_request(
        world.ctx,
        payment_id,
        amount=amount,
        reason=reason,
        principal=AGENT,
        idempotency_key=_key(),
        body_hash=f"{payment_id}:{amount}:{reason}",
    )
    return result


def _approve(world: FakeWorld, approval_id: str, who: Principal = SUPERVISOR, key: str = ""):
    return approvals.approve(
        world.ctx,
        approval_id,
        principal=who,
        note="checked the call recording",
        idempotency_key=key or _key(),
        body_hash=f"approve:{approval_id}",
    )


def _manual(world: FakeWorld, amount: str = "40.00", **extra: object) -> dict:
    command = ManualPayment(
        crm_ref="CUST-0001",
        amount=amount,
        currency="USD",
        method=str(extra.pop("method", "cheque")),
        reference=str(extra.pop("reference", "CHQ-000778")),
        note=str(extra.pop("note", "posted cheque")),
        invoices=tuple(extra.pop("invoices", ("INV-1001",))),  # type: ignore[arg-type]
    )
    view, created = approvals.request_manual_payment(
        world.ctx, command, principal=AGENT, idempotency_key=_key(), body_hash=amount
    )
    assert created
    return view


def test_agent_refund_above_the_limit_moves_no_money_until_a_supervisor_approves(
    world: FakeWorld,
) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    before = _ledger(world)

    result = _agent_refund(world, payment["id"], "30.00", reason="Customer returned the goods")

    assert result["outcome"] == "pending_approval"
    request = result["approval"]
    assert (request["state"], request["amount"], request["kind"]) == ("pending", "30.00", "refund")
    assert world.psp.transactions("credit") == []
    assert world.psp.calls_to("refund") == [] and world.psp.calls_to("void") == []
    assert _ledger(world) == before

    view, decided = _approve(world, request["id"])

    assert decided and view["state"] == "approved" and view["executed"]
    assert [c.amount.minor for c in world.psp.transactions("credit")] == [3000]
    assert _ledger(world)[len(before) :] == [("refund", 3000, "INV-1001")]
    assert len(view["result"]["refund_receipts"]) == 1


def test_a_refund_approved_twice_or_retried_refunds_once(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    request = _agent_refund(world, payment["id"], None)["approval"]

    key = _key()
    _approve(world, request["id"], key=key)
    _, again_same_key = _approve(world, request["id"], key=key)
    _, again_other = _approve(world, request["id"], who=OTHER_SUPERVISOR)

    assert not again_same_key and not again_other
    assert [c.amount.minor for c in world.psp.transactions("credit")] == [10000]
    assert [k for k, _, _ in _ledger(world)].count("refund") == 1


def test_an_approved_refund_whose_psp_did_not_answer_is_retried_once(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    request = _agent_refund(world, payment["id"], "25.00")["approval"]
    world.psp.fail_next("timeout")

    with pytest.raises(CrmPayError) as failed:
        _approve(world, request["id"])

    assert failed.value.code == "approval_not_executed"
    stuck = approvals.get_approval(world.ctx, request["id"], principal=SUPERVISOR)
    assert stuck["state"] == "approved" and not stuck["executed"] and stuck["error"]

    view, _ = _approve(world, request["id"], who=OTHER_SUPERVISOR)

    assert view["executed"] and view["error"] is None
    assert [c.amount.minor for c in world.psp.transactions("credit")] == [2500]


def test_the_requester_cannot_approve_their_own_request(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()
    boss = Principal(kind="user", id=3, name="sup@example.com", role="supervisor")
    limited = Principal(kind="user", id=3, name="sup@example.com", role="agent")
    request, _ = approvals.refund_or_request(
        world.ctx,
        payment["id"],
        amount="10.00",
        reason="Damaged",
        principal=limited,  # asked while an agent, approving now as supervisor
        idempotency_key=_key(),
        body_hash="x",
    )

    with pytest.raises(CrmPayError) as refused:
        _approve(world, request["approval"]["id"], who=boss)

    assert refused.value.code == "own_request" and refused.value.status == 403
    assert world.psp.transactions("credit") == []
    still = approvals.get_approval(world.ctx, request["approval"]["id"], principal=SUPERVISOR)
    assert still["state"] == "pending"


def test_an_agent_cannot_approve(world: FakeWorld) -> None:
    view = _manual(world)
    other_agent = Principal(kind="user", id=9, name="a2@example.com", role="agent")

    with pytest.raises(CrmPayError) as refused:
        _approve(world, view["id"], who=other_agent)

    assert refused.value.status == 403
    assert _count(world, Payment, Payment.channel == "manual") == 0


def test_an_expired_request_cannot_be_approved_and_is_listed_as_expired(
    world: FakeWorld,
) -> None:
    view = _manual(world)
    world.clock.advance(hours=72, seconds=1)

    assert approvals.list_approvals(world.ctx, principal=SUPERVISOR, state="pending") == []
    listed = approvals.list_approvals(world.ctx, principal=SUPERVISOR, state="expired")
    assert [v["id"] for v in listed] == [view["id"]]
    with pytest.raises(CrmPayError) as refused:
        _approve(world, view["id"])

    assert refused.value.code == "approval_expired"
    assert _count(world, Payment, Payment.channel == "manual") == 0
    with world.ctx.db.transaction() as s:
        row = s.get(ApprovalRequest, view["id"])
        assert row is not None and row.state == "expired"
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert "approval.expired" in actions


def test_a_manual_payment_reaches_the_ledger_only_once_approved(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    customer_view(world.ctx, "CUST-0001")  # the invoice is charged when first seen
    before = _ledger(world)
    view = _manual(world, "40.00")
    outbox.drain()

    assert _ledger(world) == before
    assert _count(world, ReceiptRow) == 0
    assert world.crm.calls_to("upsert_payment") == []

    approved, _ = _approve(world, view["id"])
    outbox.drain()

    payment_id = approved["result"]["payment_id"]
    assert _ledger(world)[len(before) :] == [("payment", -4000, "INV-1001")]
    with world.ctx.db.transaction() as s:
        receipts = list(s.scalars(select(ReceiptRow)))
        payment = s.get(Payment, payment_id)
        assert payment is not None
        assert (payment.channel, payment.status, payment.created_by) == (
            "manual",
            "settled",
            AGENT.actor,
        )
    assert [r.number for r in receipts] == [approved["result"]["receipt_number"]]
    assert receipts[0].content["method"] == "Cheque"
    assert receipts[0].content["psp_reference"] == "CHQ-000778"
    assert [r.payment_id for r in world.crm.calls_to("upsert_payment")] == [payment_id]
    customer = customer_view(world.ctx, "CUST-0001")
    assert customer["balance"] == "60.00"


def test_a_manual_payment_approved_twice_concurrently_is_booked_once(tmp_path: Path) -> None:
    world = fake_context(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    try:
        view = _manual(world, "100.00")
        errors: list[Exception] = []
        key = _key()

        def approve_it(who: Principal, k: str) -> None:
            try:
                _approve(world, view["id"], who=who, key=k)
            except Exception as exc:  # noqa: BLE001 - collected and checked below
                errors.append(exc)

        threads = [
            threading.Thread(target=approve_it, args=(SUPERVISOR, key)),
            threading.Thread(target=approve_it, args=(SUPERVISOR, key)),
            threading.Thread(target=approve_it, args=(OTHER_SUPERVISOR, _key())),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        # a concurrent same-key retry may be told "in progress"; nothing is booked twice
        assert all(getattr(e, "code", "") == "idempotency_key_in_progress" for e in errors)
        assert _count(world, Payment, Payment.channel == "manual") == 1
        assert _count(world, ReceiptRow) == 1
        assert [k for k, _, _ in _ledger(world)].count("payment") == 1
        assert _count(world, OutboxMessage, OutboxMessage.topic == "crm.upsert_payment") == 1
    finally:
        world.close()


def test_a_manual_payment_above_the_invoices_becomes_credit(world: FakeWorld) -> None:
    view = _manual(world, "130.00")
    _approve(world, view["id"])

    customer = customer_view(world.ctx, "CUST-0001")
    assert (customer["balance"], customer["credit"]) == ("-30.00", "30.00")
    assert [i["status"] for i in customer["invoices"]] == ["paid"]


def test_bad_manual_payments_are_refused_with_words_and_store_nothing(world: FakeWorld) -> None:
    cases = [
        ({"amount": "0"}, "more than zero"),
        ({"amount": "12.345"}, "decimals"),
        ({"method": "bitcoin"}, "method must be one of"),
        ({"reference": "  "}, "reference is required"),
        ({"invoices": ("INV-9999",)}, "not one of CUST-0001's open invoices"),
    ]
    for change, words in cases:
        with pytest.raises(CrmPayError) as refused:
            _manual(world, **change)  # type: ignore[arg-type]
        assert words in refused.value.message
    with pytest.raises(CrmPayError) as wrong_currency:
        approvals.request_manual_payment(
            world.ctx,
            ManualPayment("CUST-0001", "10.00", "EUR", "cash", "till 3"),
            principal=AGENT,
            idempotency_key=_key(),
            body_hash="eur",
        )
    assert wrong_currency.value.code == "currency_mismatch"
    assert _count(world, ApprovalRequest) == 0


def test_a_card_number_in_a_manual_payment_reference_is_never_stored(world: FakeWorld) -> None:
    view = _manual(world, reference=f"slip {TEST_PAN}", note=f"card {TEST_PAN}")
    approved, _ = _approve(world, view["id"])

    with world.ctx.db.transaction() as s:
        stored = [str(r.payload) + r.reason for r in s.scalars(select(ApprovalRequest))] + [
            str(r.content) for r in s.scalars(select(ReceiptRow))
        ]
        stored += [str(a.data) for a in s.scalars(select(AuditEntry))]
        stored += [str(m.payload) for m in s.scalars(select(OutboxMessage))]
        stored += [r.memo for r in s.scalars(select(LedgerEntryRow))]
    assert stored and not any(TEST_PAN in text for text in stored)
    assert TEST_PAN not in str(approved)


def test_refused_requests_move_nothing_and_need_a_note(world: FakeWorld) -> None:
    view = _manual(world)
    with pytest.raises(CrmPayError):
        approvals.refuse(world.ctx, view["id"], principal=SUPERVISOR, note="  ")

    refused = approvals.refuse(world.ctx, view["id"], principal=SUPERVISOR, note="No cheque seen")

    assert refused["state"] == "refused" and refused["decision_note"] == "No cheque seen"
    with pytest.raises(CrmPayError) as late:
        _approve(world, view["id"])
    assert late.value.code == "approval_refused"
    assert _count(world, Payment, Payment.channel == "manual") == 0


def test_write_off_and_adjustment_are_ledger_adjustments_after_approval(
    world: FakeWorld, outbox: OutboxRunner
) -> None:
    def ask(kind: str, amount: str, direction: str = "credit", invoice: str | None = None):
        view, _ = approvals.request_adjustment(
            world.ctx,
            kind=kind,
            crm_ref="CUST-0001",
            amount=amount,
            direction=direction,
            invoice=invoice,
            reason="Goodwill after outage",
            principal=AGENT,
            idempotency_key=_key(),
            body_hash=f"{kind}{amount}",
        )
        return view

    customer_view(world.ctx, "CUST-0001")
    with pytest.raises(CrmPayError) as too_much:
        ask("write_off", "150.00", invoice="INV-1001")
    assert too_much.value.code == "write_off_too_large"

    write_off = ask("write_off", "20.00", invoice="INV-1001")
    fee = ask("adjustment", "5.00", direction="debit")
    assert customer_view(world.ctx, "CUST-0001")["balance"] == "100.00"

    _approve(world, write_off["id"])
    _approve(world, fee["id"])
    outbox.drain()

    customer = customer_view(world.ctx, "CUST-0001")
    assert customer["balance"] == "85.00"
    adjustments = [e for e in _ledger(world) if e[0] == "adjustment"]
    assert adjustments == [("adjustment", -2000, "INV-1001"), ("adjustment", 500, None)]
    assert world.crm.calls_to("update_balance")


def test_the_same_request_key_returns_the_first_request(world: FakeWorld) -> None:
    command = ManualPayment("CUST-0001", "10.00", "USD", "cash", "till 3")
    key = _key()
    first, created = approvals.request_manual_payment(
        world.ctx, command, principal=AGENT, idempotency_key=key, body_hash="a"
    )
    again, created_again = approvals.request_manual_payment(
        world.ctx, command, principal=AGENT, idempotency_key=key, body_hash="a"
    )
    with pytest.raises(CrmPayError) as other_body:
        approvals.request_manual_payment(
            world.ctx, command, principal=AGENT, idempotency_key=key, body_hash="b"
        )

    assert created and not created_again and first["id"] == again["id"]
    assert other_body.value.status == 422
    assert _count(world, ApprovalRequest) == 1


def test_agents_see_only_their_own_requests(world: FakeWorld) -> None:
    _manual(world)
    other = Principal(kind="user", id=9, name="a2@example.com", role="agent")

    assert approvals.list_approvals(world.ctx, principal=other) == []
    assert len(approvals.list_approvals(world.ctx, principal=AGENT)) == 1
    assert len(approvals.list_approvals(world.ctx, principal=SUPERVISOR)) == 1


def test_manual_payments_are_not_refunded_to_a_card(world: FakeWorld) -> None:
    approved, _ = _approve(world, _manual(world)["id"])

    with pytest.raises(CrmPayError) as refused:
        approvals.refund_or_request(
            world.ctx,
            approved["result"]["payment_id"],
            amount=None,
            reason="x",
            principal=SUPERVISOR,
            idempotency_key=_key(),
            body_hash="m",
        )
    assert refused.value.code == "manual_payment_not_refundable"


def test_a_crm_customer_with_no_invoices_gets_credit(tmp_path: Path) -> None:
    world = fake_context(
        f"sqlite:///{tmp_path / 'credit.sqlite3'}", crm=FakeCrm.with_customer(invoices=())
    )
    try:
        view = _manual(world, "15.00", invoices=())
        _approve(world, view["id"])
        assert customer_view(world.ctx, "CUST-0001")["credit"] == "15.00"
    finally:
        world.close()


def test_an_agents_refund_request_needs_a_reason_and_a_fitting_amount(world: FakeWorld) -> None:
    payment = paid(world.ctx, "100.00")
    world.psp.settle()

    with pytest.raises(CrmPayError) as no_reason:
        _agent_refund(world, payment["id"], "10.00", reason="  ")
    with pytest.raises(CrmPayError) as too_much:
        _agent_refund(world, payment["id"], "100.01")

    assert no_reason.value.code == "reason_required"
    assert "at most" in too_much.value.message
    assert _count(world, ApprovalRequest) == 0
    assert world.psp.transactions("credit") == []


def test_a_write_off_no_longer_fitting_is_refused_and_stays_pending(world: FakeWorld) -> None:
    customer_view(world.ctx, "CUST-0001")
    view, _ = approvals.request_adjustment(
        world.ctx,
        kind="write_off",
        crm_ref="CUST-0001",
        amount="100.00",
        direction="credit",
        invoice="INV-1001",
        reason="x" * 500,  # the longest reason still fits the ledger's memo
        principal=AGENT,
        idempotency_key=_key(),
        body_hash="w",
    )
    _approve(world, _manual(world, "30.00")["id"])  # meanwhile the customer paid part

    with pytest.raises(CrmPayError) as refused:
        _approve(world, view["id"])

    assert refused.value.code == "write_off_too_large"
    still = approvals.get_approval(world.ctx, view["id"], principal=SUPERVISOR)
    assert still["state"] == "pending"
    assert [k for k, _, _ in _ledger(world)].count("adjustment") == 0

    smaller, _ = approvals.request_adjustment(
        world.ctx,
        kind="write_off",
        crm_ref="CUST-0001",
        amount="70.00",
        direction="credit",
        invoice="INV-1001",
        reason="x" * 500,
        principal=AGENT,
        idempotency_key=_key(),
        body_hash="w2",
    )
    _approve(world, smaller["id"])
    with world.ctx.db.transaction() as s:
        memos = [r.memo for r in s.scalars(select(LedgerEntryRow)) if r.kind == "adjustment"]
    assert len(memos) == 1 and len(memos[0]) <= 300 and memos[0].startswith("Write-off")
    assert customer_view(world.ctx, "CUST-0001")["invoices"][0]["status"] == "paid"
