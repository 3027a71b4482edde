"""The Twilio stand-in's rules one by one: what keyed digits it accepts (Twilio's card
types and error types, Braintree's test cards only), its signature against the SDK's
validator, and the Payments parameters it refuses as Twilio does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import pytest
import requests
from twilio.request_validator import RequestValidator

from connectors.psp.braintree_sandbox.cards import TEST_CARD_OUTCOMES
from connectors.telephony.twilio_sandbox import (
    TwilioSandboxConfig,
    TwilioSandboxServer,
    twilio_signature,
)
from connectors.telephony.twilio_sandbox.keyed_card import (
    CARD_TYPES,
    EntryError,
    check_card_number,
    check_expiration_date,
    check_postal_code,
    check_security_code,
)

STATUS_URL = "http://127.0.0.1:9/unreachable/status"  # callbacks fail; these tests read them


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223000048400011", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("6304000000000000", "maestro"),
    ],
)
def test_braintree_test_cards_get_twilios_card_type(number, brand):
    card = check_card_number(number, CARD_TYPES)
    assert (card.card_type, card.last4, card.bin) == (brand, number[-4:], number[:6])
    assert card.masked == "x" * (len(number) - 4) + number[-4:]


def test_every_published_test_card_is_accepted():
    for number in TEST_CARD_OUTCOMES:
        assert check_card_number(number, CARD_TYPES).last4 == number[-4:]


@pytest.mark.parametrize(
    ("number", "types", "error"),
    [
        ("4242424242424242", CARD_TYPES, "invalid-card-number"),  # valid Luhn, not a test card
        ("4111111111111112", CARD_TYPES, "invalid-card-number"),  # Luhn
        ("41111111111111111", CARD_TYPES, "invalid-card-number"),  # 17 digits: no Visa length
        ("9111111111111111", CARD_TYPES, "invalid-card-number"),  # no brand
        ("", CARD_TYPES, "invalid-card-number"),
        ("378282246310005", ("visa", "mastercard"), "invalid-card-type"),
    ],
)
def test_card_numbers_twilio_refuses(number, types, error):
    with pytest.raises(EntryError) as refused:
        check_card_number(number, types)
    assert refused.value.error_type == error
    assert not number or number not in repr(refused.value)  # the error never echoes it


def test_an_expiry_is_good_to_the_end_of_its_month():
    today = date(2026, 12, 4)
    assert check_expiration_date("1226", today) == "1226"
    for keyed in ("1126", "0026", "1326", "126", "12a6"):
        with pytest.raises(EntryError, match="invalid-date"):
            check_expiration_date(keyed, today)


def test_security_code_and_postal_code_lengths():
    amex = check_card_number("378282246310005", CARD_TYPES)
    visa = check_card_number("4111111111111111", CARD_TYPES)
    assert check_security_code("1234", amex) == "xxxx"
    assert check_security_code("123", visa) == "xxx"
    for code, card in (("123", amex), ("1234", visa), ("", visa)):
        with pytest.raises(EntryError, match="invalid-security-code"):
            check_security_code(code, card)
    assert check_postal_code("94109", 5) == "94109"
    with pytest.raises(EntryError, match="invalid-postal-code"):
        check_postal_code("9410", 5)


def test_the_signature_is_the_one_the_sdk_validates():
    form = {"Sid": "PK" + "a" * 32, "PaymentCardNumber": "xxxxxxxxxxxx1111", "Required": ""}
    url = "https://crm.example/pay/telephony/twilio/status?tenant=1"
    signature = twilio_signature("secret", url, form)
    assert RequestValidator("secret").validate(url, form, signature)
    assert not RequestValidator("secret").validate(url, {**form, "Required": "x"}, signature)


# ----------------------------------------------------------------------------- REST


@pytest.fixture
def tokenized() -> list[str]:
    """What the stand-in's tokenizer was given, one entry per completed capture."""
    return []


@pytest.fixture
def twilio(tokenized: list[str]) -> Iterator[TwilioSandboxServer]:
    def tokenizer(card, expiration_date):
        tokenized.append(f"{card.card_type}:{card.bin}:{card.last4}:{expiration_date}")
        return "bt_token_1", "customer_1"

    with TwilioSandboxServer(TwilioSandboxConfig(tokenizer=tokenizer)) as server:
        yield server


def _post(twilio: TwilioSandboxServer, path: str, **form: str) -> requests.Response:
    config = twilio.config
    return requests.post(
        f"{twilio.base_url}/2010-04-01/Accounts/{config.account_sid}/Calls/{path}",
        data={"IdempotencyKey": form.pop("key", "k1"), "StatusCallback": STATUS_URL, **form},
        auth=(config.account_sid, config.auth_token),
        timeout=5,
    )


