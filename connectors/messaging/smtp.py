"""``SmtpSender``: production email over SMTP (``smtplib``).

Refusals are sorted the way the outbox needs them: a permanent one (5xx: no such
mailbox, message rejected) raises :class:`~crm_pay.ports.DeliveryFailed` and is not
retried; anything else (4xx, connection refused, timeout, bad credentials) raises an
ordinary exception and the outbox retries with backoff. Credentials never appear in a
log line, an exception message or the object's ``repr``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl as _ssl
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from crm_pay.ports import DeliveryFailed, OutgoingEmail

from .mime import build_message

__all__ = ["SmtpSender", "SmtpTemporaryFailure"]

log = logging.getLogger("crm_pay.messaging.smtp")


class SmtpTemporaryFailure(Exception):
    """The mail server said "not now" (4xx); the outbox tries again later."""


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _reason(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:200]


class SmtpSender:
    """An :class:`~crm_pay.ports.EmailSender` over SMTP.

    ``ssl`` connects with implicit TLS (port 465); otherwise ``starttls`` upgrades a
    plain connection (port 587) and fails if the server cannot. ``sender`` is the
    envelope sender (``MAIL FROM``); by default the address in the email's ``From``.
    ``smtp_factory`` replaces the ``smtplib`` class (tests).
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        ssl: bool = False,
        timeout: float = 30.0,
        sender: str | None = None,
        *,
        ssl_context: _ssl.SSLContext | None = None,
        smtp_factory: Callable[..., Any] | None = None,
    ) -> None:
        if not host:
            raise ValueError("an SMTP host is required (CRM_PAY_SMTP_HOST)")
        self.host = host
        self.port = int(port)
        self.username = username or None
        self._password = password or None
        self.starttls = bool(starttls)
        self.ssl = bool(ssl)
        self.timeout = float(timeout)
        self.sender = sender or None
        self._ssl_context = ssl_context
        self._factory = smtp_factory

    def __repr__(self) -> str:
        auth = f", username={self.username!r}, password=***" if self.username else ""
        return f"SmtpSender({self.host!r}, {self.port}{auth}, ssl={self.ssl})"

    def _connect(self) -> Any:
        context = self._ssl_context or _ssl.create_default_context()
        if self._factory is not None:
            return self._factory(self.host, self.port, timeout=self.timeout)
        if self.ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, email: OutgoingEmail) -> None:
        msg = build_message(email)
        envelope_from = self.sender or parseaddr(email.sender)[1]
        try:
            with self._connect() as smtp:
                if self.starttls and not self.ssl:
                    smtp.starttls(context=self._ssl_context or _ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(msg, from_addr=envelope_from, to_addrs=[email.to])
        except smtplib.SMTPRecipientsRefused as exc:
            answers = list(exc.recipients.values())
            detail = "; ".join(f"{code} {_reason(text)}" for code, text in answers)
            if answers and all(_permanent(code) for code, _ in answers):
                raise DeliveryFailed(f"the mail server refused the recipient: {detail}") from None
            raise SmtpTemporaryFailure(f"recipient deferred: {detail}") from None
        except smtplib.SMTPDataError as exc:
            detail = f"{exc.smtp_code} {_reason(exc.smtp_error)}"
            if _permanent(exc.smtp_code):
                raise DeliveryFailed(f"the mail server rejected the message: {detail}") from None
            raise SmtpTemporaryFailure(f"message deferred: {detail}") from None
        except smtplib.SMTPAuthenticationError as exc:
            # Retried: an admin can fix the credentials, then the message goes out.
            raise SmtpTemporaryFailure(
                f"the mail server refused our login ({exc.smtp_code}); check "
                "CRM_PAY_SMTP_USERNAME and the SMTP password"
            ) from None
        log.info("smtp: sent %s via %s:%s", email.message_id, self.host, self.port)
