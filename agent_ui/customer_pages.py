"""What every page a customer sees says about the merchant: who they are, how to reach them.

A customer who lands on a closed link, a receipt or a reminder page must learn whose page
it is and whom to call, without the link in hand still working. The pay page, the
receipts portal and the survey/reminder pages each register :func:`merchant_contact` as a
context processor of their own blueprint, so the footer
(``crm_pay/_merchant_footer.html``) is filled on crm-pay's customer pages only; the host
application's templates never see it.

Times on those pages are the merchant's local time (``CRM_PAY_MERCHANT_TIME_ZONE``),
written with the zone's abbreviation (``2026-03-02 14:05 GMT``), through ``local_time``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from crm_pay.current import get_context

__all__ = ["install_merchant_footer", "local_time", "merchant_contact"]


def local_time(moment: datetime) -> str:
    """``moment`` (time-zone aware) as the merchant's local time, with the zone's name."""
    local = moment.astimezone(get_context().settings.time_zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def merchant_contact() -> dict[str, Any]:
    """The merchant as the customer pages show it (name, phone, e-mail from the settings),
    and :func:`local_time` for the times they show."""
    return {"merchant_contact": get_context().settings.merchant, "local_time": local_time}


def install_merchant_footer(bp: Blueprint) -> None:
    """Fill the merchant footer on the pages of ``bp`` (a customer-facing blueprint)."""
    bp.context_processor(merchant_contact)
