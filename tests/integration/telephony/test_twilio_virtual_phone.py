"""The stand-in's virtual phone over HTTP: the calls page and its Place a call form, the
TaskRouter ``reservation.accepted`` event a placed call sends (checked by a receiver that
verifies ``X-Twilio-Signature`` with the ``twilio`` SDK's ``RequestValidator``), the
keypad page, what the phone says per field, and hanging up."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.telephony.twilio import TwilioKeypadCapture
from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay.ports import KeypadCaptureRequest

VISA = "4111111111111111"  # Braintree's published test card
LABEL = "Development tool — Twilio stand-in, not Twilio"


class TaskRouterReceiver:
    """crm-pay's TaskRouter endpoint as far as the poster cares: verifies each POST's
    signature with the SDK (403 when it fails, as crm-pay answers) and keeps the form."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.received: list[tuple[dict[str, str], bool]] = []
        self._arrived = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        port = self._server.server_port
        self.url = f"http://127.0.0.1:{port}/pay/telephony/twilio/taskrouter"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        form = request.form.to_dict()
        valid = self.validator.validate(
            self.url, form, request.headers.get("X-Twilio-Signature", "")
        )
        with self._arrived:
            self.received.append((form, valid))
            self._arrived.notify_all()
        return Response(status=204 if valid else 403)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bool]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[TaskRouterReceiver]:
    receiver = TaskRouterReceiver(TwilioSandboxConfig().auth_token)
    yield receiver
    receiver.close()


@pytest.fixture
def twilio(receiver: TaskRouterReceiver) -> Iterator[TwilioSandboxServer]:
    with TwilioSandboxServer(TwilioSandboxConfig(taskrouter_callback=receiver.url)) as server:
        yield server


@pytest.fixture
def adapter(twilio: TwilioSandboxServer) -> TwilioKeypadCapture:
    return TwilioKeypadCapture(
        twilio.config.account_sid,
        twilio.config.auth_token,
        payment_connector="Default",
        base_url=twilio.base_url,
    )


def _place(twilio: TwilioSandboxServer, **form: str) -> requests.Response:
    return requests.post(twilio.phone_url, data=form, timeout=5, allow_redirects=False)


def test_the_phone_page_says_it_is_not_twilio_and_offers_the_demo_caller(twilio):
    page = requests.get(twilio.phone_url, timeout=5)
    assert page.status_code == 200
    assert LABEL in page.text
    assert "value='+12125550101'" in page.text  # the demo's first customer
    assert "value='agent@example.com'" in page.text  # the demo's agent
    assert "No calls yet." in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_placing_a_call_lists_it_and_tells_taskrouter_signed(twilio, receiver):
    placed = _place(twilio, **{"from": "+12125550101", "agent": "agent@example.com"})
    assert placed.status_code == 303
    call_sid = re.fullmatch(r"/_sandbox/calls/(CA[0-9a-f]{32})/phone", placed.headers["Location"])
    assert call_sid is not None
    sid = call_sid.group(1)

    page = requests.get(twilio.phone_url, timeout=5).text
    assert sid in page and "+12125550101" in page and "in-progress" in page
    assert twilio.switchboard.call(sid).status == "in-progress"

    [(form, valid)] = receiver.wait_for(1)
    assert valid, "the SDK's RequestValidator refused the stand-in's signature"
    assert form["EventType"] == "reservation.accepted"
    assert form["AccountSid"] == twilio.config.account_sid
    assert json.loads(form["TaskAttributes"]) == {
        "call_sid": sid,
        "from": "+12125550101",
        "to": "+12125550199",
    }
    assert json.loads(form["WorkerAttributes"]) == {"crm_pay_agent": "agent@example.com"}
    for name, prefix in (
        ("WorkspaceSid", "WS"),
        ("TaskSid", "WT"),
        ("ReservationSid", "WR"),
        ("WorkerSid", "WK"),
    ):
        assert re.fullmatch(prefix + "[0-9a-f]{32}", form[name]), name
    assert form["ResourceSid"] == form["ReservationSid"]
    assert form["EventDescription"] and form["Timestamp"].isdigit()


