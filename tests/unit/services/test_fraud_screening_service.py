"""Fraud screening on the charge path with the fake PSP (milliseconds): IP velocity
refuses before any sale, an unconfirmed submit holds the payment instead of losing it,
and the release is retried safely once the PSP answers again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from crm_pay.domain.errors import Forbidden, PspUnavailable, ValidationError
from crm_pay.persistence.models import Case
from crm_pay.services import fraud_review, fraud_rules
from crm_pay.services.access import Principal
from crm_pay.services.charging import pay_with_nonce
from crm_pay.services.context import Context
from crm_pay.testing import FakeWorld
from servicetest import link, token_of

SUPERVISOR = Principal(kind="user", id=3, name="sup@example.com", role="supervisor")
AGENT = Principal(kind="user", id=2, name="agent@example.com", role="agent")


def _rules(ctx: Context, rules: list[dict[str, Any]]) -> None:
    fraud_rules.save_rules(ctx, rules, actor="admin", note="", based_on=0)


def _pay(ctx: Context, ip: str) -> dict[str, Any]:
    return pay_with_nonce(ctx, token_of(link(ctx, "10.00")), "fake-valid-nonce", ip=ip)


def _release(ctx: Context, payment_id: str, key: str, *, who: Principal = SUPERVISOR) -> Any:
    return fraud_review.release_held(
        ctx, payment_id, principal=who, note="checked", idempotency_key=key, request_hash="h"
    )


def test_ip_velocity_declines_before_any_sale_is_sent(ctx: Context, world: FakeWorld) -> None:
    _rules(
        ctx,
        [
            {
                "id": "ip",
                "kind": "velocity",
                "scope": "ip",
                "max_payments": 1,
                "window_minutes": 60,
                "action": "decline",
            }
        ],
    )
    assert _pay(ctx, "203.0.113.5")["status"] == "submitted_for_settlement"
    sales = len(world.psp.calls_to("sale"))

    refused = _pay(ctx, "203.0.113.5")

    assert refused["status"] == "declined"
    assert refused["decline"]["message"] == "The payment could not be approved."
    assert len(world.psp.calls_to("sale")) == sales  # nothing sent
    assert _pay(ctx, "198.51.100.7")["status"] == "submitted_for_settlement"


def test_an_unconfirmed_submit_holds_the_payment_and_the_release_submits_it_once(
    ctx: Context, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a post-auth rule: every sale is authorize-only, then submitted after the decision
    _rules(ctx, [{"id": "cvv", "kind": "cvv", "responses": {"N": "decline"}}])
    real_submit = world.psp.submit_for_settlement

    def down(*args: Any, **kwargs: Any) -> Any:
        raise PspUnavailable("fake PSP timed out")

    monkeypatch.setattr(world.psp, "submit_for_settlement", down)
    held = _pay(ctx, "203.0.113.5")
    assert held["status"] == "held"
    assert [r.submit_for_settlement for r in world.psp.calls_to("sale")] == [False]
    with ctx.db.transaction() as s:
        case = s.query(Case).filter_by(kind="fraud_review", subject=held["id"]).one()
        assert "did not confirm its submission for settlement" in case.detail["reasons"]

    key = uuid.uuid4().hex
    with pytest.raises(PspUnavailable):  # still down: the payment stays held
        _release(ctx, held["id"], key)
    with ctx.db.transaction() as s:
        assert s.query(Case).filter_by(subject=held["id"]).one().status == "open"
    monkeypatch.setattr(world.psp, "submit_for_settlement", real_submit)

    released = _release(ctx, held["id"], key)

    assert released["status"] == "submitted_for_settlement"
    assert released["receipt_number"].startswith("R-")
    assert _release(ctx, held["id"], key)["receipt_number"] == released["receipt_number"]


def test_only_a_supervisor_with_a_note_decides(ctx: Context) -> None:
    _rules(
        ctx,
        [
            {
                "id": "all",
                "kind": "velocity",
                "scope": "customer",
                "max_payments": 0,
                "window_minutes": 60,
                "action": "review",
            }
        ],
    )
    held = _pay(ctx, "203.0.113.5")
    assert held["status"] == "held"
    with pytest.raises(Forbidden, match="only a supervisor"):
        _release(ctx, held["id"], uuid.uuid4().hex, who=AGENT)
    with pytest.raises(ValidationError, match="say why"):
        fraud_review.decline_held(
            ctx, held["id"], principal=SUPERVISOR, note=" ", idempotency_key="k", request_hash="h"
        )
