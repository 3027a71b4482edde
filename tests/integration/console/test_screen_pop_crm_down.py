"""A broken CRM never turns an agent's screen-pop into a 500 page: with the CRM answering
500, timing out, or its connector's mapping broken, a customer crm-pay has seen before
opens from crm-pay's copy with a clear banner and can still pay by CRM id; one never seen
gets a page that says why (503), and phone search says to use the CRM id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from console_helpers import form_of
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm_pay.persistence.models import CrmConnectorRow, Payment
from crm_pay.ports import CrmCallFailed
from crm_pay.services import crm_settings
from crm_pay.services.context import Context
from crm_pay.services.crm_settings import ConnectorKind
from crm_pay.testing.clock import Clock
from crm_pay.testing.crm import FakeCrm

HTML_500 = "<html><body><h1>500 Internal Server Error</h1></body></html>"


def _http_500() -> Exception:
    return CrmCallFailed(f"HTTP 500: {HTML_500}")


def _timeout() -> Exception:
    return requests.exceptions.ReadTimeout("read timed out (10 s)")


class _DownCrm(FakeCrm):
    """A CRM whose every read raises what ``failure`` makes."""

    name = "acme-crm"

    def __init__(self, failure: Callable[[], Exception]) -> None:
        super().__init__()
        self._failure = failure

    def find_customer(self, crm_ref: str) -> Any:
        raise self._failure()

    def find_customers_by_phone(self, e164: str) -> Any:
        raise self._failure()

    def cards_on_file(self, crm_ref: str) -> Any:
        raise self._failure()


def _enable_down_crm(ctx: Context, failure: Callable[[], Exception]) -> None:
    ctx.crm_kinds = {
        **ctx.crm_kinds,
        "down": ConnectorKind(
            kind="down", label="Down CRM", factory=lambda st, se, mp: _DownCrm(failure)
        ),
    }
    crm_settings.save_connector(ctx, name="acme", kind="down", settings={}, actor="admin")
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()  # type: ignore[attr-defined]


def _enable_broken_mapping(ctx: Context) -> None:
    """A HubSpot connector whose mapping has a typo, as saved before Save checked it."""
    crm_settings.save_connector(
        ctx,
        name="acme",
        kind="hubspot",
        settings={"auth": "private_app"},
        secrets={"access_token": "pat-na1-test-token-0001"},
        actor="admin",
    )
    with ctx.db.transaction() as s:
        row = s.scalars(select(CrmConnectorRow).where(CrmConnectorRow.name == "acme")).one()
        row.mapping = {**row.mapping, "balance_propety": "crm_pay_balance"}
    crm_settings.enable_connector(
        ctx, "acme", actor="admin", override_reason="test set-up: enabled without a test"
    )
    ctx.crm.refresh()  # type: ignore[attr-defined]


BREAKS = {
    "crm answers 500": lambda ctx: _enable_down_crm(ctx, _http_500),
    "crm times out": lambda ctx: _enable_down_crm(ctx, _timeout),
    "mapping broken": _enable_broken_mapping,
}


def _payments(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


@pytest.mark.parametrize("broken", list(BREAKS))
def test_a_known_customer_opens_from_our_copy_with_a_banner_and_can_pay(
    agent: FlaskClient, ctx: Context, clock: Clock, broken: str
) -> None:
    first = agent.get("/pay/agent/customers/CUST-0001")
    assert first.status_code == 200 and 'id="crm-notice"' not in first.text
    BREAKS[broken](ctx)
    clock.advance(minutes=5)
    page = agent.get("/pay/agent/customers/CUST-0001")
    assert page.status_code == 200, page.text
    assert 'id="crm-notice"' in page.text and "is not answering" in page.text
    assert "connector acme" in page.text
    assert "Eleanor Whitfield" in page.text and 'data-invoice="INV-1001"' in page.text
    assert "<h1>500" not in page.text and "&lt;h1&gt;" not in page.text
    # Taking a payment by the CRM id still works: the link is made from our copy.
    data = {**form_of(agent, "CUST-0001"), "channel": "email", "invoice": ["INV-1001"]}
    taken = agent.post("/pay/agent/customers/CUST-0001/payments", data=data)
    assert taken.status_code == 302 and "/pay/agent/payments/" in taken.location
    assert _payments(ctx) == 1


@pytest.mark.parametrize("broken", list(BREAKS))
def test_a_customer_never_seen_gets_a_clear_page_not_a_500(
    agent: FlaskClient, ctx: Context, broken: str
) -> None:
    BREAKS[broken](ctx)
    page = agent.get("/pay/agent/customers/CUST-0002")
    assert page.status_code == 503
    assert "The CRM is not answering" in page.text
    assert "connector acme" in page.text and "not in crm-pay yet" in page.text
    found = agent.get("/pay/agent/lookup", query_string={"phone": "+15555550102"})
    assert found.status_code == 503 and "Open the customer by their CRM id" in found.text
    assert _payments(ctx) == 0


def test_a_healthy_crm_shows_no_banner(agent: FlaskClient, clock: Clock) -> None:
    agent.get("/pay/agent/customers/CUST-0001")
    clock.advance(minutes=5)
    page = agent.get("/pay/agent/customers/CUST-0001")
    assert page.status_code == 200 and 'id="crm-notice"' not in page.text
