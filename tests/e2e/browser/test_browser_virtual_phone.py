"""The Twilio stand-in's virtual phone in real Chromium: a call placed with the form is
listed; with a keypad capture running (started through the stand-in's REST API, as
crm-pay's Twilio adapter starts it) the keypad's buttons and the keyboard press keys
into it, the phone's prompt follows the field asked for, the keys show as dots only;
Hang up ends the call and its capture. axe-core finds nothing serious on either page;
the keypad's screenshot illustrates the agent guide (``virtual-phone-keypad.png``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import PHONE_VIEWPORT, assert_accessible

from connectors.telephony.twilio import TwilioKeypadCapture
from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay.ports import KeypadCapture, KeypadCaptureRequest

pytestmark = pytest.mark.browser

CARD = "4111111111111111"  # Braintree's published Visa test number
STATUS_URL = "http://127.0.0.1:9/pay/telephony/twilio/status"  # nobody listens: not needed


@pytest.fixture
def twilio() -> Iterator[TwilioSandboxServer]:
    with TwilioSandboxServer(TwilioSandboxConfig(callback_timeout=0.5)) as server:
        yield server


@pytest.fixture
def adapter(twilio: TwilioSandboxServer) -> TwilioKeypadCapture:
    return TwilioKeypadCapture(
        twilio.config.account_sid,
        twilio.config.auth_token,
        payment_connector="Default",
        base_url=twilio.base_url,
    )


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """The caller's phone-sized browser, letting the test inject axe-core."""
    context = browser.new_context(
        bypass_csp=True, viewport=PHONE_VIEWPORT, device_scale_factor=1, has_touch=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def _ask(adapter: TwilioKeypadCapture, capture: KeypadCapture, field: str, n: int) -> None:
    adapter.ask_for(capture, field, request_key=f"k{n}", status_url=STATUS_URL)


def _prompt(page: Any, words: str) -> None:
    page.wait_for_function(
        "w => document.getElementById('prompt').textContent.includes(w)", arg=words
    )


def _keyed(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.getElementById('keyed').textContent.length === n", arg=count
    )


def test_the_caller_keys_the_card_on_the_virtual_phone(
    twilio: TwilioSandboxServer,
    adapter: TwilioKeypadCapture,
    phone: Any,
    shoot: Callable[[Any, str], Path],
) -> None:
    page = phone
    page.goto(twilio.phone_url)
    assert "Development tool — Twilio stand-in, not Twilio" in page.inner_text("body")
    assert page.input_value("#caller") == "+12125550101"
    assert_accessible(page)
    page.get_by_role("button", name="Place a call").click()
    page.wait_for_url(re.compile(r"/_sandbox/calls/CA[0-9a-f]{32}/phone$"))
    call_sid = page.url.rsplit("/", 2)[-2]
    _prompt(page, "You are connected to your agent.")

    page.goto(twilio.phone_url)
    row = page.locator("#calls tbody tr", has_text=call_sid)
    assert "+12125550101" in row.inner_text() and "in-progress" in row.inner_text()
    row.get_by_role("link", name="Keypad").click()

    capture = adapter.start_capture(
        KeypadCaptureRequest(
            call_id=call_sid, request_key="k1", status_url=STATUS_URL, currency="USD"
        )
    )
    _ask(adapter, capture, "payment-card-number", 2)
    _prompt(page, "Please enter your card number, followed by the pound key.")
    assert page.get_attribute("#prompt", "aria-live") == "polite"
    for digit in CARD[:12]:  # the buttons, as a finger presses them
        page.get_by_role("button", name=digit, exact=True).click()
    _keyed(page, 12)
    assert re.fullmatch("•{12}", page.inner_text("#keyed"))
    assert_accessible(page)
    page.mouse.move(1, 1)  # no key shown hovered in the picture
    shoot(page, "virtual-phone-keypad")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.type(CARD[12:])  # and the keyboard
    _keyed(page, 16)
    page.get_by_role("button", name="pound").click()
    _prompt(page, "Thank you. Please hold for your agent.")
    assert CARD not in page.content()
    session = twilio.payment(capture.capture_id)
    assert session.card is not None and session.card.last4 == "1111"

    _ask(adapter, capture, "expiration-date", 3)
    _prompt(page, "expiration date")
    page.keyboard.type("1230#")
    _prompt(page, "Thank you.")
    assert twilio.payment(capture.capture_id).expiration_date == "1230"

    _ask(adapter, capture, "security-code", 4)
    _prompt(page, "security code")
    page.get_by_role("button", name="Hang up").click()
    _prompt(page, "The call has ended.")
    assert page.inner_text("#call-status") == "completed"
    assert page.get_by_role("button", name="5", exact=True).is_disabled()
    assert twilio.payment(capture.capture_id).state == "cancelled"
    results = [d.form.get("Result") for d in twilio.wait_for_callbacks(10)]
    assert results[-1] == "caller-hung-up"


def test_a_key_with_nothing_listening_says_so_and_goes_nowhere(
    twilio: TwilioSandboxServer, phone: Any
) -> None:
    call = twilio.place_call()
    phone.goto(f"{twilio.base_url}/_sandbox/calls/{call.sid}/phone")
    phone.get_by_role("button", name="7", exact=True).click()
    phone.wait_for_function("document.getElementById('problem').textContent.length > 0")
    assert "Nothing is listening for keys" in phone.inner_text("#problem")
    assert phone.inner_text("#keyed") == ""
    assert twilio.wait_for_callbacks() == []
