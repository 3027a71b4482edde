"""Sending a payment's pay link from the console, and the notice the agent reads after.

The notice says what the message table below it says: a link handed to the outbox is
"queued to send" until the dispatcher has delivered it (the table then shows "sent", and
the live panel ticks "Link sent"); only a message already delivered reads "sent".
"""

from __future__ import annotations

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services.access import Principal

from . import console_services as services
from .console_session import flash

__all__ = ["send_link", "sent_notice"]


def sent_notice(channel: str, status: str, *, first: bool) -> str:
    """The agent's notice for a pay link message in ``status`` (``queued``/``sent``...)."""
    word = "Email" if channel == "email" else "SMS"
    again = "" if first else " again"
    if status == "sent":
        return f"{word} with the pay link sent{again}."
    return (
        f"{word} with the pay link queued to send{again}; the Messages table shows when "
        "it has gone out."
    )


def send_link(payment_id: str, channel: str, principal: Principal, *, first: bool) -> None:
    """Send the pay link by ``channel`` and flash what happened, in words."""
    word = "Email" if channel == "email" else "SMS"
    try:
        sent = services.send_pay_link(
            get_context(), payment_id, channel=channel, actor=principal.actor
        )
    except services.Unavailable:
        flash(
            "Sending pay links is not available in this installation yet; the payment "
            "was created but no message went out.",
            "warning",
        )
    except CrmPayError as exc:
        flash(f"The {word} could not be sent: {exc.message} Try Resend.", "warning")
    else:
        status = str(sent.get("status", "queued")) if isinstance(sent, dict) else "queued"
        flash(sent_notice(channel, status, first=first), "notice")
