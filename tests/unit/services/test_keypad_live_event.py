"""The live event of a keypad capture (``keypad_sessions.live_event``, pure): no field
reads as entered before the provider reported one."""

from __future__ import annotations

from dataclasses import replace

from crm_pay.services.keypad_sessions import KeypadSessionView, live_event

STARTED = KeypadSessionView(
    id=1,
    payment_id="pay_1",
    call_sid="CA" + "1" * 32,
    capture_sid="PK" + "1" * 32,
    status="capturing",
    field="payment-card-number",
    fields_left=(),
    error=None,
    result=None,
    card_brand=None,
    card_last4=None,
    card_exp=None,
    payment_status="created",
)


def test_a_capture_just_started_has_no_ticks() -> None:
    # nothing reported yet: no field left is not every field entered
    assert "fields" not in live_event(STARTED)


def test_the_ticks_follow_the_fields_the_provider_says_are_left() -> None:
    number_in = replace(
        STARTED, fields_left=("expiration-date", "security-code"), card_last4="1111"
    )
    assert live_event(number_in)["fields"] == {
        "number": True,
        "expirationDate": False,
        "cvv": False,
    }
    all_in = replace(number_in, fields_left=())
    assert live_event(all_in)["fields"] == {"number": True, "expirationDate": True, "cvv": True}
