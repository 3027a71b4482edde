"""The payment operations dashboard in real Chromium against ``crm-pay demo``:

- the demo's database gets a known set of payments over the last three weeks (bulk rows,
  as the benchmark makes them), so every figure has an answer the test knows;
- the supervisor opens ``/pay/dashboard/``: every panel's chart is drawn on a canvas,
  no console error, no CSP violation (the page loads Chart.js and its own script as
  files, nothing inline);
- a narrower date range updates the figures without reloading the page;
- a panel's CSV downloads with its rows;
- a payment the customer pays while the dashboard is open shows up without a reload
  (the ``dashboard_changed`` nudge over Socket.IO, then a fetch of the figures);
- an agent is refused; nothing the browsers saw carries a card number.

Screenshots: ``docs/screenshots/dashboard-0*.png`` with ``UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    AGENT_VIEWPORT,
    NO_MFA,
    Capture,
    DemoServer,
    hosted_field,
    pan_findings,
    sign_in,
    take_link_payment,
)
from sqlalchemy import create_engine, insert

from crm_pay.demo import DEMO_USERS
from crm_pay.persistence.models import Case, Customer, Message, Payment, PaymentEventRow

pytestmark = pytest.mark.browser

PAGE = "/pay/dashboard/"
SUPERVISOR = next((email, pw) for email, role, pw in DEMO_USERS if role == "supervisor")
DASHBOARD_VIEWPORT = {"width": AGENT_VIEWPORT["width"], "height": 1400}
STATUSES = ["settled"] * 6 + ["submitted_for_settlement"] * 2 + ["declined", "failed", "expired"]
CATEGORIES = ["insufficient_funds", "expired_card", "security_code"]


@pytest.fixture(scope="module")
def dashboard_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    """A demo of its own: its figures are only this test's payments."""
    server = DemoServer(tmp_path_factory.mktemp("dashboard"), env=NO_MFA).start()
    yield server
    server.stop()


