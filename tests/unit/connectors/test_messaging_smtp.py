"""SmtpSender: against a tiny SMTP server on 127.0.0.1, and with a fake ``smtplib``
class for the answers a real server rarely gives on demand."""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest

from connectors.messaging import SmtpSender, SmtpTemporaryFailure
from crm_pay.ports import DeliveryFailed, EmailSender, OutgoingEmail

EMAIL = OutgoingEmail(
    message_id="receipt.R-2026-000007@example.com",
    sender="Demo Merchant <billing@example.com>",
    to="eleanor@example.com",
    subject="Your receipt R-2026-000007 from Demo Merchant",
    text="Thank you.\n",
    html="<p>Thank you.</p>",
    attachments=(("R-2026-000007.pdf", "application/pdf", b"%PDF-1.4\n"),),
)


class _SmtpSession(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: recipients starting with "gone" get a
    550, with "busy" a 451; everything else is accepted and kept."""

    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 test.local ESMTP")
        sender, recipients = "", []
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-test.local")
                self._say("250 8BITMIME")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip(" <>").split(">")[0]
                self._say("250 OK")
            elif verb == "RCPT":
                to = line.split(":", 1)[1].strip(" <>")
                if to.startswith("gone"):
                    self._say("550 5.1.1 mailbox unavailable")
                elif to.startswith("busy"):
                    self._say("451 4.3.0 try again later")
                else:
                    recipients.append(to)
                    self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    data += self.rfile.readline()
                self.server.received.append((sender, list(recipients), data[:-5]))
                self._say("250 queued")
            elif verb == "RSET":
                sender, recipients = "", []
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.received: list[tuple[str, list[str], bytes]] = []


@pytest.fixture
def smtp_server() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _sender(server: _Server, **kwargs: Any) -> SmtpSender:
    return SmtpSender("127.0.0.1", server.server_address[1], starttls=False, timeout=5, **kwargs)


def test_sends_the_email_with_its_message_id(smtp_server: _Server) -> None:
    sender = _sender(smtp_server)
    assert isinstance(sender, EmailSender)
    sender.send(EMAIL)
    [(mail_from, rcpt, data)] = smtp_server.received
    assert (mail_from, rcpt) == ("billing@example.com", ["eleanor@example.com"])
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Message-ID"] == "<receipt.R-2026-000007@example.com>"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["R-2026-000007.pdf"]


def test_a_permanently_refused_recipient_is_a_delivery_failure(smtp_server: _Server) -> None:
    with pytest.raises(DeliveryFailed, match="550"):
        _sender(smtp_server).send(_to("gone@example.com"))
    assert smtp_server.received == []


def test_a_deferred_recipient_is_temporary_and_retried(smtp_server: _Server) -> None:
    with pytest.raises(SmtpTemporaryFailure, match="451") as caught:
        _sender(smtp_server).send(_to("busy@example.com"))
    assert not isinstance(caught.value, DeliveryFailed)


def test_no_server_is_temporary() -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as probe:
        port = probe.server_address[1]
    with pytest.raises(OSError):
        SmtpSender("127.0.0.1", port, starttls=False, timeout=2).send(EMAIL)


def _to(address: str) -> OutgoingEmail:
    return dataclasses.replace(EMAIL, to=address)


class _FakeSmtp:
    """Stands in for ``smtplib.SMTP``: records calls, answers as told."""

    calls: list[tuple[str, Any]] = []
    fail: Exception | None = None

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.calls.append(("connect", (host, port, timeout)))

    def __enter__(self) -> _FakeSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit", None))

    def starttls(self, *, context: Any) -> None:
        self.calls.append(("starttls", None))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", (user, password)))
        if isinstance(self.fail, smtplib.SMTPAuthenticationError):
            raise self.fail

    def send_message(self, msg: Any, *, from_addr: str, to_addrs: list[str]) -> dict[str, Any]:
        self.calls.append(("send", (from_addr, to_addrs, msg["Message-ID"])))
        if self.fail is not None:
            raise self.fail
        return {}


@pytest.fixture
def fake() -> Iterator[type[_FakeSmtp]]:
    _FakeSmtp.calls, _FakeSmtp.fail = [], None
    yield _FakeSmtp


def _fake_sender(fake: type[_FakeSmtp]) -> SmtpSender:
    return SmtpSender(
        "smtp.example.com",
        587,
        username="mailer",
        password="s3cret-pass",
        sender="bounces@example.com",
        smtp_factory=fake,
    )


def test_starttls_then_login_then_send(fake: type[_FakeSmtp]) -> None:
    _fake_sender(fake).send(EMAIL)
    assert [name for name, _ in fake.calls] == ["connect", "starttls", "login", "send", "quit"]
    assert fake.calls[3][1] == (
        "bounces@example.com",
        ["eleanor@example.com"],
        "<receipt.R-2026-000007@example.com>",
    )


def test_a_rejected_message_is_permanent_a_deferred_one_is_not(fake: type[_FakeSmtp]) -> None:
    fake.fail = smtplib.SMTPDataError(554, b"5.7.1 message refused")
    with pytest.raises(DeliveryFailed, match="554"):
        _fake_sender(fake).send(EMAIL)
    fake.fail = smtplib.SMTPDataError(452, b"4.3.1 insufficient storage")
    with pytest.raises(SmtpTemporaryFailure):
        _fake_sender(fake).send(EMAIL)


def test_credentials_never_show(fake: type[_FakeSmtp], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = _fake_sender(fake)
    assert "s3cret-pass" not in repr(sender)
    fake.fail = smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials")
    with pytest.raises(SmtpTemporaryFailure) as caught:
        sender.send(EMAIL)
    assert "s3cret-pass" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    fake.fail = None
    sender.send(EMAIL)
    assert "s3cret-pass" not in caplog.text


def test_a_host_is_required() -> None:
    with pytest.raises(ValueError, match="CRM_PAY_SMTP_HOST"):
        SmtpSender("")
