"""Webhook notifications signed the way Braintree signs them, delivered in the background.

Braintree posts a form with ``bt_payload`` (the notification XML, base64 with a newline
every 76 characters) and ``bt_signature`` (``public_key|hex(HMAC-SHA1(key, payload))``
where ``key`` is the SHA-1 digest of the private key). The SDK's
``gateway.webhook_notification.parse(bt_signature, bt_payload)`` verifies exactly that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests

from .xml_codec import encode

log = logging.getLogger("crm_pay.sandbox")

TRANSACTION_KINDS = ("transaction_settled", "transaction_settlement_declined")
DISPUTE_KINDS = (
    "dispute_opened",
    "dispute_won",
    "dispute_lost",
    "dispute_accepted",
    "dispute_auto_accepted",
    "dispute_expired",
    "dispute_under_review",
    "dispute_disputed",
)
SUPPORTED_KINDS = (*TRANSACTION_KINDS, *DISPUTE_KINDS, "check")


def sign_notification(
    kind: str, subject: dict[str, Any], *, public_key: str, private_key: str
) -> dict[str, str]:
    """The form fields Braintree would post for one notification."""
    document = encode(
        "notification",
        {"timestamp": datetime.now(UTC), "kind": kind, "subject": subject},
    )
    payload = base64.encodebytes(document)
    # SHA-1 is Braintree's scheme, not our choice: the SDK verifies exactly this.
    key = hashlib.sha1(private_key.encode("ascii")).digest()  # noqa: S324
    digest = hmac.new(key, payload, hashlib.sha1).hexdigest()
    return {"bt_signature": f"{public_key}|{digest}", "bt_payload": payload.decode("ascii")}


class WebhookDispatcher:
    """Posts notifications to one URL from a single background thread, with retries.

    Delivery is best-effort like Braintree's: a few attempts with a short timeout, then
    the failure is logged (kind and subject id only, never the body).
    """

    def __init__(
        self, url: str, *, timeout: float = 3.0, attempts: int = 3, backoff: float = 0.25
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._queue: queue.Queue[tuple[str, str, dict[str, str]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.delivered: list[tuple[str, str, int]] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, kind: str, subject_id: str, form: dict[str, str]) -> None:
        self._queue.put((kind, subject_id, form))

    def _run(self) -> None:
        with requests.Session() as session:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                self._deliver(session, *item)

    def _deliver(
        self, session: requests.Session, kind: str, subject_id: str, form: dict[str, str]
    ) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                response = session.post(self.url, data=form, timeout=self.timeout)
                status = response.status_code
                response.close()
            except requests.RequestException as exc:
                log.warning(
                    "development sandbox: webhook %s for %s attempt %d failed: %s",
                    kind,
                    subject_id,
                    attempt,
                    type(exc).__name__,
                )
            else:
                if status < 300:
                    log.info(
                        "development sandbox: webhook %s for %s delivered (HTTP %d)",
                        kind,
                        subject_id,
                        status,
                    )
                    self.delivered.append((kind, subject_id, status))
                    return
                log.warning(
                    "development sandbox: webhook %s for %s attempt %d got HTTP %d",
                    kind,
                    subject_id,
                    attempt,
                    status,
                )
            if self._stopping.is_set():
                break
            time.sleep(self.backoff * attempt)
        log.error("development sandbox: webhook %s for %s was not delivered", kind, subject_id)
