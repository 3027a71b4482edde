"""What every page a customer sees says about the merchant: who they are, how to reach them.

A customer who lands on a closed link, a receipt or a reminder page must learn whose page
it is and whom to call, without the link in hand still working. The pay page, the
receipts portal and the survey/reminder pages each register :func:`merchant_contact` as a
context processor of their own blueprint, so the footer
(``crm_pay/_merchant_footer.html``) is filled on crm-pay's customer pages only; the host
application's templates never see it.

The same context carries the admin's branding (``brand``): the logo and theme the base
templates load from ``{prefix}/brand/``, and the support phone, e-mail and hours.

Times on those pages are the merchant's local time (``CRM_PAY_MERCHANT_TIME_ZONE``),
written with the zone's abbreviation (``2026-03-02 14:05 GMT``), through ``local_time``,
in the page's language (:mod:`agent_ui.i18n`, which the same blueprints install).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from crm_pay.current import get_context
from crm_pay.services.branding import branding_in_force

from . import i18n

__all__ = ["install_merchant_footer", "local_time", "merchant_contact"]


def local_time(moment: datetime) -> str:
    """``moment`` (time-zone aware) as the merchant's local time, with the zone's name,
    written the way the page's language writes dates."""
    return i18n.format_local_time(moment)


def merchant_contact() -> dict[str, Any]:
    """The merchant as the customer pages show it: its name, the support contact and look
    the admin set (:mod:`crm_pay.services.branding`; the configuration's phone and e-mail
    without one), and :func:`local_time` for the times they show."""
    ctx = get_context()
    return {
        "merchant_contact": ctx.settings.merchant,
        "brand": branding_in_force(ctx),
        "local_time": local_time,
    }


def install_merchant_footer(bp: Blueprint) -> None:
    """Fill the merchant footer on the pages of ``bp`` (a customer-facing blueprint), in
    the customer's language."""
    bp.context_processor(merchant_contact)
    i18n.install_languages(bp)
