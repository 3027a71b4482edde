"""The Twilio stand-in over HTTP, driven by the real ``twilio`` SDK through crm-pay's
adapter: a full keypad capture with signed, masked status callbacks, and Twilio's
refusals (unknown call, capture before start, bad digits)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.telephony.twilio import TwilioKeypadCapture
from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay.domain.errors import Conflict
from crm_pay.ports import KeypadCallback, KeypadCapture, KeypadCaptureRequest, KeypadStatus

VISA = "4111111111111111"  # Braintree's published test cards
AMEX = "378282246310005"


@dataclass(frozen=True)
class Received:
    url: str
    form: dict[str, str]
    headers: dict[str, str]


class CallbackReceiver:
    """crm-pay's side of the status callbacks: a local HTTP endpoint that keeps each POST."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/pay/telephony/twilio/status"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self, environ, start_response):
        request = Request(environ)
        item = Received(
            request.url,
            request.form.to_dict(),
            {k.lower(): v for k, v in request.headers.items()},
        )
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        return Response(status=204)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} status callbacks arrived, expected {count}"
            )
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    receiver._thread.start()
    yield receiver
    receiver._server.shutdown()
    receiver._server.server_close()


@pytest.fixture
def twilio() -> Iterator[TwilioSandboxServer]:
    with TwilioSandboxServer(TwilioSandboxConfig()) as server:
        yield server


@pytest.fixture
def adapter(twilio: TwilioSandboxServer) -> TwilioKeypadCapture:
    return TwilioKeypadCapture(
        twilio.config.account_sid,
        twilio.config.auth_token,
        payment_connector="braintree_connector",
        base_url=twilio.base_url,
    )


def _start(adapter: TwilioKeypadCapture, call_sid: str, url: str, key: str = "k1") -> KeypadCapture:
    return adapter.start_capture(
        KeypadCaptureRequest(call_id=call_sid, request_key=key, status_url=url, currency="USD")
    )


def _parsed(adapter: TwilioKeypadCapture, item: Received) -> KeypadStatus:
    """The callback as crm-pay's adapter verifies and reads it (signature included)."""
    return adapter.parse_status(KeypadCallback(item.url, item.form, item.headers))


