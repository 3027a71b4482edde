"""Incoming calls in real Chromium: the telephony platform reports a call for the
signed-in agent (``POST /pay/api/v1/calls`` with the demo's key) and the banner pops on
the agent's console within a second, names the customer, and its Open link brings up the
customer with the call SID; several matches are listed, an unknown number offers a
search, Dismiss removes the banner. axe-core finds nothing serious on the page with the
banner; the screenshot illustrates docs/agent-guide.md."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browserkit import AGENT_VIEWPORT, NO_MFA, DemoServer, assert_accessible, sign_in

from crm_pay.demo import DEMO_USERS

pytestmark = pytest.mark.browser

SID = "CA" + "a1b2c3d4" * 4
LISTENING = 'script[src*="calls.js"][data-state="live"]'


@pytest.fixture(scope="module")
def calls_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    server = DemoServer(
        tmp_path_factory.mktemp("calls"), env=NO_MFA, args=("--telephony-port", "0")
    ).start()
    yield server
    server.stop()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    """The agent's desktop browser, letting the test inject axe-core."""
    context = browser.new_context(bypass_csp=True, viewport=AGENT_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _api_key(demo: DemoServer) -> str:
    found = re.search(r"^(cpk_\S+)$", demo.log(), re.MULTILINE)
    assert found, "the demo printed no API key"
    return found.group(1)


def _telephony_base(demo: DemoServer) -> str:
    found = re.search(r"Virtual phone\s+(http://127\.0\.0\.1:\d+)/", demo.log())
    assert found, "the demo named no virtual phone"
    return found.group(1)


def _report_call(demo: DemoServer, caller: str, call_sid: str) -> requests.Response:
    return requests.post(
        f"{demo.base}/pay/api/v1/calls",
        json={"caller": caller, "agent": "agent@example.com", "call_sid": call_sid},
        headers={"Authorization": f"Bearer {_api_key(demo)}"},
        timeout=10,
    )


def test_a_call_pops_the_customer_on_the_agents_console(
    calls_demo: DemoServer, desk: Any, shoot: Callable[[Any, str], Path]
) -> None:
    demo = calls_demo
    page = desk.new_page()
    sign_in(page, demo.base, "/pay/agent/")
    page.wait_for_selector(LISTENING, state="attached")

    started = time.monotonic()
    resp = _report_call(demo, "+12125550101", SID)
    assert resp.status_code == 202, resp.text
    banner = page.wait_for_selector(f'.incoming-call[data-call-sid="{SID}"]', timeout=1_000)
    assert time.monotonic() - started < 1.0, "the banner took more than a second"

    text = " ".join(banner.inner_text().split())
    assert text.startswith("Incoming call from +1 212 555 0101 — Eleanor Whitfield (Open)")
    region = page.locator("#incoming-calls")
    assert region.get_attribute("role") == "status"
    assert region.get_attribute("aria-live") == "polite"
    assert_accessible(page)
    shoot(page, "agent-incoming-call")

    # the same call again (a retry) replaces its banner rather than adding one
    assert _report_call(demo, "+12125550101", SID).status_code == 200
    page.wait_for_timeout(300)
    assert page.locator(f'.incoming-call[data-call-sid="{SID}"]').count() == 1

    page.click(f'.incoming-call[data-call-sid="{SID}"] a.open-customer')
    page.wait_for_url(f"**/pay/agent/customers/CUST-0001?call_sid={SID}")
    assert "Eleanor Whitfield" in page.inner_text("main")


def test_several_matches_are_listed_and_an_unknown_number_offers_a_search(
    calls_demo: DemoServer, desk: Any
) -> None:
    demo = calls_demo
    page = desk.new_page()
    sign_in(page, demo.base, "/pay/agent/")
    page.wait_for_selector(LISTENING, state="attached")

    shared_sid, unknown_sid = "CA" + "0" * 31 + "7", "CA" + "0" * 31 + "8"
    assert _report_call(demo, "+14155550142", shared_sid).status_code == 202
    shared = page.wait_for_selector(f'.incoming-call[data-call-sid="{shared_sid}"]')
    assert "2 customers have this number" in shared.inner_text()
    names = shared.query_selector_all(".incoming-call-matches li")
    assert sorted(" ".join(n.inner_text().split()) for n in names) == [
        "Arjun Raman (Open)",
        "Priya Raman (Open)",
    ]

    assert _report_call(demo, "+19995550000", unknown_sid).status_code == 202
    unknown = page.wait_for_selector(f'.incoming-call[data-call-sid="{unknown_sid}"]')
    assert "not found in the CRM, search" in unknown.inner_text()
    search = unknown.query_selector("a.search-caller")
    assert search is not None
    assert search.get_attribute("href") == "/pay/agent/lookup?phone=%2B19995550000"
    assert_accessible(page)

    unknown.query_selector("button.dismiss-call").click()  # type: ignore[union-attr]
    assert page.locator(f'.incoming-call[data-call-sid="{unknown_sid}"]').count() == 0
    assert page.locator(f'.incoming-call[data-call-sid="{shared_sid}"]').count() == 1


def test_the_admins_twilio_page_tests_the_connection(calls_demo: DemoServer, desk: Any) -> None:
    """The demo runs the Twilio stand-in with its auth token in the vault: Test
    connection reads the account through the real SDK."""
    demo = calls_demo
    page = desk.new_page()
    admin = next((email, pw) for email, role, pw in DEMO_USERS if role == "admin")
    sign_in(page, demo.base, "/pay/admin/", admin)
    page.click("#telephony-link")
    page.wait_for_url("**/pay/admin/telephony/")
    assert page.input_value("#taskrouter-url").endswith("/pay/telephony/twilio/taskrouter")
    assert page.inner_text("#auth-token-state") == "set"
    assert_accessible(page)

    page.click("#test-form button[type=submit]")
    page.wait_for_selector(".flash.notice")
    assert "Test connection passed ✓" in page.inner_text(".flash.notice")


def test_a_call_the_twilio_stand_in_hands_to_the_agent_pops_through_taskrouter(
    calls_demo: DemoServer, desk: Any
) -> None:
    """The whole path: the stand-in places a call for the agent and posts TaskRouter's
    signed ``reservation.accepted`` to crm-pay, which pops the banner."""
    demo = calls_demo
    page = desk.new_page()
    sign_in(page, demo.base, "/pay/agent/")
    page.wait_for_selector(LISTENING, state="attached")

    placed = requests.post(
        f"{_telephony_base(demo)}/_sandbox/calls",
        json={"from": "+16175550168", "to": "+12125550199", "agent": "agent@example.com"},
        timeout=10,
    )
    assert placed.status_code == 201, placed.text
    call_sid = placed.json()["sid"]

    banner = page.wait_for_selector(f'.incoming-call[data-call-sid="{call_sid}"]')
    text = " ".join(banner.inner_text().split())
    assert text.startswith("Incoming call from +1 617 555 0168 — Sofia Delgado (Open)")
