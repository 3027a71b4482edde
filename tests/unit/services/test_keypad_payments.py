"""Keypad payments with a fake telephony provider: start, steer and end a capture, apply
its status callbacks (signed, once each), charge the token it returns."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_pay import wiring
from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    TelephonyUnavailable,
    WebhookRejected,
)
from crm_pay.live_publisher import clean_event
from crm_pay.persistence.models import KeypadCallbackDigest, KeypadSession, Payment
from crm_pay.ports import (
    KeypadCallback,
    KeypadCapture,
    KeypadCaptureRequest,
    KeypadStatus,
)
from crm_pay.services import keypad_callbacks, keypad_payments, keypad_sessions
from crm_pay.services.context import Context
from crm_pay.services.payments import CreatePayment, create_payment
from crm_pay.testing import FakeWorld

CALL = "CA" + "1" * 32
AGENT = "agent:ana@example.com"


class FakeKeypad:
    """The port as a provider would answer it: calls recorded, callbacks "signed" with a
    header the fake checks (``x-fake-signature`` = the form's digest)."""

    name = "fake-telephony"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_next: Exception | None = None
        self._captures: dict[str, str] = {}  # request key -> capture id, as a provider's
        self.current = ""  # the capture started last

    def _record(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure

    def start_capture(self, request: KeypadCaptureRequest) -> KeypadCapture:
        self._record("start", request)
        fresh = f"PK{len(self._captures) + 1:032d}"
        self.current = self._captures.setdefault(request.request_key, fresh)
        return KeypadCapture(capture_id=self.current, call_id=request.call_id)

    def ask_for(
        self, capture: KeypadCapture, field: str, *, request_key: str, status_url: str
    ) -> None:
        self._record("ask", (field, request_key))

    def complete(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None:
        self._record("complete", request_key)

    def cancel(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None:
        self._record("cancel", request_key)

    def parse_status(self, callback: KeypadCallback) -> KeypadStatus:
        form = dict(callback.form)
        digest = _digest(form)
        if callback.headers.get("x-fake-signature") != digest:
            raise WebhookRejected("not signed by the fake provider")
        return KeypadStatus(
            capture_id=form["Sid"],
            call_id=form["CallSid"],
            field=form.get("Capture"),
            partial=form.get("PartialResult") == "true",
            masked=form.get("PaymentCardNumber"),
            card_brand=form.get("PaymentCardType"),
            fields_left=tuple(f for f in form.get("Required", "").split(",") if f),
            error=form.get("ErrorType"),
            result=form.get("Result"),
            token=form.get("PaymentToken"),
            digest=digest,
        )


def _digest(form: Mapping[str, str]) -> str:
    return hashlib.sha256(repr(sorted(form.items())).encode()).hexdigest()


def _callback(ctx: Context, *, signed: bool = True, **form: str) -> KeypadCallback:
    assert isinstance(ctx.telephony, FakeKeypad)
    full = {"Sid": ctx.telephony.current, "CallSid": CALL, **form}
    headers = {"x-fake-signature": _digest(full)} if signed else {}
    return KeypadCallback(url=keypad_sessions.status_url(ctx.settings), form=full, headers=headers)


def _send(ctx: Context, **form: str) -> keypad_sessions.KeypadSessionView:
    return keypad_callbacks.receive_status_callback(ctx, _callback(ctx, **form))


NUMBER, EXPIRY, CVV = "payment-card-number", "expiration-date", "security-code"


def _key_the_card(ctx: Context) -> None:
    """The customer keys 4111 1111 1111 1111, 12/30 and 123 (masked as Twilio reports)."""
    _send(ctx, Capture=NUMBER, PartialResult="true", PaymentCardNumber="xxxxxxxxxxxx",
          Required=f"{NUMBER},{EXPIRY},{CVV}")  # fmt: skip
    _send(ctx, Capture=NUMBER, PartialResult="false", PaymentCardNumber="xxxxxxxxxxxx1111",
          PaymentCardType="visa", Required=f"{EXPIRY},{CVV}")  # fmt: skip
    _send(ctx, Capture=EXPIRY, PartialResult="false", Required=CVV, PaymentCardType="visa",
          PaymentCardNumber="xxxxxxxxxxxx1111")  # fmt: skip
    _send(ctx, Capture=CVV, PartialResult="false", Required="", PaymentCardType="visa",
          PaymentCardNumber="xxxxxxxxxxxx1111")  # fmt: skip


@pytest.fixture
def telephony(ctx: Context) -> FakeKeypad:
    fake = FakeKeypad()
    ctx.telephony = fake
    return fake


@pytest.fixture
def events(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    ctx.live = lambda payment_id, event: seen.append((payment_id, event))
    return seen


def _ivr_payment(ctx: Context, amount: str = "100.00") -> str:
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount=amount, currency="USD", channel="ivr"),
        actor=AGENT,
        idempotency_scope="console:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash=f"ivr:{amount}",
    )
    assert view["status"] == "created"
    return str(view["id"])


def _sales(world: FakeWorld) -> list[Any]:
    return world.psp.calls_to("sale")


def test_a_keypad_payment_charges_the_token_once_and_shows_only_the_last_4(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)

    started = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    assert (started.status, started.field) == ("capturing", NUMBER)
    (start,) = [arg for name, arg in telephony.calls if name == "start"]
    assert (start.call_id, start.currency) == (CALL, "USD")
    assert start.status_url == "http://127.0.0.1:5000/pay/telephony/twilio/status"
    assert ("ask", (NUMBER, f"keypad:{started.id}:1")) in telephony.calls

    _key_the_card(ctx)
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)
    assert _sales(world) == []  # nothing is charged before the token arrives

    done = _send(ctx, Result="success", PaymentToken="tok_keyed", PaymentCardType="visa",
                 PaymentCardNumber="xxxxxxxxxxxx1111")  # fmt: skip

    assert done.status == "charged"
    assert done.payment_status == "submitted_for_settlement"
    assert (done.card_brand, done.card_last4, done.card_exp) == ("Visa", "1111", "12/2030")
    (sale,) = _sales(world)
    assert sale.payment_method_token == "tok_keyed"
    assert sale.amount.minor == 10000
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        assert payment.status == "submitted_for_settlement"
        assert payment.channel == "ivr"


def test_the_keypad_charge_is_a_telephone_order(world: FakeWorld, telephony: FakeKeypad) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    _key_the_card(ctx)
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)
    _send(ctx, Result="success", PaymentToken="tok_keyed")
    (sale,) = _sales(world)
    assert sale.transaction_source == "moto"


def _digests(ctx: Context) -> int:
    with ctx.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(KeypadCallbackDigest)) or 0)


