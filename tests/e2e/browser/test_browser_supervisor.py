"""The supervisor's daily reconciliation in real Chromium, against a day with real
differences made through the real ``braintree`` SDK and the demo's sandbox:

- a pay link the customer pays (it matches),
- a second paid link whose amount our side then holds differently (``amount_mismatch``),
- a sale made at the sandbox directly, that we never asked for (``missing_in_ledger``).

The supervisor runs today with the page's button, reads the counts, the totals and each
difference in words with its case, runs it again (no new case), and the page carries no
card number. An agent is refused the page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import braintree
import pytest
from browserkit import (
    AGENT_VIEWPORT,
    NO_MFA,
    PHONE_VIEWPORT,
    Capture,
    DemoServer,
    hosted_field,
    pan_findings,
    sign_in,
    take_link_payment,
)
from sqlalchemy import create_engine, select, update

from crm_pay.demo import DEMO_USERS, SANDBOX_CREDENTIALS
from crm_pay.persistence.models import Payment

pytestmark = pytest.mark.browser

PAGE = "/pay/supervisor/reconciliation"
SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")
UNKNOWN_SALE = "12.34"  # the sale made at the sandbox behind our back
OUR_WRONG_AMOUNT = 5_500  # minor units our row is edited to (the PSP charged 50.00)
# A desktop as tall as the day's whole report, so its screenshot shows all of it.
SUPERVISOR_VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 940}


@pytest.fixture(scope="module")
def supervisor_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    """A demo of its own, so today's report holds only this test's transactions."""
    server = DemoServer(tmp_path_factory.mktemp("supervisor"), env=NO_MFA).start()
    yield server
    server.stop()


@pytest.fixture
def supervisor_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=SUPERVISOR_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _sandbox_gateway(demo: DemoServer) -> braintree.BraintreeGateway:
    """A real SDK gateway for the demo's sandbox, found in the demo's banner (the
    sandbox runs inside the demo process, as ``SandboxServer.braintree_gateway`` builds
    it: plain HTTP on 127.0.0.1, the demo's credentials)."""
    found = re.search(r"Sandbox\s+(http://([\d.]+):(\d+)) \(gateway\)", demo.log())
    assert found, demo.log()
    url, host, port = found.groups()
    environment = braintree.Environment("crm-pay-development-sandbox", host, port, url, False, None)
    return braintree.BraintreeGateway(
        braintree.Configuration(environment=environment, **SANDBOX_CREDENTIALS)
    )


def _customer_pays(customer: Any, pay_url: str) -> str:
    """The customer pays a pay link with Braintree's Visa test card; returns the receipt."""
    customer.goto(pay_url)
    for name, value in (
        ("number", "4111 1111 1111 1111"),
        ("expirationDate", "1230"),
        ("cvv", "123"),
        ("postalCode", "94107"),
    ):
        hosted_field(customer, name).press_sequentially(value, delay=10)
    customer.click("#pay-button:not([disabled])")
    customer.wait_for_selector("#receipt-number")
    return str(customer.inner_text("#receipt-number"))


def _paid_link(
    agent: Any, customer: Any, demo: DemoServer, crm_ref: str, invoice: str, **kw: Any
) -> str:
    agent.goto(f"{demo.base}/pay/agent/customers/{crm_ref}")
    payment_id = take_link_payment(agent, demo.base, crm_ref, invoices=(invoice,), **kw)
    _customer_pays(customer, demo.pay_url_for(payment_id))
    agent.wait_for_selector("#live-panel #receipt-number")
    return payment_id


def _today_utc() -> str:
    """Today (UTC), waiting out the last two minutes of a day so the payments and the
    run fall on one day."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    if midnight - now < timedelta(minutes=2):
        time.sleep((midnight - now).total_seconds())
    return datetime.now(UTC).date().isoformat()


def _rows(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))",
    )


def test_supervisor_reconciles_a_day_with_differences(
    supervisor_demo: DemoServer,
    supervisor_context: Any,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = supervisor_demo
    today = _today_utc()

    # -- the day: two link payments the customers pay, as on any day
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")
    customer = customer_context.new_page()
    matching = _paid_link(agent, customer, demo, "CUST-0001", "INV-1004")
    mismatching = _paid_link(agent, customer, demo, "CUST-0002", "INV-1002", amount="50.00")
    agent.goto(f"{demo.base}/pay/agent/payments/{matching}")
    matched_amount = re.search(r"USD ([\d,]+\.\d\d)", agent.inner_text("h1"))
    assert matched_amount, agent.inner_text("h1")

    # -- a sale at the PSP we never asked for (the real SDK, straight to the sandbox);
    # Braintree docs: Testing > Nonces, "fake-valid-nonce" is a valid Visa
    unknown = _sandbox_gateway(demo).transaction.sale(
        {
            "amount": UNKNOWN_SALE,
            "payment_method_nonce": "fake-valid-nonce",
            "options": {"submit_for_settlement": True},
        }
    )
    assert unknown.is_success, unknown
    unknown_id = unknown.transaction.id

    # -- our row of the second payment says another amount than the PSP charged
    engine = create_engine(f"sqlite:///{demo.instance / 'crm_pay.sqlite3'}")
    with engine.begin() as conn:
        changed = conn.execute(
            update(Payment).where(Payment.id == mismatching).values(amount_minor=OUR_WRONG_AMOUNT)
        )
        assert changed.rowcount == 1
        psp_of_mismatching = conn.scalar(
            select(Payment.psp_transaction_id).where(Payment.id == mismatching)
        )
    engine.dispose()
    assert psp_of_mismatching

    # -- an agent is refused the supervisor page
    refused = agent.goto(f"{demo.base}{PAGE}")
    assert refused is not None and refused.status == 403
    assert agent.inner_text("h1") == "Not allowed"
    assert "for supervisors" in agent.inner_text("p.error")
    assert agent.locator("#run-reconciliation").count() == 0

    # -- the supervisor opens today: not reconciled yet
    capture = Capture(demo.base)
    capture.attach(supervisor_context)
    page = supervisor_context.new_page()
    sign_in(page, demo.base, PAGE, SUPERVISOR)
    assert SUPERVISOR[0] in page.inner_text("#signed-in-as")
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    assert page.input_value("input[name=date]") == yesterday  # the worker's day
    page.click("#show-today")
    page.wait_for_url(f"**{PAGE}?date={today}")
    assert page.locator("#show-today").count() == 0
    assert "has not been reconciled yet" in page.inner_text("#not-reconciled")
    assert page.inner_text("#run-reconciliation") == f"Reconcile {today} now"

    # -- runs it with the page's button
    page.click("#run-reconciliation")
    page.wait_for_url(f"**{PAGE}?date={today}")
    flash = page.inner_text("p.flash")
    assert f"{today} reconciled: 1 matched, 2 differences, 2 new cases." in flash, flash
    assert page.inner_text("#psp-rows") == "3"
    assert page.inner_text("#matched") == "1"
    assert page.inner_text("#difference-count") == "2"
    assert _rows(page, "#totals") == [
        ["USD", "crm_pay_usd", "1", matched_amount.group(1), "0", "0.00", matched_amount.group(1)]
    ]
    lines = {
        row.get_attribute("data-kind"): row for row in page.locator("#differences tbody tr").all()
    }
    assert set(lines) == {"missing_in_ledger", "amount_mismatch"}
    missing, amount = lines["missing_in_ledger"], lines["amount_mismatch"]
    assert unknown_id in missing.inner_text()
    assert (
        f"The PSP has {UNKNOWN_SALE} USD submitted for settlement; we have no payment for it."
        in missing.inner_text()
    )
    assert psp_of_mismatching in amount.inner_text() and mismatching in amount.inner_text()
    assert "We hold 55.00 USD; the PSP charged 50.00 USD." in amount.inner_text()
    cases = {kind: row.get_attribute("data-case") for kind, row in lines.items()}
    assert all(c and c.isdigit() for c in cases.values()), cases
    assert "by supervisor@example.com" in page.inner_text("#report h2")
    shoot(page, "supervisor-01-reconciliation")

    # -- runs it again: the same differences, the same cases, none new
    page.click("#run-reconciliation")
    page.wait_for_url(f"**{PAGE}?date={today}")
    flash = page.inner_text("p.flash")
    assert f"{today} reconciled: 1 matched, 2 differences, 0 new cases." in flash, flash
    again = {
        row.get_attribute("data-kind"): row.get_attribute("data-case")
        for row in page.locator("#differences tbody tr").all()
    }
    assert again == cases
    assert "run 2×" in page.inner_text("#report h2")
    assert _rows(page, "#recent")[0][:4] == [today, "completed", "1", "2"]

    # -- on a phone-wide screen the report still reads (no sideways page)
    page.set_viewport_size(PHONE_VIEWPORT)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    page.locator("#differences").scroll_into_view_if_needed()
    shoot(page, "supervisor-02-reconciliation-phone")
    page.set_viewport_size(SUPERVISOR_VIEWPORT)

    # -- a day that has not begun is refused with words, and nothing is run
    tomorrow = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    page.goto(f"{demo.base}{PAGE}?date={tomorrow}")
    page.click("#run-reconciliation")
    page.wait_for_url(f"**{PAGE}")
    assert "has not begun yet" in page.inner_text("p.flash")
    page.goto(f"{demo.base}{PAGE}?date=31-01-2026")
    assert "write it as YYYY-MM-DD" in page.inner_text("#date-error")

    # -- the agent's refused page, for the guide
    shoot(agent, "supervisor-03-agent-refused")

    # -- no card number in anything the supervisor's browser received
    assert f"response {demo.base}{PAGE}?date={today}" in {where for where, _ in capture.texts}
    findings = pan_findings(capture.texts, cvv="123")
    assert findings == [], findings
