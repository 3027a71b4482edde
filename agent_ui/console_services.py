"""Services the console uses that other parts of crm-pay provide: sending links and
receipts and message delivery statuses (``crm_pay.services.notifications``), and the
live-status snapshot (``crm_pay.services.live_access``).

Each call is guarded: if the providing module or function is not installed, the console
still works and says plainly what is unavailable instead of failing the page.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from crm_pay.services.context import Context

__all__ = ["Unavailable", "send_pay_link", "resend_receipt", "message_views", "live_snapshot"]

log = logging.getLogger("crm_pay.console")


class Unavailable(Exception):
    """The feature's service is not part of this installation."""


def _service(module: str, name: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(f"crm_pay.services.{module}")
    except ImportError:
        mod = None
    fn = getattr(mod, name, None)
    if fn is None:
        raise Unavailable(f"crm_pay.services.{module}.{name} is not available")
    return fn  # type: ignore[no-any-return]


def send_pay_link(ctx: Context, payment_id: str, *, channel: str, actor: str) -> Any:
    """Queue the pay link to the customer by ``channel`` ("email" or "sms")."""
    return _service("notifications", "send_pay_link")(ctx, payment_id, channel=channel, actor=actor)


def resend_receipt(ctx: Context, number: str, *, actor: str) -> Any:
    """Queue the receipt email again to the customer's address on file."""
    return _service("notifications", "resend_receipt")(ctx, number, actor=actor)


def message_views(ctx: Context, payment_id: str) -> list[dict[str, Any]] | None:
    """Emails and SMS about this payment with their delivery status; None if unknown."""
    try:
        return list(_service("notifications", "message_views")(ctx, payment_id=payment_id))
    except Unavailable:
        return None


def live_snapshot(ctx: Context, payment_id: str) -> dict[str, Any]:
    """The payment's live state as a ``payment_status`` event carries it (``link``
    sent/opened, ``attempts_left``...), or {} when live status is not installed."""
    try:
        return dict(_service("live_access", "snapshot")(ctx, payment_id))
    except Unavailable:
        return {}