def test_a_replayed_callback_changes_nothing_and_charges_once(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    _key_the_card(ctx)
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)
    success = _callback(ctx, Result="success", PaymentToken="tok_keyed")
    keypad_callbacks.receive_status_callback(ctx, success)
    before = (keypad_sessions.keypad_session(ctx, started.id), _digests(ctx))

    with pytest.raises(Conflict) as refused:
        keypad_callbacks.receive_status_callback(ctx, success)

    assert refused.value.code == "callback_replayed"
    assert (keypad_sessions.keypad_session(ctx, started.id), _digests(ctx)) == before
    assert len(_sales(world)) == 1


def test_a_replayed_progress_update_does_not_undo_a_later_one(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    early = _callback(ctx, Capture=NUMBER, PartialResult="true", Required=f"{NUMBER},{EXPIRY}")
    keypad_callbacks.receive_status_callback(ctx, early)
    _send(ctx, Capture=NUMBER, PartialResult="false", PaymentCardNumber="xxxxxxxxxxxx1111",
          Required=EXPIRY)  # fmt: skip

    with pytest.raises(Conflict):
        keypad_callbacks.receive_status_callback(ctx, early)

    after = keypad_sessions.keypad_session(ctx, started.id)
    assert (after.fields_left, after.card_last4) == ((EXPIRY,), "1111")


@pytest.mark.parametrize("signed", [False, True])
def test_an_unsigned_or_forged_callback_is_refused_and_changes_nothing(
    world: FakeWorld, telephony: FakeKeypad, signed: bool
) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    _key_the_card(ctx)
    before = (keypad_sessions.keypad_session(ctx, started.id), _digests(ctx))
    forged = _callback(ctx, signed=signed, Result="success", PaymentToken="tok_forged")
    if signed:  # signed, then tampered with
        forged = KeypadCallback(
            forged.url, {**forged.form, "PaymentToken": "tok_other"}, forged.headers
        )

    with pytest.raises(Forbidden):
        keypad_callbacks.receive_status_callback(ctx, forged)

    assert (keypad_sessions.keypad_session(ctx, started.id), _digests(ctx)) == before
    assert _sales(world) == []


def test_a_callback_for_an_unknown_capture_is_refused(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    other = {"Sid": "PK" + "9" * 32, "CallSid": CALL, "Result": "success", "PaymentToken": "t"}
    callback = KeypadCallback(
        keypad_sessions.status_url(ctx.settings), other, {"x-fake-signature": _digest(other)}
    )

    with pytest.raises(NotFound) as refused:
        keypad_callbacks.receive_status_callback(ctx, callback)

    assert refused.value.code == "unknown_capture"
    assert _digests(ctx) == 0
    assert _sales(world) == []


def _words_of(ctx: Context, payment_id: str) -> tuple[str, str | None, str | None]:
    with ctx.db.transaction() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        return payment.status, payment.decline_message, payment.decline_next_step


def test_star_ends_the_capture_and_the_agent_can_start_again(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    first = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    ended = _send(ctx, Result="caller-interrupted-with-star")

    # the payment does not sit open: failed, in words, nothing charged
    assert (ended.status, ended.payment_status) == ("cancelled", "failed")
    assert _words_of(ctx, payment_id) == (
        "failed",
        "Card entry ended: the customer pressed * and the card entry was cancelled.",
        "Start card entry on the call again, or cancel the payment.",
    )
    assert _sales(world) == []
    with pytest.raises(Conflict):
        keypad_payments.ask_for_field(ctx, first.id, NUMBER, actor=AGENT)
    again = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    assert again.id != first.id and again.status == "capturing"


def test_a_timeout_fails_the_payment_in_words_and_a_new_capture_charges_it(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    ended = _send(ctx, Result="input-timeout")

    assert ended.payment_status == "failed"
    assert _words_of(ctx, payment_id)[1] == (
        "Card entry ended: nothing was entered in time; the card entry was cancelled."
    )
    again = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    _key_the_card(ctx)
    keypad_payments.complete_capture(ctx, again.id, actor=AGENT)
    done = _send(ctx, Result="success", PaymentToken="tok_keyed")
    assert done.payment_status == "submitted_for_settlement"
    assert len(_sales(world)) == 1


def test_too_many_failed_attempts_fail_the_capture_with_plain_words(
    world: FakeWorld, telephony: FakeKeypad, events: list[tuple[str, dict[str, Any]]]
) -> None:
    ctx = world.ctx
    keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)

    ended = _send(ctx, Result="too-many-failed-attempts")

    assert ended.status == "failed"
    words = events[-1][1]["keypad"]
    assert words["ended"] is True
    assert words["words"] == "too many invalid entries; the card entry was cancelled"


def test_completing_with_fields_left_is_refused_before_the_provider_is_asked(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    _send(ctx, Capture=NUMBER, PartialResult="false", PaymentCardNumber="xxxxxxxxxxxx1111",
          Required=f"{EXPIRY},{CVV}")  # fmt: skip

    with pytest.raises(Conflict) as refused:
        keypad_payments.complete_capture(ctx, started.id, actor=AGENT)

    assert refused.value.code == "capture_incomplete"
    assert "Expiry, Security code" in refused.value.message
    assert not [c for c in telephony.calls if c[0] == "complete"]
    assert keypad_sessions.keypad_session(ctx, started.id).status == "capturing"


def test_the_agent_cancels_and_the_payment_fails_in_words(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    started = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    cancelled = keypad_payments.cancel_capture(ctx, started.id, actor=AGENT)

    assert (cancelled.status, cancelled.payment_status) == ("cancelled", "failed")
    assert _words_of(ctx, payment_id)[1] == "Card entry ended: the card entry was cancelled."
    assert ("cancel", f"keypad:{started.id}:2") in telephony.calls
    # the provider's own "cancelled" callback that follows is recorded, changes nothing
    late = _send(ctx, Result="transaction-cancelled")
    assert late.status == "cancelled" and _sales(world) == []


def test_only_an_ivr_payment_with_no_capture_running_can_be_started(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    view, _ = create_payment(
        ctx,
        CreatePayment(crm_ref="CUST-0001", amount="10.00", currency="USD"),
        actor=AGENT,
        idempotency_scope="console:tests",
        idempotency_key=uuid.uuid4().hex,
        request_hash="link",
    )
    with pytest.raises(Conflict):
        keypad_payments.start_capture(ctx, view["id"], call_sid=CALL, actor=AGENT)

    payment_id = _ivr_payment(ctx)
    keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    with pytest.raises(Conflict) as refused:
        keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    assert refused.value.code == "capture_in_progress"


def test_a_start_the_provider_did_not_answer_is_retried_with_the_same_key(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    telephony.fail_next = TelephonyUnavailable("Twilio did not answer")
    with pytest.raises(TelephonyUnavailable):
        keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    retried = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    first, second = [arg for name, arg in telephony.calls if name == "start"]
    assert first.request_key == second.request_key == f"keypad:{retried.id}:start"
    assert retried.status == "capturing"


def test_without_a_telephony_provider_keypad_payments_say_how_to_set_it_up(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)  # made while keypad payments were set up
    ctx.telephony = None
    with pytest.raises(TelephonyUnavailable) as refused:
        keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    assert "CRM_PAY_TWILIO_ACCOUNT_SID" in refused.value.message
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(KeypadSession)) == 0


def test_without_a_telephony_provider_no_ivr_payment_is_created(world: FakeWorld) -> None:
    ctx = world.ctx
    with pytest.raises(TelephonyUnavailable) as refused:
        _ivr_payment(ctx)
    assert "CRM_PAY_TWILIO_ACCOUNT_SID" in refused.value.message
    assert "pay link" in refused.value.message
    with ctx.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


def test_live_events_show_masked_progress_and_pass_the_whitelist(
    world: FakeWorld, telephony: FakeKeypad, events: list[tuple[str, dict[str, Any]]]
) -> None:
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)
    events.clear()

    _send(ctx, Capture=NUMBER, PartialResult="true", PaymentCardNumber="xxxxxxxxxxxx",
          Required=f"{NUMBER},{EXPIRY},{CVV}")  # fmt: skip
    _send(ctx, Capture=NUMBER, PartialResult="false", PaymentCardNumber="xxxxxxxxxxxx1111",
          PaymentCardType="visa", Required=f"{EXPIRY},{CVV}")  # fmt: skip
    _send(ctx, Capture=EXPIRY, PartialResult="false", ErrorType="invalid-date",
          Required=f"{EXPIRY},{CVV}")  # fmt: skip

    words = [event["keypad"]["words"] for _, event in events]
    assert words == [
        "Card number: 12 of 16 digits entered",
        "Card number ✓ (xxxxxxxxxxxx1111)",
        "Expiry: that expiry date is not valid or has passed, ask for it again",
    ]
    cleaned = [clean_event(pid, event) for pid, event in events]
    assert cleaned[1] is not None
    assert cleaned[1]["fields"] == {"number": True, "expirationDate": False, "cvv": False}
    assert cleaned[2] is not None and cleaned[2]["field_problems"] == {"expirationDate": True}
    # the agent's words get through the live whitelist too, and nothing but them
    assert [c["keypad"]["words"] for c in cleaned if c] == words
    assert set(cleaned[1]["keypad"]) <= {"session", "field", "words", "done", "ended"}
    assert clean_event(payment_id, {"keypad": {"words": "card 4111111111111111"}}) is None
    assert all(pid == payment_id for pid, _ in events)


def test_the_wiring_builds_twilio_from_the_settings_and_the_vaulted_token() -> None:
    def no_secret(name: str) -> str | None:
        return None

    assert wiring.twilio_keypad(CrmPayConfig().as_mapping(), secret=no_secret) is None
    config = CrmPayConfig.from_mapping(
        {"CRM_PAY_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "CRM_PAY_TWILIO_BASE_URL": "http://x"}
    ).as_mapping()
    with pytest.raises(ConfigurationError) as missing:
        wiring.twilio_keypad(config, secret=no_secret)
    assert "telephony.twilio.auth_token" in missing.value.message

    asked: list[str] = []

    def vault(name: str) -> str | None:
        asked.append(name)
        return "token"

    built = wiring.twilio_keypad(config, secret=vault)
    assert built is not None and built.name == "twilio"
    assert asked == ["telephony.twilio.auth_token"]


def test_two_different_success_callbacks_charge_once(
    world: FakeWorld, telephony: FakeKeypad
) -> None:
    ctx = world.ctx
    started = keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    _key_the_card(ctx)
    keypad_payments.complete_capture(ctx, started.id, actor=AGENT)

    first = _send(ctx, Result="success", PaymentToken="tok_keyed", DateUpdated="1")
    second = _send(ctx, Result="success", PaymentToken="tok_keyed", DateUpdated="2")

    assert first.status == second.status == "charged"
    assert len(_sales(world)) == 1


def test_the_first_callback_naming_no_field_shows_the_agent_nothing(
    world: FakeWorld, telephony: FakeKeypad, events: list[tuple[str, dict[str, Any]]]
) -> None:
    ctx = world.ctx
    keypad_payments.start_capture(ctx, _ivr_payment(ctx), call_sid=CALL, actor=AGENT)
    events.clear()

    view = _send(ctx, PaymentMethod="credit-card", TokenType="reusable")

    assert view.status == "capturing" and events == []


def test_a_callback_before_the_start_answer_is_stored_finds_its_session(
    world: FakeWorld, telephony: FakeKeypad, events: list[tuple[str, dict[str, Any]]]
) -> None:
    """Twilio may call back before its answer to the start reached us: the capture's SID
    is not stored yet, so the session is found by its call (and only a starting one)."""
    ctx = world.ctx
    payment_id = _ivr_payment(ctx)
    early: list[keypad_sessions.KeypadSessionView] = []
    answer = telephony.start_capture

    def start_and_call_back(request: KeypadCaptureRequest) -> KeypadCapture:
        capture = answer(request)
        early.append(_send(ctx, Capture=NUMBER, PartialResult="true", PaymentCardNumber="xx",
                           Required=f"{NUMBER},{EXPIRY},{CVV}"))  # fmt: skip
        return capture

    telephony.start_capture = start_and_call_back  # type: ignore[method-assign]
    started = keypad_payments.start_capture(ctx, payment_id, call_sid=CALL, actor=AGENT)

    assert early[0].status == "capturing"
    assert early[0].capture_sid == started.capture_sid == telephony.current
    assert started.fields_left == (NUMBER, EXPIRY, CVV)
    assert _digests(ctx) == 1
    # a callback naming another capture on that call, now that one is known, is refused
    other = {"Sid": "PK" + "8" * 32, "CallSid": CALL, "Capture": NUMBER}
    stray = KeypadCallback(
        keypad_sessions.status_url(ctx.settings), other, {"x-fake-signature": _digest(other)}
    )
    with pytest.raises(NotFound):
        keypad_callbacks.receive_status_callback(ctx, stray)
    assert _digests(ctx) == 1