def test_a_full_keypad_capture_ends_with_a_token(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    assert re.fullmatch(r"PK[0-9a-f]{32}", capture.capture_id)
    assert capture.call_id == call.sid
    started = receiver.wait_for(1)[0]
    assert started.form["Sid"] == capture.capture_id
    assert started.form["PaymentConnector"] == "braintree_connector"
    assert started.form["TokenType"] == "reusable"
    assert started.form["PaymentMethod"] == "credit-card"

    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    twilio.press(call.sid, VISA[:12])
    twilio.press(call.sid, VISA[12:] + "#")
    asked, partial, number = (_parsed(adapter, r) for r in receiver.wait_for(4)[1:4])
    assert asked.field == "payment-card-number" and asked.partial
    assert partial.partial and partial.masked == "x" * 12  # "12 of 16 digits entered"
    assert not number.partial and number.error is None
    assert number.masked == "xxxxxxxxxxxx1111" and number.card_brand == "visa"
    assert number.fields_left == ("expiration-date", "security-code")

    adapter.ask_for(capture, "expiration-date", request_key="k3", status_url=receiver.url)
    twilio.press(call.sid, "1239#")
    adapter.ask_for(capture, "security-code", request_key="k4", status_url=receiver.url)
    twilio.press(call.sid, "123#")
    received = receiver.wait_for(8)
    expiry, cvv = received[5].form, received[7].form
    assert expiry["ExpirationDate"] == "1239" and expiry["Required"] == "security-code"
    assert cvv["SecurityCode"] == "xxx" and cvv["Required"] == ""

    adapter.complete(capture, request_key="k5", status_url=receiver.url)
    done = receiver.wait_for(9)[8]
    status = _parsed(adapter, done)
    assert status.result == "success" and status.token
    assert done.form["PaymentCardNumber"] == "xxxxxxxxxxxx1111"
    assert done.form["ExpirationDate"] == "1239"
    assert twilio.payment(capture.capture_id).payment_token == status.token


def test_every_callback_is_signed_as_twilio_signs(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    twilio.press(call.sid, VISA + "#")
    validator = RequestValidator(twilio.config.auth_token)
    for item in receiver.wait_for(3):
        assert item.url == receiver.url
        assert validator.validate(item.url, item.form, item.headers["x-twilio-signature"])
        assert not RequestValidator("another-token").validate(
            item.url, item.form, item.headers["x-twilio-signature"]
        )


def test_the_sdk_reads_the_resource_it_gets_back(twilio, receiver):
    client = Client(twilio.config.account_sid, twilio.config.auth_token)
    client.api.base_url = twilio.base_url
    call = twilio.place_call()
    payment = client.calls(call.sid).payments.create(
        idempotency_key="k1", status_callback=receiver.url
    )
    assert payment.account_sid == twilio.config.account_sid and payment.call_sid == call.sid
    assert payment.date_created is not None and payment.date_created.tzinfo is not None
    assert payment.uri == (
        f"/2010-04-01/Accounts/{twilio.config.account_sid}/Calls/{call.sid}"
        f"/Payments/{payment.sid}.json"
    )
    again = client.calls(call.sid).payments.create(
        idempotency_key="k1", status_callback=receiver.url
    )
    assert again.sid == payment.sid  # the same IdempotencyKey starts nothing new
    assert len(receiver.wait_for(1)) == 1


def _refusal(twilio, path: str, form: dict[str, str], auth=None) -> requests.Response:
    config = twilio.config
    return requests.post(
        f"{twilio.base_url}/2010-04-01/Accounts/{config.account_sid}/{path}",
        data=form,
        auth=auth or (config.account_sid, config.auth_token),
        timeout=5,
    )


def test_an_unknown_call_is_twilios_20404(twilio, adapter, receiver):
    unknown = "CA" + "9" * 32
    answer = _refusal(
        twilio, f"Calls/{unknown}/Payments.json", {"IdempotencyKey": "k", "StatusCallback": "x"}
    )
    assert answer.status_code == 404
    body = answer.json()
    assert body["code"] == 20404 and body["status"] == 404
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20404"
    assert unknown in body["message"]
    with pytest.raises(Conflict, match="20404"):
        _start(adapter, unknown, receiver.url)


def test_a_capture_before_any_start_is_refused(twilio, adapter, receiver):
    call = twilio.place_call()
    never_started = KeypadCapture(capture_id="PK" + "a" * 32, call_id=call.sid)
    with pytest.raises(Conflict, match="error 20404"):
        adapter.ask_for(
            never_started, "payment-card-number", request_key="k", status_url=receiver.url
        )
    assert twilio.wait_for_callbacks() == []


def test_a_second_start_on_the_call_is_64021(twilio, adapter, receiver):
    call = twilio.place_call()
    _start(adapter, call.sid, receiver.url, key="k1")
    with pytest.raises(Conflict, match="error 64021"):
        _start(adapter, call.sid, receiver.url, key="k2")


def test_capture_and_status_together_is_64018(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    answer = _refusal(
        twilio,
        f"Calls/{call.sid}/Payments/{capture.capture_id}.json",
        {
            "IdempotencyKey": "k2",
            "StatusCallback": receiver.url,
            "Capture": "payment-card-number",
            "Status": "complete",
        },
    )
    assert answer.status_code == 400 and answer.json()["code"] == 64018


def test_completing_with_fields_missing_is_refused_and_the_session_stays(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    with pytest.raises(Conflict, match="64021"):
        adapter.complete(capture, request_key="k2", status_url=receiver.url)
    adapter.ask_for(capture, "payment-card-number", request_key="k3", status_url=receiver.url)


def test_wrong_credentials_are_twilios_20003(twilio):
    answer = _refusal(twilio, "Calls/CA0/Payments.json", {}, auth=("AC" + "1" * 32, "bad"))
    assert answer.status_code == 401 and answer.json()["code"] == 20003


@pytest.mark.parametrize(
    ("field", "keys", "error"),
    [
        ("payment-card-number", "4111111111111112#", "invalid-card-number"),  # Luhn
        ("payment-card-number", "4242424242424242#", "invalid-card-number"),  # not a test card
        ("payment-card-number", "411111#", "invalid-card-number"),
        ("payment-card-number", "6304000000000000#", "invalid-card-type"),  # maestro
        ("expiration-date", "1399#", "invalid-date"),
        ("expiration-date", "0120#", "invalid-date"),  # in the past
    ],
)
def test_bad_digits_report_twilios_error_type(twilio, adapter, receiver, field, keys, error):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, field, request_key="k2", status_url=receiver.url)
    twilio.press(call.sid, keys)
    status = _parsed(adapter, receiver.wait_for(3)[2])
    assert status.error == error and not status.partial
    assert field in status.fields_left  # asked again, not kept
    assert status.masked is None


def test_a_security_code_has_the_brands_length(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    twilio.press(call.sid, AMEX + "#")
    adapter.ask_for(capture, "security-code", request_key="k3", status_url=receiver.url)
    twilio.press(call.sid, "123#")
    adapter.ask_for(capture, "security-code", request_key="k4", status_url=receiver.url)
    twilio.press(call.sid, "1234#")
    forms = [r.form for r in receiver.wait_for(7)]
    assert forms[2]["PaymentCardNumber"] == "xxxxxxxxxxx0005"
    assert forms[4]["ErrorType"] == "invalid-security-code"
    assert forms[6]["SecurityCode"] == "xxxx" and "ErrorType" not in forms[6]


def test_a_security_code_before_the_number_is_out_of_sequence(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, "security-code", request_key="k2", status_url=receiver.url)
    form = receiver.wait_for(2)[1].form
    assert form["ErrorType"] == "invalid-card-number-security-code-capture-sequence"


def test_star_ends_the_session(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    twilio.press(call.sid, "41*")
    assert _parsed(adapter, receiver.wait_for(3)[2]).result == "caller-interrupted-with-star"
    with pytest.raises(Conflict, match="64021"):
        adapter.ask_for(capture, "payment-card-number", request_key="k3", status_url=receiver.url)


def test_the_inter_digit_timeout_validates_what_was_keyed(receiver):
    with TwilioSandboxServer() as twilio:
        local = TwilioKeypadCapture(
            twilio.config.account_sid,
            twilio.config.auth_token,
            payment_connector="Default",
            base_url=twilio.base_url,
        )
        call = twilio.place_call()
        capture = local.start_capture(
            KeypadCaptureRequest(
                call_id=call.sid,
                request_key="k",
                status_url=receiver.url,
                currency="USD",
                timeout_seconds=1,
            )
        )
        local.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
        twilio.press(call.sid, VISA)  # no "#": the number is taken after 1 s of silence
        final = _parsed(local, receiver.wait_for(4)[3])
    assert not final.partial and final.masked == "xxxxxxxxxxxx1111"


def test_the_keypad_api_and_hanging_up(twilio, adapter, receiver):
    placed = requests.post(f"{twilio.base_url}/_sandbox/calls", json={}, timeout=5).json()
    capture = _start(adapter, placed["sid"], receiver.url)
    keypad = f"{twilio.base_url}/_sandbox/calls/{placed['sid']}"
    assert requests.post(f"{keypad}/keypad", json={"keys": "4"}, timeout=5).status_code == 409
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    shown = requests.post(f"{keypad}/keypad", json={"keys": "4111"}, timeout=5).json()
    assert shown["capturing"] == "payment-card-number" and shown["keyed"] == 4
    requests.post(f"{keypad}/hangup", timeout=5)
    assert _parsed(adapter, receiver.wait_for(4)[3]).result == "caller-hung-up"
    with pytest.raises(Conflict, match="21220"):
        _start(adapter, placed["sid"], receiver.url, key="k9")


def test_no_card_number_reaches_the_logs_or_the_callbacks(twilio, adapter, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    call = twilio.place_call()
    capture = _start(adapter, call.sid, receiver.url)
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    requests.post(
        f"{twilio.base_url}/_sandbox/calls/{call.sid}/keypad", json={"keys": VISA}, timeout=5
    )
    twilio.press(call.sid, "#")
    adapter.ask_for(capture, "payment-card-number", request_key="k3", status_url=receiver.url)
    twilio.press(call.sid, "4242424242424242#")  # refused, must not be echoed either
    adapter.ask_for(capture, "payment-card-number", request_key="k4", status_url=receiver.url)
    twilio.press(call.sid, VISA + "#")
    adapter.ask_for(capture, "expiration-date", request_key="k5", status_url=receiver.url)
    twilio.press(call.sid, "1239#")
    adapter.ask_for(capture, "security-code", request_key="k6", status_url=receiver.url)
    twilio.press(call.sid, "123#")
    adapter.complete(capture, request_key="k7", status_url=receiver.url)
    received = receiver.wait_for(13)
    assert received[-1].form["Result"] == "success"
    text = caplog.text + repr(received) + repr(twilio.wait_for_callbacks())
    text += repr(twilio.payment(capture.capture_id))
    for number in (VISA, "4242424242424242", VISA[:6] + VISA[6:12]):
        assert number not in text
    assert not re.findall(r"(?<![0-9A-Za-z])\d{13,19}(?![0-9A-Za-z])", text)
    assert "telephony stand-in: POST /_sandbox/calls/" in caplog.text  # logs were captured
