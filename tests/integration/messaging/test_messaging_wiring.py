"""Choosing the email and SMS senders by configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.messaging import FileMailbox, FileSmsOutbox, SmtpSender
from crm_pay.config import DEFAULTS
from crm_pay.domain.errors import ConfigurationError
from crm_pay.services.context import Context
from crm_pay.wiring import load_email_sender, load_sms_sender


def _config(**changes: object) -> dict[str, object]:
    return {**DEFAULTS, **changes}


def test_the_defaults_are_the_file_senders_in_the_instance_folder(
    ctx: Context, tmp_path: Path
) -> None:
    assert isinstance(ctx.email.wrapped_adapter, FileMailbox)  # type: ignore[union-attr]
    assert ctx.email.path == str(tmp_path / "instance" / "mailbox")  # type: ignore[union-attr]
    assert isinstance(ctx.sms.wrapped_adapter, FileSmsOutbox)  # type: ignore[union-attr]
    assert ctx.settings.email_from == '"Demo Merchant Inc." <billing@example.com>'
    assert ctx.settings.receipt_link_ttl_seconds == 90 * 86400


def test_smtp_takes_its_password_from_the_vault() -> None:
    asked: list[str] = []

    def secret(name: str) -> str | None:
        asked.append(name)
        return "from-the-vault"

    sender = load_email_sender(
        _config(
            CRM_PAY_EMAIL_SENDER="smtp",
            CRM_PAY_SMTP_HOST="smtp.example.com",
            CRM_PAY_SMTP_USERNAME="mailer",
            CRM_PAY_SMTP_PORT="465",
            CRM_PAY_SMTP_SSL=True,
        ),
        instance_path="/tmp/x",
        secret=secret,
    )
    assert isinstance(sender, SmtpSender)
    assert (sender.host, sender.port, sender.ssl, sender.username) == (
        "smtp.example.com",
        465,
        True,
        "mailer",
    )
    assert asked == ["smtp.password"]
    assert "from-the-vault" not in repr(sender)


def test_misconfiguration_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigurationError, match="CRM_PAY_SMTP_HOST"):
        load_email_sender(
            _config(CRM_PAY_EMAIL_SENDER="smtp"), instance_path="/tmp/x", secret=lambda n: None
        )
    with pytest.raises(ConfigurationError, match="smtp.password"):
        load_email_sender(
            _config(
                CRM_PAY_EMAIL_SENDER="smtp",
                CRM_PAY_SMTP_HOST="smtp.example.com",
                CRM_PAY_SMTP_USERNAME="mailer",
            ),
            instance_path="/tmp/x",
            secret=lambda n: None,
        )
    with pytest.raises(ConfigurationError, match="installed: file"):
        load_sms_sender(
            _config(CRM_PAY_SMS_SENDER="carrier-pigeon"),
            instance_path="/tmp/x",
            secret=lambda n: None,
        )
