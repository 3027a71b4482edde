"""The customer receipts portal, reached from a signed link in the receipt email."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("crm_pay_receipts_portal", __name__, template_folder="templates")
