"""Twilio agent-assisted Pay through the official ``twilio`` SDK.

Follows Twilio's "Payments subresource" page (twilio.com/docs/voice/api/payment-resource)
and the SDK's ``twilio/rest/api/v2010/account/call/payment.py``: a capture is created on
the call with ``client.calls(sid).payments.create(...)`` (tokenize only: ``charge_amount``
0, the token comes back in the completing status callback), each field is asked for with
``.payments(sid).update(capture=...)``, and the session ends with ``status="complete"`` or
``"cancel"``. Every status callback is signed with the account's auth token
(``X-Twilio-Signature``, checked with the SDK's ``RequestValidator``) and refused unsigned.

Also reads TaskRouter's Event Callback (a call reaching an agent, for the screen-pop) and
fetches the account for the admin's Test connection (``client.api.v2010.accounts(sid)``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.rest.api.v2010.account.call.payment import PaymentInstance

from crm_pay.domain.errors import ConfigurationError, Conflict, CrmPayError, WebhookRejected
from crm_pay.ports import (
    KEYPAD_FIELDS,
    CallEvent,
    KeypadCallback,
    KeypadCapture,
    KeypadCaptureRequest,
    KeypadStatus,
)

__all__ = ["TwilioKeypadCapture", "masked_card_number"]

log = logging.getLogger("crm_pay.telephony.twilio")

_T = TypeVar("_T")
# Twilio masks the card number as "xxxxxxxxxxxx1111" (the page's callback samples); we
# keep at most the last 4 digits whatever arrives, so a digit run can never get further.
_DIGITS = re.compile(r"\d")
_SID = re.compile(r"[A-Za-z0-9]{2,64}")
# "reusable": the Braintree Pay Connector vaults the card and returns its payment method
# token, which crm-pay then charges itself (the SDK's TokenType values).
_TOKEN_TYPE = PaymentInstance.TokenType.REUSABLE


def masked_card_number(value: str | None) -> str | None:
    """``value`` with every digit but the last 4 replaced by ``x`` (None when empty)."""
    if not value:
        return None
    digits = len(_DIGITS.findall(value))
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else "x")
        elif ch in "x* -":
            out.append("x" if ch == "*" else ch)
    return "".join(out)[:32] or None


def _unavailable(message: str) -> CrmPayError:
    return CrmPayError(message, code="telephony_unavailable", status=503)


class TwilioKeypadCapture:
    """:class:`crm_pay.ports.KeypadCapturePort` on Twilio.

    ``payment_connector`` is the name of the Braintree Pay Connector installed in the
    Twilio console. ``base_url`` points the SDK's REST domain elsewhere (the development
    stand-in, ``python -m connectors.telephony.twilio_sandbox``): the SDK's
    ``Domain.base_url``, the prefix of every request it builds; production leaves it ``None`` (``https://api.twilio.com``)."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        payment_connector: str,
        base_url: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ConfigurationError(
                "Twilio needs an account SID and an auth token (CRM_PAY_TWILIO_ACCOUNT_SID, "
                "and the auth token in the vault as 'telephony.twilio.auth_token')"
            )
        if not payment_connector:
            raise ConfigurationError(
                "Twilio needs the name of its Braintree Pay Connector "
                "(CRM_PAY_TWILIO_PAY_CONNECTOR), as installed in the Twilio console"
            )
        self._validator = RequestValidator(auth_token)
        self._account_sid = account_sid
        self._connector = payment_connector
        self._client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout)
        )
        if base_url:
            self._client.api.base_url = base_url.rstrip("/")

    # ------------------------------------------------------------------ REST calls
    def _call(self, what: str, run: Callable[[], _T]) -> _T:
        try:
            return run()
        except TwilioRestException as exc:
            # 5xx and 429: Twilio did not act (or we cannot tell); 4xx: it refused.
            if exc.status >= 500 or exc.status == 429:
                raise _unavailable(f"Twilio did not answer the {what} (HTTP {exc.status})") from exc
            if exc.status in (401, 403):
                raise ConfigurationError(
                    f"Twilio refused our credentials for the {what}; check the account SID "
                    "and auth token"
                ) from exc
            raise Conflict(
                f"Twilio refused the {what}: {exc.msg} (error {exc.code})", code="telephony_refused"
            ) from exc
        except requests.RequestException as exc:
            raise _unavailable(f"Twilio could not be reached for the {what}") from exc

    def start_capture(self, request: KeypadCaptureRequest) -> KeypadCapture:
        """Start a tokenize-only Pay session on the call."""
        if not _SID.fullmatch(request.call_id):
            raise Conflict("that is not a Twilio Call SID", code="invalid_call")

        def run() -> Any:
            return self._client.calls(request.call_id).payments.create(
                idempotency_key=request.request_key,
                status_callback=request.status_url,
                payment_connector=self._connector,
                token_type=_TOKEN_TYPE,
                charge_amount=0,
                # <Pay> docs: currency in lower case, card types separated by spaces
                currency=request.currency.lower(),
                postal_code=request.ask_postal_code,
                security_code=request.ask_security_code,
                valid_card_types=" ".join(request.card_brands),
                timeout=request.timeout_seconds,
            )

        created = self._call("start of the keypad capture", run)
        return KeypadCapture(capture_id=str(created.sid), call_id=request.call_id)

    def _update(self, session: KeypadCapture, what: str, **params: Any) -> None:
        def run() -> Any:
            return self._client.calls(session.call_id).payments(session.capture_id).update(**params)

        self._call(what, run)

    def ask_for(
        self, capture: KeypadCapture, field: str, *, request_key: str, status_url: str
    ) -> None:
        """Prompt the customer for one field (again)."""
        if field not in KEYPAD_FIELDS:
            raise Conflict(f"{field!r} is not a card field", code="invalid_field")
        self._update(
            capture,
            "request for a field",
            idempotency_key=request_key,
            status_callback=status_url,
            capture=field,
        )

    def complete(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None:
        """Have Twilio send the entered card to the Pay Connector (the token follows)."""
        self._update(
            capture,
            "completion of the capture",
            idempotency_key=request_key,
            status_callback=status_url,
            status="complete",
        )

    def cancel(self, capture: KeypadCapture, *, request_key: str, status_url: str) -> None:
        """End the capture; nothing entered is sent anywhere."""
        self._update(
            capture,
            "cancellation of the capture",
            idempotency_key=request_key,
            status_callback=status_url,
            status="cancel",
        )

    # ------------------------------------------------------------------ callbacks
    def parse_status(self, callback: KeypadCallback) -> KeypadStatus:
        """Verify ``X-Twilio-Signature`` over the URL and the form, then decode.

        Parameter names are the Payments page's StatusCallback ones: ``Sid``,
        ``CallSid``, ``Capture``, ``PartialResult``, ``Required`` (comma-separated),
        ``PaymentCardNumber`` (masked), ``PaymentCardType``, ``ErrorType``, ``Result``,
        ``PaymentToken``."""
        form = self._verified_form(callback, "status update")
        sid = form.get("Sid", "")
        call_sid = form.get("CallSid", "")
        if not _SID.fullmatch(sid) or not _SID.fullmatch(call_sid):
            raise WebhookRejected("the status update names no Pay session or call")
        required = tuple(
            f.strip() for f in form.get("Required", "").split(",") if f.strip() in KEYPAD_FIELDS
        )
        field = form.get("Capture") or None
        return KeypadStatus(
            capture_id=sid,
            call_id=call_sid,
            field=field if field in KEYPAD_FIELDS else None,
            partial=form.get("PartialResult", "").lower() == "true",
            masked=masked_card_number(form.get("PaymentCardNumber")),
            card_brand=(form.get("PaymentCardType") or None),
            fields_left=required,
            error=(form.get("ErrorType") or None),
            result=(form.get("Result") or None),
            token=(form.get("PaymentToken") or None),
            digest=_digest(form),
        )

    def _verified_form(self, callback: KeypadCallback, what: str) -> dict[str, str]:
        """The form of a Twilio webhook whose ``X-Twilio-Signature`` is Twilio's (over the
        URL we gave and the form), else ``WebhookRejected`` naming ``what`` it was."""
        signature = callback.headers.get("x-twilio-signature", "")
        if not signature:
            raise WebhookRejected(f"the {what} is not signed (no X-Twilio-Signature)")
        form = dict(callback.form)
        if not self._validator.validate(callback.url, form, signature):
            raise WebhookRejected(f"the {what}'s X-Twilio-Signature is not Twilio's")
        return form

    def parse_call_event(self, callback: KeypadCallback) -> CallEvent | None:
        """A TaskRouter Event Callback, verified (``X-Twilio-Signature`` over the URL and
        the form, as every Twilio webhook), read as a call handed to an agent.

        Field names follow Twilio's "TaskRouter Events reference"
        (twilio.com/docs/taskrouter/api/event/reference): ``EventType``, ``AccountSid``,
        and for ``reservation.accepted`` the Task's ``TaskAttributes`` and the Worker's
        ``WorkerAttributes``, both JSON strings. What goes into those attributes is the
        integrator's choice; crm-pay reads ``call_sid``, ``from`` and ``crm_id`` of the
        task (what a Studio flow or ``<Enqueue>`` puts there, Twilio's own samples use
        ``from``) and ``crm_pay_agent`` of the worker. Any other event: None."""
        form = self._verified_form(callback, "TaskRouter event")
        if form.get("EventType") != "reservation.accepted":
            return None
        if form.get("AccountSid", self._account_sid) != self._account_sid:
            raise WebhookRejected("the TaskRouter event is for another Twilio account")
        task = _attributes(form.get("TaskAttributes"), "TaskAttributes")
        worker = _attributes(form.get("WorkerAttributes"), "WorkerAttributes")
        crm_id = task.get("crm_id")
        return CallEvent(
            caller=_text(task.get("from")),
            agent=_text(worker.get("crm_pay_agent")),
            call_sid=_text(task.get("call_sid")),
            crm_id=crm_id if isinstance(crm_id, str) and crm_id else None,
        )

    # ------------------------------------------------------------------ admin
    def check_account(self) -> str:
        """Fetch the account (``GET /2010-04-01/Accounts/{sid}.json``): proves the SID and
        auth token work. The account's friendly name and status."""
        account = self._call(
            "account check", lambda: self._client.api.v2010.accounts(self._account_sid).fetch()
        )
        return f"{account.friendly_name or self._account_sid} ({account.status or 'unknown'})"


def _attributes(value: str | None, name: str) -> dict[str, Any]:
    """A TaskRouter attributes field, which must be a JSON object."""
    try:
        parsed = json.loads(value or "")
    except ValueError:
        raise WebhookRejected(f"the TaskRouter event's {name} is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookRejected(f"the TaskRouter event's {name} is not a JSON object")
    return parsed


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _digest(form: dict[str, str]) -> str:
    """The identity of one callback: the same parameters give the same digest."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(form.items()))
    return hashlib.sha256(text.encode()).hexdigest()
