"""The Twilio keypad-capture adapter: the real ``twilio`` SDK's requests (checked with
``responses`` matchers on the form it sends) and the signed status callbacks."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import responses
from responses import matchers
from twilio.request_validator import RequestValidator

from connectors.telephony.twilio import TwilioKeypadCapture
from connectors.telephony.twilio.adapter import masked_card_number
from crm_pay.domain.errors import ConfigurationError, Conflict, CrmPayError, WebhookRejected
from crm_pay.ports import KeypadCallback, KeypadCapture, KeypadCapturePort, KeypadCaptureRequest

ACCOUNT = "AC" + "a" * 32
TOKEN = "test-auth-token"
CALL = "CA" + "b" * 32
PAY = "PK" + "c" * 32
BASE = "https://api.twilio.com/2010-04-01"
STATUS_URL = "https://crm.example/pay/telephony/twilio/status"


@pytest.fixture
def twilio_api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def adapter() -> TwilioKeypadCapture:
    return TwilioKeypadCapture(ACCOUNT, TOKEN, payment_connector="braintree_connector")


def _payment(sid: str = PAY) -> dict[str, str]:
    return {"account_sid": ACCOUNT, "call_sid": CALL, "sid": sid, "uri": "/x.json"}


def _signed(form: dict[str, str], url: str = STATUS_URL, token: str = TOKEN) -> KeypadCallback:
    signature = RequestValidator(token).compute_signature(url, form)
    return KeypadCallback(url=url, form=form, headers={"x-twilio-signature": signature})


def test_it_is_a_keypad_capture_port(adapter):
    assert isinstance(adapter, KeypadCapturePort)


def test_start_capture_sends_a_tokenize_only_pay_session(twilio_api, adapter):
    twilio_api.post(
        f"{BASE}/Accounts/{ACCOUNT}/Calls/{CALL}/Payments.json",
        json=_payment(),
        status=201,
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "IdempotencyKey": "pay_1:keypad:1",
                    "StatusCallback": STATUS_URL,
                    "PaymentConnector": "braintree_connector",
                    "TokenType": "reusable",
                    "ChargeAmount": "0",
                    "Currency": "usd",
                    "PostalCode": "false",
                    "SecurityCode": "true",
                    "ValidCardTypes": "visa mastercard amex discover",
                    "Timeout": "10",
                }
            )
        ],
    )
    capture = adapter.start_capture(
        KeypadCaptureRequest(
            call_id=CALL, request_key="pay_1:keypad:1", status_url=STATUS_URL, currency="USD"
        )
    )
    assert capture == KeypadCapture(capture_id=PAY, call_id=CALL)


@pytest.mark.parametrize(
    ("call", "params"),
    [
        (
            lambda a, c: a.ask_for(c, "expiration-date", request_key="k2", status_url=STATUS_URL),
            {"IdempotencyKey": "k2", "StatusCallback": STATUS_URL, "Capture": "expiration-date"},
        ),
        (
            lambda a, c: a.complete(c, request_key="k3", status_url=STATUS_URL),
            {"IdempotencyKey": "k3", "StatusCallback": STATUS_URL, "Status": "complete"},
        ),
        (
            lambda a, c: a.cancel(c, request_key="k4", status_url=STATUS_URL),
            {"IdempotencyKey": "k4", "StatusCallback": STATUS_URL, "Status": "cancel"},
        ),
    ],
)
def test_updates_steer_the_session(twilio_api, adapter, call, params):
    twilio_api.post(
        f"{BASE}/Accounts/{ACCOUNT}/Calls/{CALL}/Payments/{PAY}.json",
        json=_payment(),
        match=[matchers.urlencoded_params_matcher(params)],
    )
    call(adapter, KeypadCapture(capture_id=PAY, call_id=CALL))


def test_an_unknown_field_is_refused_before_twilio_is_called(twilio_api, adapter):
    with pytest.raises(Conflict, match="not a card field"):
        adapter.ask_for(
            KeypadCapture(PAY, CALL), "card-pin", request_key="k", status_url=STATUS_URL
        )
    assert len(twilio_api.calls) == 0


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (503, CrmPayError, "telephony_unavailable"),
        (429, CrmPayError, "telephony_unavailable"),
        (401, ConfigurationError, "configuration_error"),
        (400, Conflict, "telephony_refused"),
    ],
)
def test_twilio_errors_become_plain_errors(twilio_api, adapter, status, error, code):
    twilio_api.post(
        f"{BASE}/Accounts/{ACCOUNT}/Calls/{CALL}/Payments/{PAY}.json",
        json={"code": 64016, "message": "Pay: call is not in progress", "status": status},
        status=status,
    )
    with pytest.raises(error) as caught:
        adapter.complete(KeypadCapture(PAY, CALL), request_key="k", status_url=STATUS_URL)
    assert caught.value.code == code


def test_the_sdk_can_be_pointed_at_a_development_stand_in(twilio_api):
    local = TwilioKeypadCapture(
        ACCOUNT, TOKEN, payment_connector="c", base_url="http://127.0.0.1:8840/"
    )
    twilio_api.post(
        f"http://127.0.0.1:8840/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}/Payments/{PAY}.json",
        json=_payment(),
    )
    local.cancel(KeypadCapture(PAY, CALL), request_key="k", status_url=STATUS_URL)
    assert len(twilio_api.calls) == 1


def test_missing_settings_say_how_to_fix_them():
    with pytest.raises(ConfigurationError, match="auth token"):
        TwilioKeypadCapture(ACCOUNT, "", payment_connector="c")
    with pytest.raises(ConfigurationError, match="CRM_PAY_TWILIO_PAY_CONNECTOR"):
        TwilioKeypadCapture(ACCOUNT, TOKEN, payment_connector="")


CARD_NUMBER_UPDATE = {
    "AccountSid": ACCOUNT,
    "CallSid": CALL,
    "Sid": PAY,
    "Capture": "payment-card-number",
    "PartialResult": "false",
    "PaymentCardNumber": "xxxxxxxxxxxx1111",
    "PaymentCardType": "visa",
    "Required": "expiration-date,security-code",
}


def test_a_signed_status_update_is_decoded(adapter):
    status = adapter.parse_status(_signed(CARD_NUMBER_UPDATE))
    assert status.capture_id == PAY and status.call_id == CALL
    assert status.field == "payment-card-number"
    assert status.masked == "xxxxxxxxxxxx1111"
    assert status.card_brand == "visa"
    assert status.fields_left == ("expiration-date", "security-code")
    assert status.error is None and status.result is None and status.token is None
    assert status.digest == adapter.parse_status(_signed(CARD_NUMBER_UPDATE)).digest


def test_the_completing_update_carries_the_token(adapter):
    form = {
        "AccountSid": ACCOUNT,
        "CallSid": CALL,
        "Sid": PAY,
        "Result": "success",
        "PaymentToken": "tok_abc",
        "Required": "",
    }
    status = adapter.parse_status(_signed(form))
    assert status.result == "success" and status.token == "tok_abc"
    assert status.fields_left == ()


def test_an_invalid_entry_reports_its_error_type(adapter):
    form = {
        **CARD_NUMBER_UPDATE,
        "ErrorType": "invalid-card-number",
        "Required": "payment-card-number,expiration-date,security-code",
    }
    status = adapter.parse_status(_signed(form))
    assert status.error == "invalid-card-number"
    assert "payment-card-number" in status.fields_left


def test_an_unsigned_update_is_refused(adapter):
    with pytest.raises(WebhookRejected, match="not signed"):
        adapter.parse_status(KeypadCallback(STATUS_URL, CARD_NUMBER_UPDATE, {}))


def test_a_forged_update_is_refused(adapter):
    with pytest.raises(WebhookRejected, match="not Twilio's"):
        adapter.parse_status(_signed(CARD_NUMBER_UPDATE, token="someone-else"))


def test_a_tampered_update_is_refused(adapter):
    callback = _signed(CARD_NUMBER_UPDATE)
    tampered = {**CARD_NUMBER_UPDATE, "PaymentToken": "tok_attacker", "Result": "success"}
    with pytest.raises(WebhookRejected):
        adapter.parse_status(KeypadCallback(callback.url, tampered, callback.headers))


def test_an_update_signed_for_another_url_is_refused(adapter):
    callback = _signed(CARD_NUMBER_UPDATE, url="https://elsewhere.example/hook")
    with pytest.raises(WebhookRejected):
        adapter.parse_status(KeypadCallback(STATUS_URL, callback.form, callback.headers))


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("xxxxxxxxxxxx1111", "xxxxxxxxxxxx1111"),
        ("4111111111111111", "xxxxxxxxxxxx1111"),  # never more than the last 4 digits
        ("4111 1111 1111 1111", "xxxx xxxx xxxx 1111"),
        ("xxxxxxxx", "xxxxxxxx"),  # 8 digits keyed so far
        ("", None),
    ],
)
def test_card_numbers_are_masked_to_the_last_four(raw, shown):
    assert masked_card_number(raw) == shown


def test_an_unmasked_number_from_the_provider_never_gets_through(adapter):
    form = {**CARD_NUMBER_UPDATE, "PaymentCardNumber": "4111111111111111"}
    status = adapter.parse_status(_signed(form))
    assert status.masked == "xxxxxxxxxxxx1111"
    assert "41111" not in repr(status)


def test_the_signed_form_is_what_twilio_would_post():
    # The SDK's own validator accepts what _signed builds: the tests above test signatures.
    callback = _signed(CARD_NUMBER_UPDATE)
    assert RequestValidator(TOKEN).validate(
        STATUS_URL,
        dict(parse_qsl("&".join(f"{k}={v}" for k, v in CARD_NUMBER_UPDATE.items()))),
        callback.headers["x-twilio-signature"],
    )
