"""The agent console: screen-pop, customer panel, take payment, live status."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("crm_pay_console", __name__, template_folder="templates")
