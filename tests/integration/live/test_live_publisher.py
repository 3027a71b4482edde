"""The publisher is the last gate before a message leaves the process: whitelisted keys,
checked types, no card numbers, and never an exception into the payment that published."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from crm_pay.live_publisher import (
    EVENT,
    NAMESPACE,
    clean_event,
    make_publisher,
    room_for,
    use_write_only_emitter,
)
from crm_pay.services.context import Context

PID = "pay_" + "a" * 32


class RecordingEmitter:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, Any, str, str]] = []
        self.fail = fail

    def emit(self, event: str, data: Any = None, *, to: str, namespace: str) -> None:
        if self.fail:
            raise ConnectionError("redis is down")
        self.sent.append((event, data, to, namespace))


def test_whitelisted_keys_pass_with_the_payment_id_and_a_time() -> None:
    event = {
        "status": "declined",
        "link": "opened",
        "fields": {"number": True, "cvv": False},
        "receipt_number": "R-2026-000001",
        "decline": {"code": "2001", "message": "Insufficient funds.", "next_step": "Try another."},
        "attempts_left": 3,
    }
    message = clean_event(PID, event)
    assert message is not None
    assert message["payment_id"] == PID and message["at"]
    assert message["decline"] == {"message": "Insufficient funds.", "next_step": "Try another."}
    assert {k: message[k] for k in ("status", "link", "fields", "attempts_left")} == {
        "status": "declined",
        "link": "opened",
        "fields": {"number": True, "cvv": False},
        "attempts_left": 3,
    }


@pytest.mark.parametrize(
    "event",
    [
        {"card": {"number": "4111111111111111"}},
        {"psp_reference": "abc"},
        {"link": "clicked"},
        {"link": ["sent"]},
        {"fields": {"number": "4111111111111111"}},
        {"fields": {"cardholderName": True}},
        {"fields": {"number": 1}},
        {"attempts_left": True},
        {"attempts_left": "3"},
        {"status": 5},
        {"status": ""},
        {"status": "x" * 65},
        {"status": "4111 1111 1111 1111"},
        {"receipt_number": "4111-1111-1111-1111"},
        {"decline": {"message": "card 4111111111111111 declined"}},
        {"decline": "Do not honor"},
        {"at": "2026-01-01T00:00:00+00:00"},
        {},
    ],
)
def test_nothing_else_is_sent(event: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "crm_pay.live")
    assert clean_event(PID, event) is None
    assert "4111" not in caplog.text


def test_a_card_number_is_dropped_and_logged_without_the_digits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "crm_pay.live")
    message = clean_event(PID, {"status": "processing", "receipt_number": "4111111111111111"})
    assert message is not None and "receipt_number" not in message
    assert "looked like a card number" in caplog.text and "4111" not in caplog.text


@pytest.mark.parametrize("payment_id", ["", None, 42, "4111111111111111", "p" * 65])
def test_a_bad_payment_id_sends_nothing(payment_id: Any) -> None:
    emitter = RecordingEmitter()
    make_publisher(emitter)(payment_id, {"status": "processing"})
    assert emitter.sent == []


def test_the_publisher_emits_to_the_payment_room_on_live() -> None:
    emitter = RecordingEmitter()
    make_publisher(emitter)(PID, {"status": "processing", "secret": "x"})
    [(event, data, to, namespace)] = emitter.sent
    assert (event, to, namespace) == (EVENT, room_for(PID), NAMESPACE)
    assert to == f"payment:{PID}" and namespace == "/live" and event == "payment_status"
    assert set(data) == {"payment_id", "status", "at"}


def test_a_failing_queue_never_fails_the_payment(caplog: pytest.LogCaptureFixture) -> None:
    publish = make_publisher(RecordingEmitter(fail=True))
    publish(PID, {"status": "processing"})  # does not raise
    assert "could not be sent" in caplog.text


def test_without_a_queue_a_worker_keeps_its_in_process_publisher(ctx: Context) -> None:
    before = ctx.live
    assert before is not None
    assert use_write_only_emitter(ctx) is False
    assert ctx.live is before
