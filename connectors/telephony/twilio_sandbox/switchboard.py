"""The stand-in's calls and Pay sessions: the rules of Twilio's agent-assisted Pay.

What each step follows (Twilio docs "Payments subresource", twilio.com/docs/voice/api/
payment-resource, unless named otherwise):

* Create (its parameters are checked in ``parameters.py``): a repeated
  ``IdempotencyKey`` makes no second session; a start on a call whose session has not
  ended is refused (error 64021, "Start operation on already started Pay session"; the
  <Pay> page's ``session-in-progress``); the session's first callback carries the common
  parameters only.
* Update: exactly one of ``Capture`` or ``Status`` (error 64018). A capture prompts the
  caller for that field, again if it was entered before; ``security-code`` before the card
  number gives ``ErrorType=invalid-card-number-security-code-capture-sequence`` (<Pay>
  page, ErrorType table). ``Status=complete`` sends the card to the Pay Connector and the
  callback carries ``Result=success`` and ``PaymentToken``; ``Status=cancel`` ends it.
* The caller (the ``/_sandbox`` API stands for their keypad): digits go to the field being
  captured; ``#`` ends the field, and so does ``Timeout`` seconds without a further digit
  ("wait for the caller to press a digit between each subsequent digit, after the first
  one, before moving on to validate the digits captured"); ``*`` ends the session ("<Pay>
  terminates when someone presses the * key", ``Result=caller-interrupted-with-star``);
  hanging up gives ``Result=caller-hung-up``; silence gives ``ErrorType=input-timeout``.
* A call placed with an agent, when a TaskRouter callback URL is set, sends TaskRouter's
  ``reservation.accepted`` event there (``taskrouter.py``), through the same signed sender.

The stand-in's own choices, where Twilio documents nothing: ``Status=complete`` with fields
still required is refused with 64021 and the session stays open; an update of a session
that ended is refused with 64021; the agent's cancel ends with ``Result=transaction-
cancelled`` (seen in public agent-assisted Pay clients, not in Twilio's Result table); a
charge (``ChargeAmount`` above 0) and ``ach-debit`` are refused with 64020, because
crm-pay only tokenizes cards; a request that reuses an ``IdempotencyKey`` with other
parameters is treated as a new request. ``PaymentToken`` is a stand-in token (the
Braintree Pay Connector's token is a Braintree payment method token): pass ``tokenizer``
to make it one the Braintree sandbox knows.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .keyed_card import (
    AcceptedCard,
    EntryError,
    check_card_number,
    check_expiration_date,
    check_postal_code,
    check_security_code,
)
from .parameters import check_required, check_update, session_options
from .pay_session import Call, PaySession
from .prompts import spoken
from .taskrouter import reservation_accepted
from .twilio_errors import TwilioError

__all__ = ["SendCallback", "Switchboard", "Tokenizer", "sid"]

SendCallback = Callable[[str, dict[str, str]], None]
#: ``(card, expiration MMYY) -> (PaymentToken, ProfileId)``; never sees the card number.
Tokenizer = Callable[[AcceptedCard, str], tuple[str, str]]


def sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits (``^PK[0-9a-fA-F]{32}$``)."""
    return prefix + secrets.token_hex(16)


def _stand_in_token(card: AcceptedCard, expiration_date: str) -> tuple[str, str]:
    # Braintree payment method tokens are short lower-case words; ProfileId is the
    # Braintree customer's id for a reusable token ("ID of the customer object").
    return "tw" + secrets.token_hex(4), secrets.token_hex(5)