def _started(twilio: TwilioSandboxServer, **form: str) -> tuple[str, str]:
    call = twilio.place_call()
    answer = _post(twilio, f"{call.sid}/Payments.json", **form)
    assert answer.status_code == 201, answer.text
    return call.sid, answer.json()["sid"]


@pytest.mark.parametrize(
    ("form", "code", "words"),
    [
        ({"ChargeAmount": "10.00"}, 64020, "only tokenizes"),
        ({"ChargeAmount": "-0.5"}, 64020, "ChargeAmount"),
        ({"PaymentMethod": "ach-debit"}, 64020, "credit-card only"),
        ({"TokenType": "forever"}, 64020, "TokenType"),
        ({"Timeout": "601"}, 64020, "Timeout"),
        ({"ValidCardTypes": "visa bankcard"}, 64020, "ValidCardTypes"),
        ({"PaymentConnector": "Stripe_1"}, 64004, "paymentConnector"),
        ({"StatusCallback": "/relative"}, 64020, "absolute"),
    ],
)
def test_start_parameters_twilio_refuses(twilio, form, code, words):
    call = twilio.place_call()
    answer = _post(twilio, f"{call.sid}/Payments.json", **form)
    assert answer.status_code == 400
    assert answer.json()["code"] == code and words in answer.json()["message"]
    assert twilio.switchboard.call(call.sid).payment_sid is None


def test_a_missing_idempotency_key_is_refused(twilio):
    call = twilio.place_call()
    answer = requests.post(
        f"{twilio.base_url}/2010-04-01/Accounts/{twilio.config.account_sid}/Calls/{call.sid}"
        "/Payments.json",
        data={"StatusCallback": STATUS_URL},
        auth=(twilio.config.account_sid, twilio.config.auth_token),
        timeout=5,
    )
    assert answer.status_code == 400 and "IdempotencyKey" in answer.json()["message"]


def test_a_repeated_update_does_nothing_twice(twilio):
    call_sid, pay_sid = _started(twilio)
    for _ in range(2):
        answer = _post(
            twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k2", Capture="postal-code"
        )
        assert answer.status_code == 200
    captures = [d.form.get("Capture") for d in twilio.wait_for_callbacks()]
    assert captures == [None, "postal-code"]


def test_asking_again_forgets_the_earlier_entry(twilio):
    call_sid, pay_sid = _started(twilio, PostalCode="true")
    _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k2", Capture="postal-code")
    twilio.press(call_sid, "94109#")
    _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k3", Capture="postal-code")
    forms = [d.form for d in twilio.wait_for_callbacks()]
    assert forms[2]["PaymentCardPostalCode"] == "94109"
    assert "PaymentCardPostalCode" not in forms[3] and "postal-code" in forms[3]["Required"]


def test_silence_is_an_input_timeout(twilio):
    call_sid, pay_sid = _started(twilio)
    _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k2", Capture="expiration-date")
    answer = requests.post(f"{twilio.base_url}/_sandbox/calls/{call_sid}/silence", timeout=5)
    assert answer.status_code == 200
    last = twilio.wait_for_callbacks()[-1].form
    assert last["ErrorType"] == "input-timeout" and last["Capture"] == "expiration-date"


def test_the_tokenizer_sees_the_card_but_never_its_number(twilio, tokenized):
    call_sid, pay_sid = _started(twilio, PostalCode="false", SecurityCode="false")
    _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k2", Capture="payment-card-number")
    twilio.press(call_sid, "5555555555554444#")
    _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k3", Capture="expiration-date")
    twilio.press(call_sid, "0739#")
    assert _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key="k4", Status="complete").ok
    done = twilio.wait_for_callbacks()[-1].form
    assert (done["Result"], done["PaymentToken"], done["ProfileId"]) == (
        "success",
        "bt_token_1",
        "customer_1",
    )
    assert tokenized == ["mastercard:555555:4444:0739"]


def test_two_callers_at_once_keep_their_own_sessions(twilio):
    sessions = [_started(twilio, key=f"start-{n}") for n in range(2)]
    for n, (call_sid, pay_sid) in enumerate(sessions):
        _post(twilio, f"{call_sid}/Payments/{pay_sid}.json", key=f"ask-{n}", Capture="postal-code")
    threads = [
        threading.Thread(target=twilio.press, args=(call_sid, f"{10000 + n}#"))
        for n, (call_sid, _pay) in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, (_call, pay_sid) in enumerate(sessions):
        assert twilio.payment(pay_sid).postal_code == f"{10000 + n}"
