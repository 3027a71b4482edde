"""Demo only: a viewer for the file mailbox."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("crm_pay_mailbox", __name__, template_folder="templates")
