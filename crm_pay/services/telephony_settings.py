"""The admin's Twilio connector page: what to paste into Twilio, the auth token kept in
the vault, and Test connection.

Layer: use case (over :mod:`.calls`, :mod:`.keypad_sessions` and :mod:`.secrets`). The
account SID and the Pay Connector's name are configuration (``CRM_PAY_TWILIO_*``); the
auth token lives in the vault only (``telephony.twilio.auth_token``): it is typed once,
stored encrypted, and from then on only said to be set or not. Test connection reads the
account through the telephony adapter (:class:`~crm_pay.ports.TelephonyAccountCheck`).
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_pay.domain.errors import ConfigurationError, CrmPayError, ValidationError
from crm_pay.ports import TelephonyAccountCheck, capability

from . import audit
from .calls import taskrouter_url
from .context import Context
from .keypad_sessions import status_url
from .secrets import get_secret, put_secret

__all__ = [
    "AUTH_TOKEN_SECRET",
    "ConnectionCheck",
    "TwilioSettings",
    "store_auth_token",
    "check_connection",
    "twilio_settings",
]

#: The vault's name of the Twilio auth token (read by the wiring, crm_pay/wiring.py).
AUTH_TOKEN_SECRET = "telephony.twilio.auth_token"  # noqa: S105 - a name, not a secret


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """What the admin page shows (never the auth token itself)."""

    account_sid: str | None
    pay_connector: str
    base_url: str | None  # where the SDK's REST calls go (None: api.twilio.com)
    status_url: str  # the Pay Connector's status callback, to paste into Twilio
    taskrouter_url: str  # the TaskRouter workspace's Event Callback URL
    auth_token_set: bool

    @property
    def ready(self) -> bool:
        return bool(self.account_sid) and self.auth_token_set


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """Test connection's answer: passed or not, in words."""

    ok: bool
    message: str


def twilio_settings(ctx: Context) -> TwilioSettings:
    config = ctx.config
    return TwilioSettings(
        account_sid=config.twilio_account_sid or None,
        pay_connector=config.twilio_pay_connector,
        base_url=config.twilio_base_url or None,
        status_url=status_url(ctx.settings),
        taskrouter_url=taskrouter_url(ctx.settings),
        auth_token_set=bool(get_secret(ctx, AUTH_TOKEN_SECRET)),
    )


def store_auth_token(ctx: Context, token: str, *, actor: str) -> None:
    """Keep Twilio's auth token in the vault (audited as ``secret.stored``); the adapter
    is built again with it at its next use."""
    token = (token or "").strip()
    if not token or len(token) > 200 or any(ch.isspace() for ch in token):
        raise ValidationError(
            "Paste the auth token exactly as the Twilio console shows it (Account → API keys "
            "& tokens): one word, no spaces. Nothing was saved."
        )
    put_secret(ctx, AUTH_TOKEN_SECRET, token, actor=actor)
    # ctx.telephony is the wiring's lazy proxy: forget the adapter built with the old token
    refresh = getattr(ctx.telephony, "refresh", None)
    if callable(refresh):
        refresh()


def check_connection(ctx: Context, *, actor: str) -> ConnectionCheck:
    """Fetch the Twilio account with the stored credentials; the answer in words, and
    the attempt in the audit log."""
    settings = twilio_settings(ctx)
    if not settings.account_sid:
        check = ConnectionCheck(
            False, "No Twilio account is set: set CRM_PAY_TWILIO_ACCOUNT_SID and restart."
        )
    elif not settings.auth_token_set:
        check = ConnectionCheck(False, "No auth token in the vault yet: store it below first.")
    else:
        try:
            account = capability(ctx.telephony, TelephonyAccountCheck)
            if account is None:
                raise ConfigurationError("the telephony connector cannot check its account")
            check = ConnectionCheck(True, f"Twilio answered: account {account.check_account()}.")
        except CrmPayError as exc:
            check = ConnectionCheck(False, f"Twilio did not accept the connection: {exc.message}.")
    with ctx.db.transaction() as s:
        audit.record(
            s,
            ctx,
            actor=actor,
            action="telephony.tested",
            subject="telephony:twilio",
            data={"ok": check.ok},
        )
    return check
