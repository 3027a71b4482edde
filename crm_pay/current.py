"""The crm-pay :class:`~crm_pay.services.context.Context` of the current Flask app.

A leaf module on purpose: every blueprint, page and CLI command imports
:func:`get_context` from here, and it imports only Flask and the Context type, so the
wiring point (``crm_pay.extension``) can import the blueprints at module top without a
cycle.
"""

from __future__ import annotations

from flask import Flask, current_app

from crm_pay.services.context import Context

__all__ = ["get_context"]

EXTENSION_KEY = "crm_pay"


def get_context(app: Flask | None = None) -> Context:
    """The crm-pay context of ``app`` (default: the current app)."""
    app = app or current_app
    try:
        ctx: Context = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "crm-pay is not registered on this app; call CrmPay(app) or crm_pay.init_app(app)"
        ) from None
    return ctx