def test_a_tampered_taskrouter_event_fails_the_sdks_check(twilio, receiver):
    twilio.place_call(agent="agent@example.com")
    [(form, _)] = receiver.wait_for(1)
    delivered = twilio.wait_for_callbacks()[-1]
    signature = requests.post(
        receiver.url,
        data={**form, "WorkerAttributes": '{"crm_pay_agent": "admin@example.com"}'},
        headers={"X-Twilio-Signature": "forged"},
        timeout=5,
    )
    assert delivered.status == 204
    assert signature.status_code == 403
    assert receiver.received[-1][1] is False


def test_a_call_without_an_agent_or_without_a_callback_sends_no_event(receiver):
    with TwilioSandboxServer() as plain:
        placed = _place(plain, agent="agent@example.com")
        assert placed.status_code == 303
        assert plain.wait_for_callbacks() == []
        assert "no TaskRouter callback is configured" in requests.get(plain.phone_url).text
    assert receiver.received == []


def test_the_keypad_page_follows_the_capture_field_by_field(twilio, adapter, receiver):
    call = twilio.place_call()
    keypad_page = requests.get(f"{twilio.base_url}/_sandbox/calls/{call.sid}/phone", timeout=5)
    assert keypad_page.status_code == 200
    assert LABEL in keypad_page.text
    assert "aria-live='polite'" in keypad_page.text
    assert "<script src='/_sandbox/phone.js'" in keypad_page.text
    assert "You are connected to your agent." in keypad_page.text
    for name in ("star", "pound"):
        assert f"aria-label='{name}'" in keypad_page.text
    script = requests.get(f"{twilio.base_url}/_sandbox/phone.js", timeout=5)
    assert script.headers["Content-Type"].startswith("text/javascript")

    capture = adapter.start_capture(
        KeypadCaptureRequest(
            call_id=call.sid, request_key="k1", status_url=receiver.url, currency="USD"
        )
    )
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    api = f"{twilio.base_url}/_sandbox/calls/{call.sid}"
    view = requests.get(api, timeout=5).json()
    assert view["prompt"] == "Please enter your card number, followed by the pound key."
    listed = requests.get(twilio.phone_url, timeout=5).text
    assert "yes: payment-card-number" in listed

    for key in VISA:  # one request per press, as the page sends them
        view = requests.post(f"{api}/keypad", json={"keys": key}, timeout=5).json()
    assert view["keyed"] == 16 and VISA not in json.dumps(view)
    view = requests.post(f"{api}/keypad", json={"keys": "#"}, timeout=5).json()
    assert view["prompt"] == "Thank you. Please hold for your agent."

    adapter.ask_for(capture, "expiration-date", request_key="k3", status_url=receiver.url)
    assert "expiration date" in requests.get(api, timeout=5).json()["prompt"]
    view = requests.post(f"{api}/keypad", json={"keys": "1399#"}, timeout=5).json()
    assert view["prompt"].startswith("Sorry, that expiration date is not valid.")


def test_hanging_up_ends_the_call_and_its_capture(twilio, adapter, receiver):
    call = twilio.place_call()
    capture = adapter.start_capture(
        KeypadCaptureRequest(
            call_id=call.sid, request_key="k1", status_url=receiver.url, currency="USD"
        )
    )
    adapter.ask_for(capture, "payment-card-number", request_key="k2", status_url=receiver.url)
    api = f"{twilio.base_url}/_sandbox/calls/{call.sid}"
    view = requests.post(f"{api}/hangup", timeout=5).json()
    assert view["status"] == "completed" and view["prompt"] == "The call has ended."
    assert twilio.payment(capture.capture_id).state == "cancelled"
    results = [d.form.get("Result") for d in twilio.wait_for_callbacks()]
    assert results[-1] == "caller-hung-up"
    refused = requests.post(f"{api}/keypad", json={"keys": "4"}, timeout=5)
    assert refused.status_code == 409  # nothing is listening: the keys go nowhere


def test_an_unknown_call_has_no_keypad(twilio):
    answer = requests.get(f"{twilio.base_url}/_sandbox/calls/CA{'0' * 32}/phone", timeout=5)
    assert answer.status_code == 404 and "No such call" in answer.text
