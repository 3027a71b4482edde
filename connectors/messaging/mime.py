"""One email as RFC 5322 bytes: shared by the file mailbox and the SMTP sender, so the
demo mailbox holds exactly what production would hand to the mail server."""

from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from crm_pay.ports import OutgoingEmail

__all__ = ["build_message"]

# Header values with a line break would let text smuggle in headers of its own.
_BREAKS = re.compile(r"[\r\n]+")


def _header(value: str) -> str:
    return _BREAKS.sub(" ", value).strip()


_LETTERS = string.ascii_letters


def build_message(email: OutgoingEmail, *, date: datetime | None = None) -> EmailMessage:
    """``multipart/mixed``: a ``multipart/alternative`` (plain text, then HTML) and the
    attachments. ``Message-ID`` is the email's stable id, so a redelivered message is
    recognisable as the same one by any receiving system."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["Message-ID"] = f"<{_header(email.message_id)}>"
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["From"] = _header(email.sender)
    msg["To"] = _header(email.to)
    msg["Subject"] = _header(email.subject)
    msg.set_content(email.text, charset="utf-8")
    msg.add_alternative(email.html, subtype="html", charset="utf-8")
    for filename, mime_type, content in email.attachments:
        maintype, _, subtype = mime_type.partition("/")
        msg.add_attachment(
            content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=_header(filename),
        )
    # The email package's own boundaries hold 19 random digits, which now and then pass
    # the card-number check of every outgoing text; letters-only boundaries never do.
    for part in msg.walk():
        if part.is_multipart():
            part.set_boundary("=_crm-pay_" + "".join(secrets.choice(_LETTERS) for _ in range(24)))
    return msg
