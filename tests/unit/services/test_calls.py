"""The screen-pop's use case with the fakes: a call is matched, remembered for the agent
until it expires, shown to that agent only; while the CRM does not answer, crm-pay's own
copy of the customers answers; a bad event stores nothing and tells nobody."""

from __future__ import annotations

from typing import Any

import pytest

from crm_pay.domain.errors import ConfigurationError, CrmUnavailable, NotFound, ValidationError
from crm_pay.ports import CallEvent
from crm_pay.services import calls
from crm_pay.services.access import create_user
from crm_pay.services.context import Context
from crm_pay.services.customers import sync_customer
from crm_pay.testing import FakeWorld

SID = "CA" + "9c" * 16
PHONE = "+15555550101"  # FakeCrm.with_customer's Ada Lovelace


@pytest.fixture(autouse=True)
def console(ctx: Context) -> None:
    """The console as the web layer would mount it: somewhere of its own choosing."""
    ctx.customer_page = lambda crm_ref, call_sid: f"/desk/c/{crm_ref}?call={call_sid}"


@pytest.fixture
def agent_id(ctx: Context) -> int:
    return create_user(ctx, email="ana@example.com", role="agent", password="a-long-test-password")


@pytest.fixture
def pushed(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    ctx.live_agent = lambda user_id, event: events.append((user_id, event))
    return events


def _event(**fields: Any) -> CallEvent:
    return CallEvent(**{"caller": PHONE, "agent": "Ana@Example.com", "call_sid": SID, **fields})


def test_a_call_is_the_agents_current_call_until_it_expires(
    world: FakeWorld, ctx: Context, agent_id: int, pushed: list[Any]
) -> None:
    view = calls.receive_call(ctx, _event(), actor="tests")

    assert [m.name for m in view.matches] == ["Ada Lovelace"]
    assert view.matches[0].url == f"/desk/c/CUST-0001?call={SID}"  # where the console is
    assert pushed == [(str(agent_id), view.live_event())]
    current = calls.current_call(ctx, agent_id)
    assert current is not None and current.call_sid == SID and current.agent == "ana@example.com"

    world.clock.advance(seconds=calls.CALL_TTL.total_seconds() + 1)
    assert calls.current_call(ctx, agent_id) is None


def test_the_latest_call_is_the_current_one(
    world: FakeWorld, ctx: Context, agent_id: int, pushed: list[Any]
) -> None:
    calls.receive_call(ctx, _event(), actor="tests")
    world.clock.advance(seconds=60)
    later = "CA" + "1d" * 16
    calls.receive_call(ctx, _event(call_sid=later), actor="tests")
    assert calls.current_call(ctx, agent_id).call_sid == later  # type: ignore[union-attr]


def test_while_the_crm_is_down_the_stored_copy_answers(
    world: FakeWorld,
    ctx: Context,
    agent_id: int,
    pushed: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync_customer(ctx, "CUST-0001")  # seen before: crm-pay keeps a copy

    def down(*_: Any) -> Any:
        raise CrmUnavailable("the CRM did not answer")

    monkeypatch.setattr(world.crm, "find_customers_by_phone", down)
    monkeypatch.setattr(world.crm, "find_customer", down)

    by_phone = calls.receive_call(ctx, _event(), actor="tests")
    by_id = calls.receive_call(
        ctx,
        _event(call_sid="CA" + "2e" * 16, caller="+15555550199", crm_id="CUST-0001"),
        actor="tests",
    )
    unknown = calls.receive_call(
        ctx, _event(call_sid="CA" + "3f" * 16, caller="+15555550199"), actor="tests"
    )

    assert [m.crm_ref for m in by_phone.matches] == ["CUST-0001"]
    assert [m.crm_ref for m in by_id.matches] == ["CUST-0001"]
    assert unknown.matches == ()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"caller": "+0123"}, ValidationError),
        ({"caller": "5555550101"}, ValidationError),
        ({"call_sid": "CA" + "g" * 32}, ValidationError),
        ({"agent": "  "}, ValidationError),
        ({"crm_id": "x" * 101}, ValidationError),
        ({"crm_id": "5105105105105100"}, ValidationError),  # Braintree's Mastercard test number
        ({"agent": "nobody@example.com"}, NotFound),
    ],
)
def test_a_bad_event_stores_nothing_and_tells_nobody(
    ctx: Context, agent_id: int, pushed: list[Any], fields: dict[str, Any], error: type
) -> None:
    with pytest.raises(error) as raised:
        calls.receive_call(ctx, _event(**fields), actor="tests")
    assert "5105" not in str(raised.value)
    assert pushed == [] and calls.current_call(ctx, agent_id) is None


def test_without_a_live_server_the_call_is_still_remembered(ctx: Context, agent_id: int) -> None:
    ctx.live_agent = None
    calls.receive_call(ctx, _event(), actor="tests")
    assert calls.current_call(ctx, agent_id) is not None


def test_without_a_console_a_call_is_refused_and_nothing_is_stored(
    ctx: Context, agent_id: int, pushed: list[Any]
) -> None:
    ctx.customer_page = None
    with pytest.raises(ConfigurationError, match="no agent console is mounted"):
        calls.receive_call(ctx, _event(), actor="tests")
    assert pushed == [] and calls.current_call(ctx, agent_id) is None
