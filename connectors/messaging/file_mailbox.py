"""``FileMailbox``: the demo's email sender. Each email becomes an RFC 5322 ``.eml`` file
(what an SMTP server would have received), readable by any mail client, by the mailbox
viewer page and by tests.

Idempotent by Message-ID: a message delivered twice (a dispatcher that died after sending
but before marking it sent) is recognised and written once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from crm_pay.ports import OutgoingEmail

from .mime import build_message
from .spool import Spool

__all__ = ["FileMailbox", "MailboxEntry", "MailboxMessage", "Attachment"]

log = logging.getLogger("crm_pay.messaging.mailbox")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class MailboxEntry:
    """One line of the mailbox listing."""

    message_id: str
    sender: str
    to: str
    subject: str
    date: datetime | None
    attachments: tuple[str, ...]  # file names


@dataclass(frozen=True, slots=True)
class MailboxMessage:
    """A stored email, parsed back: its parts as a reader sees them."""

    entry: MailboxEntry
    text: str
    html: str
    attachments: tuple[Attachment, ...]
    raw: bytes


class FileMailbox:
    """An :class:`~crm_pay.ports.EmailSender` that writes ``.eml`` files into ``path``."""

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._spool = Spool(path, ".eml")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.duplicates = 0  # deliveries recognised as already here (this process)

    @property
    def path(self) -> str:
        return str(self._spool.path)

    def send(self, email: OutgoingEmail) -> None:
        data = build_message(email, date=self._clock()).as_bytes()
        if self._spool.write_once(email.message_id, data):
            log.info("mailbox: stored %s", email.message_id)
        else:
            self.duplicates += 1
            log.info("mailbox: %s is already here; duplicate not written", email.message_id)

    def list_messages(self) -> list[MailboxEntry]:
        """Every stored email, newest first."""
        out = []
        for file in self._spool.files():
            try:
                out.append(_entry(_parse(file.read_bytes())))
            except (OSError, ValueError):
                log.warning("mailbox: cannot read %s; skipped", file.name)
        return out

    def read(self, message_id: str) -> MailboxMessage | None:
        """The email with this Message-ID (without angle brackets), or None."""
        raw = self._spool.read(message_id)
        if raw is None:
            return None
        msg = _parse(raw)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        attachments = tuple(
            Attachment(
                filename=part.get_filename() or "attachment",
                mime_type=part.get_content_type(),
                content=part.get_payload(decode=True) or b"",
            )
            for part in msg.iter_attachments()
        )
        return MailboxMessage(
            entry=_entry(msg),
            text=text.get_content() if text is not None else "",
            html=html.get_content() if html is not None else "",
            attachments=attachments,
            raw=raw,
        )


def _parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _entry(msg: EmailMessage) -> MailboxEntry:
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    return MailboxEntry(
        message_id=str(msg["Message-ID"] or "").strip().strip("<>"),
        sender=str(msg["From"] or ""),
        to=str(msg["To"] or ""),
        subject=str(msg["Subject"] or ""),
        date=date,
        attachments=tuple(part.get_filename() or "attachment" for part in msg.iter_attachments()),
    )
