"""Status callbacks signed the way Twilio signs its webhooks, delivered in the background.

Signature: Twilio docs "Webhooks security" (twilio.com/docs/usage/webhooks/webhooks-security,
"Validating signatures from Twilio"): take the full URL Twilio requested, append each POST
parameter's name and value with the names sorted alphabetically, HMAC-SHA1 the result with
the account's auth token, Base64 the digest, send it as ``X-Twilio-Signature``. The SDK's
``twilio.request_validator.RequestValidator`` checks exactly that (the tests prove it).

Delivery follows the Payments page: one ``POST`` (``application/x-www-form-urlencoded``)
per update to the session's ``StatusCallback``; Twilio does not retry status callbacks by
default, so neither does the stand-in. Only the session SID, the URL and the answer's status
are logged; the form, already masked, is never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import requests

__all__ = ["CallbackDispatcher", "Delivery", "twilio_signature"]

log = logging.getLogger("crm_pay.telephony_sandbox")

USER_AGENT = "TwilioProxy/1.1"  # what Twilio's webhook requests send


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` of a form ``POST`` to ``url``."""
    text = url + "".join(name + params[name] for name in sorted(params))
    # SHA-1 is Twilio's scheme, not our choice: the SDK verifies exactly this.
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One status callback as sent: the URL, the (masked) form, the receiver's HTTP status
    (``None`` when it could not be reached)."""

    url: str
    form: Mapping[str, str]
    status: int | None


class CallbackDispatcher:
    """Posts signed status callbacks from one thread, in the order they were made."""

    def __init__(self, auth_token: str, *, timeout: float = 5.0) -> None:
        self._auth_token = auth_token
        self._timeout = timeout
        self._queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._idle = threading.Condition(self._lock)
        self._pending = 0

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="telephony-sandbox-callbacks", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, url: str, form: dict[str, str]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((url, form))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted callback was attempted; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def _run(self) -> None:
        with requests.Session() as session:
            while (item := self._queue.get()) is not None:
                url, form = item
                status = self._deliver(session, url, form)
                with self._idle:
                    self._deliveries.append(Delivery(url, dict(form), status))
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, session: requests.Session, url: str, form: dict[str, str]) -> int | None:
        headers = {
            "X-Twilio-Signature": twilio_signature(self._auth_token, url, form),
            "User-Agent": USER_AGENT,
        }
        sid = form.get("Sid") or form.get("ReservationSid") or "?"
        try:
            response = session.post(url, data=form, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning(
                "telephony stand-in: status callback for %s not delivered: %s",
                sid,
                type(exc).__name__,
            )
            return None
        status = response.status_code
        response.close()
        log.info("telephony stand-in: status callback for %s answered HTTP %d", sid, status)
        return status
