"""The take-payment form's keypad choice (agent_ui.console_forms): an ``ivr`` payment on
the call the agent names, only where keypad payments are set up."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from agent_ui.console_forms import FormError, parse_take_payment

CALL = "CA0123456789abcdef0123456789abcdef"
CUSTOMER: dict[str, Any] = {
    "crm_ref": "C-1",
    "currency": "USD",
    "email": None,
    "phone": None,
    "balance": "100.00",
    "invoices": [],
}


def _form(**fields: str) -> MultiDict[str, str]:
    return MultiDict({"idempotency_key": "k-1", "amount": "40.00", "channel": "keypad", **fields})


def test_keypad_makes_an_ivr_payment_on_the_named_call() -> None:
    taken = parse_take_payment(CUSTOMER, _form(call_sid=f"  {CALL} "), keypad_ready=True)
    assert (taken.command.channel, taken.call_sid, taken.send_by) == ("ivr", CALL, None)
    assert taken.command.payment_method_token is None and not taken.command.customer_consent
    # another call is another request: the same form key cannot be reused for it
    other = parse_take_payment(CUSTOMER, _form(call_sid="CA" + "1" * 32), keypad_ready=True)
    assert other.request_hash != taken.request_hash


def test_other_channels_name_no_call() -> None:
    form = _form(channel="card", card="tok", consent="yes", call_sid=CALL)
    assert parse_take_payment(CUSTOMER, form, keypad_ready=True).call_sid is None


@pytest.mark.parametrize(
    ("fields", "ready", "field", "words"),
    [
        ({"call_sid": CALL}, False, "channel", "Keypad payments are not set up here"),
        ({}, True, "call_sid", "Type the id of the customer's call"),
        ({"call_sid": "   "}, True, "call_sid", "Type the id of the customer's call"),
        ({"call_sid": "CA 12; drop"}, True, "call_sid", "not a call id"),
        ({"call_sid": "C" * 65}, True, "call_sid", "not a call id"),
    ],
)
def test_a_keypad_form_the_agent_must_fix_says_where(
    fields: dict[str, str], ready: bool, field: str, words: str
) -> None:
    with pytest.raises(FormError) as refused:
        parse_take_payment(CUSTOMER, _form(**fields), keypad_ready=ready)
    assert refused.value.field == field
    assert words in refused.value.message