class Switchboard:
    """Calls and Pay sessions of one account, safe to use from several threads."""

    def __init__(
        self,
        account_sid: str,
        *,
        send: SendCallback,
        payment_connectors: tuple[str, ...],
        tokenizer: Tokenizer | None = None,
        taskrouter_callback: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account_sid = account_sid
        #: the Workspace's EventCallbackUrl: where a placed call's reservation is told
        self.taskrouter_callback = taskrouter_callback
        self.workspace_sid = sid("WS")
        self._send = send
        self._connectors = payment_connectors
        self._tokenize = tokenizer or _stand_in_token
        self._clock = clock
        self._lock = threading.RLock()
        self._calls: dict[str, Call] = {}
        self._sessions: dict[str, PaySession] = {}
        self._answers: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._timers: dict[str, threading.Timer] = {}

    # ------------------------------------------------------------------ calls
    def place_call(
        self,
        caller: str = "+12125550101",
        called: str = "+12125550199",
        *,
        agent: str | None = None,
    ) -> Call:
        """A call that has reached an agent (``in-progress``). With an ``agent`` (a crm-pay
        username) and a TaskRouter callback URL, TaskRouter's ``reservation.accepted``
        event is sent there, as when a worker accepts the call's task."""
        call = Call(
            sid=sid("CA"), account_sid=self.account_sid, caller=caller, called=called, agent=agent
        )
        with self._lock:
            self._calls[call.sid] = call
            if agent and self.taskrouter_callback:
                form = reservation_accepted(
                    call,
                    agent=agent,
                    workspace_sid=self.workspace_sid,
                    new_sid=sid,
                    now=self._clock(),
                )
                self._send(self.taskrouter_callback, form)
        return call

    def calls(self) -> list[dict[str, Any]]:
        """Every call, newest first, as the virtual phone lists them (masked values only)."""
        with self._lock:
            sids = list(self._calls)
        return [self.view(call_sid) for call_sid in reversed(sids)]

    def call(self, call_sid: str) -> Call:
        with self._lock:
            call = self._calls.get(call_sid)
        if call is None:
            raise KeyError(call_sid)
        return call

    def session(self, payment_sid: str) -> PaySession:
        with self._lock:
            return self._sessions[payment_sid]

    # ------------------------------------------------------------------ REST
    def _once(
        self, params: Mapping[str, str], what: tuple[Any, ...], run: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Answer a repeated IdempotencyKey with the first answer, doing nothing again."""
        key = params.get("IdempotencyKey", "")
        fingerprint = (*what, tuple(sorted(params.items())))
        earlier = self._answers.get(key)
        if earlier is not None and earlier[0] == fingerprint:
            return earlier[1]
        answer = run()
        self._answers[key] = (fingerprint, answer)
        return answer

    def _call_for(self, call_sid: str, path: str) -> Call:
        call = self._calls.get(call_sid)
        if call is None:
            raise TwilioError.not_found(path)
        if call.status != "in-progress":
            raise TwilioError.call_not_in_progress()
        return call

    def start(self, call_sid: str, params: Mapping[str, str], path: str) -> dict[str, Any]:
        """``POST .../Calls/{CallSid}/Payments.json``."""
        with self._lock:
            if call_sid not in self._calls:
                raise TwilioError.not_found(path)
            check_required(params)
            what = ("start", call_sid)
            return self._once(params, what, lambda: self._start(call_sid, params, path))

    def _start(self, call_sid: str, params: Mapping[str, str], path: str) -> dict[str, Any]:
        call = self._call_for(call_sid, path)
        if call.payment_sid is not None:
            raise TwilioError.invalid_operation("a Pay session is already in progress on this call")
        options = session_options(params, self._connectors)
        now = self._clock()
        session = PaySession(
            **options,
            sid=sid("PK"),
            account_sid=self.account_sid,
            call_sid=call_sid,
            date_created=now,
            date_updated=now,
        )
        self._sessions[session.sid] = session
        call.payment_sid = session.sid
        self._send(session.status_callback, session.common_form())
        return session.resource()

    def update(
        self, call_sid: str, payment_sid: str, params: Mapping[str, str], path: str
    ) -> dict[str, Any]:
        """``POST .../Calls/{CallSid}/Payments/{Sid}.json``."""
        with self._lock:
            session = self._sessions.get(payment_sid)
            if session is None or session.call_sid != call_sid:
                raise TwilioError.not_found(path)
            check_required(params)
            capture, status = params.get("Capture") or "", params.get("Status") or ""
            if bool(capture) == bool(status):
                raise TwilioError(
                    400, 64018, "Pay: Value needed for either Capture or Status parameters"
                )
            what = ("update", payment_sid)
            return self._once(params, what, lambda: self._update(session, capture, status, params))

    def _update(
        self, session: PaySession, capture: str, status: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        self._call_for(session.call_sid, session.uri)
        if session.state != "in-progress":
            raise TwilioError.invalid_operation(f"the Pay session is already {session.state}")
        check_update(capture, status)
        if status == "complete" and session.required:
            raise TwilioError.invalid_operation(
                "payment information is still required: " + ",".join(session.required)
            )
        session.status_callback = params["StatusCallback"]
        session.date_updated = self._clock()
        if capture:
            self._ask(session, capture)
        elif status == "complete":
            self._complete(session)
        else:
            self._end(session, "cancelled", "transaction-cancelled")
        return session.resource()

    # ------------------------------------------------------------------ the flow
    def _ask(self, session: PaySession, capture: str) -> None:
        self._stop_timer(session.sid)
        session.keyed.clear()
        session.last_error = None
        if capture == "security-code" and session.card is None:
            session.capturing = None
            session.last_error = "invalid-card-number-security-code-capture-sequence"
            self._send(
                session.status_callback,
                session.update_form(
                    capture,
                    partial=False,
                    error_type="invalid-card-number-security-code-capture-sequence",
                ),
            )
            return
        session.forget(capture)
        session.capturing = capture
        self._send(session.status_callback, session.update_form(capture, partial=True))

    def _complete(self, session: PaySession) -> None:
        assert session.card is not None and session.expiration_date is not None
        token, profile = self._tokenize(session.card, session.expiration_date)
        session.payment_token = token
        extra = {"PaymentToken": token, "ProfileId": profile, "PaymentConfirmationCode": ""}
        self._end(session, "complete", "success", **extra)

    def _end(self, session: PaySession, state: str, result: str, **extra: str) -> None:
        self._stop_timer(session.sid)
        session.keyed.clear()
        session.capturing = None
        session.state = state
        session.date_updated = self._clock()
        call = self._calls[session.call_sid]
        if call.payment_sid == session.sid:
            call.payment_sid = None
        self._send(session.status_callback, session.end_form(result, **extra))

    # ------------------------------------------------------------------ the caller
    def _active(self, call_sid: str) -> PaySession | None:
        call = self.call(call_sid)
        return self._sessions[call.payment_sid] if call.payment_sid else None

    def press(self, call_sid: str, keys: str) -> None:
        """The caller presses ``keys`` (digits, ``#`` ends the field, ``*`` ends Pay).
        Raises ``LookupError`` when no field is being asked for (keys go nowhere)."""
        if not keys or any(k not in "0123456789*#" for k in keys):
            raise ValueError("keys are the digits 0-9, * and #")
        with self._lock:
            session = self._active(call_sid)
            if session is not None and "*" in keys:
                self._end(session, "cancelled", "caller-interrupted-with-star")
                return
            if session is None or session.capturing is None:
                raise LookupError("no payment information is being asked for on this call")
            for key in keys:
                if key == "#":
                    self._finish_field(session)
                    return
                session.keyed.append(key)
            session.date_updated = self._clock()
            self._send(
                session.status_callback, session.update_form(session.capturing, partial=True)
            )
            self._arm_timer(session)

    def silence(self, call_sid: str) -> None:
        """The caller presses nothing: ``ErrorType=input-timeout`` on the field asked for."""
        with self._lock:
            session = self._active(call_sid)
            if session is None or session.capturing is None:
                raise LookupError("no payment information is being asked for on this call")
            capture = session.capturing
            self._stop_timer(session.sid)
            session.keyed.clear()
            session.capturing = None
            session.last_error = "input-timeout"
            session.date_updated = self._clock()
            form = session.update_form(capture, partial=False, error_type="input-timeout")
            self._send(session.status_callback, form)

    def hang_up(self, call_sid: str) -> None:
        with self._lock:
            session = self._active(call_sid)
            if session is not None:
                self._end(session, "cancelled", "caller-hung-up")
            self.call(call_sid).status = "completed"

    def _finish_field(self, session: PaySession) -> None:
        """Validate the keyed digits, keep only the masked value, report it."""
        self._stop_timer(session.sid)
        capture, digits = session.capturing, "".join(session.keyed)
        session.keyed.clear()
        session.capturing = None
        session.date_updated = self._clock()
        assert capture is not None
        error: str | None = None
        try:
            if capture == "payment-card-number":
                session.card = check_card_number(digits, session.valid_card_types)
            elif capture == "expiration-date":
                session.expiration_date = check_expiration_date(digits, self._clock().date())
            elif capture == "security-code":
                assert session.card is not None
                session.security_code = check_security_code(digits, session.card)
            else:
                session.postal_code = check_postal_code(digits, session.min_postal_code_length)
        except EntryError as exc:
            error = exc.error_type
        del digits
        session.last_error = error
        form = session.update_form(capture, partial=False, error_type=error)
        self._send(session.status_callback, form)

    # ------------------------------------------------------------------ Timeout
    def _arm_timer(self, session: PaySession) -> None:
        self._stop_timer(session.sid)
        timer = threading.Timer(session.timeout, self._timed_out, (session.sid, len(session.keyed)))
        timer.daemon = True
        self._timers[session.sid] = timer
        timer.start()

    def _stop_timer(self, payment_sid: str) -> None:
        timer = self._timers.pop(payment_sid, None)
        if timer is not None:
            timer.cancel()

    def _timed_out(self, payment_sid: str, keyed: int) -> None:
        with self._lock:
            session = self._sessions[payment_sid]
            # a key pressed since, or the field ended: this timer is stale
            if session.capturing is not None and len(session.keyed) == keyed:
                self._timers.pop(payment_sid, None)
                self._finish_field(session)

    def stop(self) -> None:
        with self._lock:
            for payment_sid in list(self._timers):
                self._stop_timer(payment_sid)

    def view(self, call_sid: str) -> dict[str, Any]:
        """The call as the caller's keypad page sees it (masked values only)."""
        with self._lock:
            call = self.call(call_sid)
            session = self._sessions.get(call.payment_sid or "")
            capturing = session.capturing if session else None
            error = session.last_error if session else None
            return {
                "sid": call.sid,
                "from": call.caller,
                "to": call.called,
                "agent": call.agent,
                "status": call.status,
                "payment_sid": session.sid if session else None,
                "capturing": session.capturing if session else None,
                "keyed": len(session.keyed) if session else 0,
                "required": list(session.required) if session else [],
                "prompt": spoken(call.status, capturing, session is not None, error),
            }
