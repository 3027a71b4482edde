"""A keypad (DTMF) payment in real Chromium: the agent signs in, opens the customer on
the call (``?call_sid=`` as the incoming-call banner links), takes payment by keypad;
the caller keys Braintree's published test card on the demo's Twilio stand-in
(``/_sandbox/calls/<sid>/keypad``); the agent's keypad panel shows each field's
progress without a reload, the agent presses Complete and the page shows Approved with
a receipt number. Then the PCI check: no run of 5 digits of the card number (more than
its last 4) in the demo's database, its log or the Socket.IO frames the browser saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browserkit import AGENT_VIEWPORT, NO_MFA, Capture, DemoServer, assert_accessible, sign_in
from sqlalchemy import MetaData, create_engine, select

from paytest import card_fragments, free_port

pytestmark = pytest.mark.browser

CARD = "4111111111111111"  # Braintree's published Visa test number
CUSTOMER = "CUST-0002"


@pytest.fixture(scope="module")
def keypad_demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoServer]:
    # a telephony port of its own: another demo may hold the default one (8840)
    server = DemoServer(
        tmp_path_factory.mktemp("keypad"),
        env=dict(NO_MFA),
        args=("--telephony-port", str(free_port())),
    ).start()
    yield server
    server.stop()


def _phone_base(demo: DemoServer) -> str:
    """The Twilio stand-in's base URL, as the demo's banner names its virtual phone."""
    found = re.search(r"Virtual phone\s+(http://\S+)/_sandbox/phone", demo.log())
    assert found, demo.log()
    return found.group(1)


def _press(base: str, call_sid: str, keys: str) -> None:
    resp = requests.post(
        f"{base}/_sandbox/calls/{call_sid}/keypad", json={"keys": keys}, timeout=10
    )
    assert resp.status_code == 200, resp.text


def _row(page: Any, field: str) -> str:
    return f'#keypad-panel li[data-keypad-field="{field}"]'


def _words_say(page: Any, field: str, *texts: str) -> None:
    """Wait until the panel's words for ``field`` say one of ``texts``."""
    page.wait_for_function(
        "([id, texts]) => texts.some(t => document.getElementById(id).textContent.includes(t))",
        arg=[f"keypad-words-{field}", list(texts)],
    )


def _database_text(demo: DemoServer) -> str:
    engine = create_engine(f"sqlite:///{demo.instance / 'crm_pay.sqlite3'}")
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        text = "\n".join(repr(conn.execute(select(t)).all()) for t in meta.sorted_tables)
    engine.dispose()
    return text


def test_a_keypad_payment_from_the_customer_panel_to_approved(
    keypad_demo: DemoServer,
    agent_context: Any,
    browser: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    demo = keypad_demo
    capture = Capture(demo.base)
    capture.attach(agent_context)
    phone = _phone_base(demo)
    call = requests.post(f"{phone}/_sandbox/calls", json={}, timeout=10)
    assert call.status_code == 201, call.text
    call_sid = call.json()["sid"]

    agent = agent_context.new_page()
    # each step is a round trip agent → crm-pay → stand-in → signed callback → socket;
    # on a loaded 2-core CI machine one took longer than the default 15 s
    agent.set_default_timeout(45_000)
    sign_in(agent, demo.base, f"/pay/agent/customers/{CUSTOMER}?call_sid={call_sid}")
    # the call of the page's link is there, keypad chosen: the agent picks an invoice
    assert agent.is_checked("#channel-keypad")
    assert agent.input_value("#call-sid") == call_sid
    agent.check("#take-payment input[name=invoice] >> nth=0")
    agent.click("#take-payment button[type=submit]")
    agent.wait_for_url("**/agent/payments/**")
    agent.wait_for_selector("#live-connection[data-state=live]")
    agent.wait_for_selector('#keypad-panel[data-session="capturing"]')
    assert agent.get_attribute("#keypad-fields", "aria-live") == "polite"
    assert agent.is_disabled("#keypad-complete")
    agent.evaluate("window.keypadTestMarker = 1")  # gone if the page reloads

    # the caller keys the card number: its row says so, masked, without a reload
    _press(phone, call_sid, CARD + "#")
    agent.wait_for_selector(_row(agent, "payment-card-number") + '[data-state="done"]')
    words = agent.inner_text("#keypad-words-payment-card-number")
    assert words.startswith("Card number ✓") and words.endswith("1111)")
    assert CARD not in agent.inner_text("main")

    agent.click(_row(agent, "expiration-date") + " button")
    _words_say(agent, "expiration-date", "asked for", "being entered")  # whichever event lands last
    _press(phone, call_sid, "1230#")
    agent.wait_for_selector(_row(agent, "expiration-date") + '[data-state="done"]')
    assert agent.inner_text("#keypad-words-expiration-date") == "Expiry ✓"

    agent.click(_row(agent, "security-code") + " button")
    _words_say(agent, "security-code", "asked for", "being entered")  # whichever event lands last
    _press(phone, call_sid, "123#")
    agent.wait_for_selector(_row(agent, "security-code") + '[data-state="done"]')
    agent.wait_for_selector("#keypad-complete:not([disabled])")
    assert agent.evaluate("window.keypadTestMarker") == 1  # no reload so far
    shoot(agent, "agent-keypad-panel")

    agent.click("#keypad-complete")
    agent.wait_for_selector("#result #receipt-number")
    assert agent.inner_text("#payment-status") == "Approved"
    receipt = agent.inner_text("#receipt-number")
    assert re.fullmatch(r"R-\d{4}-\d{6}", receipt)
    agent.wait_for_selector('#keypad-panel[data-session="charged"]')
    assert agent.inner_text("#keypad-session") == "The card was charged."
    shoot(agent, "agent-keypad-approved")

    # the panel passes axe-core's WCAG A/AA checks (injected: a context without the CSP)
    payment_id = agent.get_attribute("#keypad-panel", "data-payment-id")
    audit = browser.new_context(bypass_csp=True, viewport=AGENT_VIEWPORT, device_scale_factor=1)
    try:
        page = audit.new_page()
        sign_in(page, demo.base, f"/pay/agent/payments/{payment_id}")
        page.wait_for_selector('#keypad-panel[data-session="charged"]')
        assert_accessible(page)
    finally:
        audit.close()

    # PCI: no 5 digits in a row of the card number anywhere it could leak to
    frames = [text for where, text in capture.texts if where.startswith("socket.io")]
    assert frames, "the browser saw no Socket.IO frames"
    places = {
        "database": _database_text(demo),
        "log": demo.log_since_ready(),
        "socket.io": "\n".join(frames),
        # our pages and JSON answers (static files are the same for everyone)
        "pages": "\n".join(
            text
            for where, text in capture.texts
            if where.startswith("response ") and "/static/" not in where
        ),
    }
    leaks = [
        f"{where}: {run}" for where, text in places.items() for run in card_fragments(text, CARD)
    ]
    assert not leaks
