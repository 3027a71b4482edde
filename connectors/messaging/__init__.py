"""Messaging adapters: email over SMTP or into a file mailbox (demo), SMS into a file
outbox (demo). Each implements a port of :mod:`crm_pay.ports`."""

from .file_mailbox import Attachment, FileMailbox, MailboxEntry, MailboxMessage
from .sms_file import FileSmsOutbox
from .smtp import SmtpSender, SmtpTemporaryFailure

__all__ = [
    "Attachment",
    "FileMailbox",
    "FileSmsOutbox",
    "MailboxEntry",
    "MailboxMessage",
    "SmtpSender",
    "SmtpTemporaryFailure",
]
