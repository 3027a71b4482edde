"""Demo only: a viewer for the file mailbox and the SMS file outbox.

Registered only when ``CRM_PAY_DEMO`` is true (``{prefix}/demo/mailbox``). It shows what
crm-pay would have sent to customers: each email's headers, plain text and HTML (in a
sandboxed frame, where nothing in it can run) and its attachments.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, render_template

from crm_pay.current import get_context

from .receipts_portal import secure_page

__all__ = ["bp"]

bp = Blueprint("crm_pay_mailbox", __name__, template_folder="templates")

_URL = re.compile(r"https?://[^\s<>\"']+")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _reader(adapter: Any) -> Any:
    """The adapter if it can list what it stored (the file senders can; SMTP cannot)."""
    return adapter if adapter is not None and hasattr(adapter, "list_messages") else None


@bp.get("/mailbox")
def index() -> Response:
    ctx = get_context()
    mailbox, outbox = _reader(ctx.email), _reader(ctx.sms)
    html = render_template(
        "crm_pay/mailbox_list.html",
        emails=mailbox.list_messages() if mailbox else [],
        emails_available=mailbox is not None,
        sms=outbox.list_messages() if outbox else [],
        sms_available=outbox is not None,
    )
    return secure_page(Response(html))


def _message(message_id: str) -> Any:
    mailbox = _reader(get_context().email)
    found = mailbox.read(message_id) if mailbox and len(message_id) <= 300 else None
    if found is None:
        abort(404)
    return found


@bp.get("/mailbox/<message_id>")
def message(message_id: str) -> Response:
    found = _message(message_id)
    links = list(dict.fromkeys(_URL.findall(found.text)))
    html = render_template("crm_pay/mailbox_message.html", m=found, links=links)
    # Inline styles: the email's own, inside the sandboxed frame that inherits this policy.
    return secure_page(Response(html), inline_styles=True, frames=True)


@bp.get("/mailbox/<message_id>/attachments/<int:index>")
def attachment(message_id: str, index: int) -> Response:
    found = _message(message_id)
    if not 0 <= index < len(found.attachments):
        abort(404)
    item = found.attachments[index]
    filename = _UNSAFE_FILENAME.sub("_", item.filename) or "attachment"
    resp = Response(
        item.content,
        mimetype=item.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
    return secure_page(resp)
