"""crm-pay: agent-assisted card payments for contact centers, as a Flask extension.

``from crm_pay import CrmPay; CrmPay(app)`` — or ``crm_pay.init_app(app)``, or the
standalone ``crm_pay.create_app()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CrmPay", "create_app", "init_app"]

if TYPE_CHECKING:
    from flask import Flask

    from crm_pay.extension import CrmPay


def init_app(app: Flask) -> None:
    """Register crm-pay on ``app`` (same as ``CrmPay(app)``)."""
    # Deliberately lazy (here and below): ``import crm_pay.domain`` alone must not pull
    # in Flask, SQLAlchemy and every adapter through the extension.
    from crm_pay.extension import CrmPay

    CrmPay(app)


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """The standalone app (:func:`crm_pay.app.create_app`), imported on first call."""
    from crm_pay.app import create_app as factory  # lazy: see init_app

    return factory(*args, **kwargs)


def __getattr__(name: str) -> Any:
    # Lazy, so importing crm_pay.domain alone pulls in no Flask or SQLAlchemy.
    if name == "CrmPay":
        from crm_pay.extension import CrmPay  # lazy: see init_app

        return CrmPay
    raise AttributeError(name)