@pytest.fixture
def dashboard_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport=DASHBOARD_VIEWPORT, device_scale_factor=1, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _seed(demo: DemoServer) -> list[datetime]:
    """180 USD payments over the last 21 days, with their sale events, some refunds,
    receipts and cases (so every panel has something to draw); returns the payments'
    creation times."""
    rng = random.Random(2026)
    now = datetime.now(UTC)
    times = [now - timedelta(minutes=rng.randrange(30, 21 * 1440)) for _ in range(180)]
    engine = create_engine(f"sqlite:///{demo.instance / 'crm_pay.sqlite3'}")
    with engine.begin() as conn:
        customer = conn.execute(
            insert(Customer).values(
                crm_ref="DASH-SEED", name="Seeded", currency="USD", synced_at=now
            )
        ).inserted_primary_key[0]
        rows = []
        for n, at in enumerate(times):
            status = rng.choice(STATUSES)
            rows.append(
                {
                    "id": f"pay_seed{n:05d}",
                    "customer_id": customer,
                    "channel": rng.choice(["link", "vaulted"]),
                    "status": status,
                    "amount_minor": rng.randrange(500, 40_000),
                    "currency": "USD",
                    "requested_allocations": {},
                    "created_by": rng.choice(["user:1:agent@example.com", "api_key:9:crm"]),
                    "description": "",
                    "attempt": 1,
                    "janitor_checks": 0,
                    "decline_category": rng.choice(CATEGORIES)
                    if status in ("declined", "failed")
                    else None,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        conn.execute(insert(Payment), rows)
        taken = [r for r in rows if r["status"] in ("settled", "submitted_for_settlement")]
        events, receipts = [], []
        for r in taken:
            sold = r["created_at"] + timedelta(seconds=30)
            events.append(_sale_event(r, "sale_succeeded", r["amount_minor"], sold))
            if rng.random() < 0.08:
                events.append(_sale_event(r, "refund_succeeded", r["amount_minor"] // 2, sold))
            receipts.append(
                {
                    "message_id": f"receipt.{r['id']}@example.com",
                    "kind": "receipt",
                    "channel": "email",
                    "recipient": "customer@example.com",
                    "payment_id": r["id"],
                    "status": "sent" if rng.random() < 0.95 else "failed",
                    "attempts": 1,
                    "created_by": "system",
                    "created_at": sold,
                }
            )
        conn.execute(insert(PaymentEventRow), events)
        conn.execute(insert(Message), receipts)
        cases = []
        for k in range(24):
            opened = now - timedelta(hours=rng.randrange(1, 20 * 24))
            resolved = opened + timedelta(hours=rng.randrange(1, 72)) if k % 3 else None
            cases.append(
                {
                    "kind": rng.choice(["failed", "overpaid", "unknown_at_psp"]),
                    "subject": f"seed-{k}",
                    "status": "open" if resolved is None or resolved > now else "resolved",
                    "detail": {},
                    "opened_at": opened,
                    "due_at": opened + timedelta(days=1),
                    "resolved_at": resolved if resolved is not None and resolved <= now else None,
                }
            )
        conn.execute(
            insert(Case), [{k: v for k, v in c.items() if k in Case.__table__.c} for c in cases]
        )
    engine.dispose()
    return times


def _sale_event(row: dict[str, Any], kind: str, amount: int, at: datetime) -> dict[str, Any]:
    return {
        "payment_id": row["id"],
        "kind": kind,
        "amount_minor": amount,
        "currency": "USD",
        "detail": {},
        "created_at": at,
    }


def _customer_pays(customer: Any, pay_url: str) -> None:
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


def test_supervisor_reads_the_dashboard_live(
    dashboard_demo: DemoServer,
    dashboard_context: Any,
    agent_context: Any,
    customer_context: Any,
    shoot: Callable[[Any, str], Path],
    tmp_path: Path,
) -> None:
    demo = dashboard_demo
    times = _seed(demo)

    # -- an agent is refused
    agent = agent_context.new_page()
    sign_in(agent, demo.base, "/pay/agent/customers/CUST-0001")
    refused = agent.goto(f"{demo.base}{PAGE}")
    assert refused is not None and refused.status == 403
    assert "for supervisors and admins" in agent.inner_text("p.error")
    agent.goto(f"{demo.base}/pay/agent/customers/CUST-0001")

    # -- the supervisor opens the dashboard: every chart drawn, no error, CSP kept
    capture = Capture(demo.base)
    capture.attach(dashboard_context)
    page = dashboard_context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, demo.base, PAGE, SUPERVISOR)
    page.wait_for_selector("#live-state[data-state=live]")
    panels = page.eval_on_selector_all("[data-panel]", "s => s.map(e => e.dataset.panel)")
    assert {"outcomes", "declines", "daily", "agents", "open_cases", "csat"} <= set(panels)
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('canvas')]"
        ".filter(c => window.Chart.getChart(c) && c.width > 0).length"
    )
    assert drawn == len(panels)
    assert page.inner_text("#payment-count") == str(len(times))
    csp = page.evaluate("() => document.querySelectorAll('script:not([src])').length")
    assert csp == 0
    shoot(page, "dashboard-01-overview")

    # -- a narrower range: the figures change without a reload
    today = datetime.now(UTC).date()
    start = today - timedelta(days=6)
    in_week = sum(1 for t in times if t.date() >= start)
    page.evaluate("() => { window.notReloaded = true; }")
    page.fill("#range-start", start.isoformat())
    page.click("#range-show")
    page.wait_for_function(
        "n => document.getElementById('payment-count').textContent === String(n)", arg=in_week
    )
    assert page.evaluate("() => window.notReloaded") is True
    assert f"start={start.isoformat()}" in page.url
    daily_rows = page.locator("#table-daily tbody tr").count()
    assert daily_rows == 7
    shoot(page, "dashboard-02-last-week")

    assert problems == [], problems

    # -- a bad range is refused in words, the figures stay
    page.fill("#range-end", (start - timedelta(days=3)).isoformat())
    page.click("#range-show")
    page.wait_for_selector("#fetch-error:not([hidden])")
    assert "before it starts" in page.inner_text("#fetch-error")
    page.fill("#range-end", today.isoformat())
    page.click("#range-show")
    page.wait_for_selector("#fetch-error", state="hidden")
    # the browser logs the refused fetch itself (422); nothing else may appear
    assert [p for p in problems if "status of 422" not in p] == [], problems
    problems.clear()

    # -- a panel downloads as CSV
    with page.expect_download() as download:
        page.click("#csv-outcomes")
    saved = tmp_path / "outcomes.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == "outcome,payments,amount (USD)"
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == in_week

    # -- a payment taken now appears while the page stays open
    customer = customer_context.new_page()
    payment_id = take_link_payment(agent, demo.base, "CUST-0001", invoices=("INV-1004",))
    _customer_pays(customer, demo.pay_url_for(payment_id))
    page.wait_for_function(
        "n => document.getElementById('payment-count').textContent === String(n)",
        arg=in_week + 1,
        timeout=20_000,
    )
    assert page.evaluate("() => window.notReloaded") is True

    assert problems == [], problems
    findings = pan_findings(capture.texts, cvv="123")
    assert findings == [], findings
