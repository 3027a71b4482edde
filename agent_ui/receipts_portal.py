"""The customer receipts portal, reached from a signed link in the receipt email.

``GET {prefix}/r/<signed>`` lists the customer's receipts (the emailed one highlighted);
``GET {prefix}/r/<signed>/<number>.pdf`` downloads one of them. The signed link opens
that customer's receipts and nothing else; an expired link answers 410 and a forged one
404, each with a page that says what to do.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from crm_pay.domain.errors import CrmPayError
from crm_pay.extension import get_context
from crm_pay.services import portal

__all__ = ["bp", "secure_page"]

bp = Blueprint("crm_pay_receipts_portal", __name__, template_folder="templates")


def secure_page(resp: Response, *, inline_styles: bool = False, frames: bool = False) -> Response:
    """Strict headers for a page with no script: it loads our stylesheets and nothing
    else, cannot be framed, and leaks no signed link through the Referer header."""
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    frame = "frame-src 'self'; " if frames else ""
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style}; img-src 'self' data:; {frame}"
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


def _closed(exc: CrmPayError) -> Response:
    html = render_template("crm_pay/portal_closed.html", message=exc.message, code=exc.code)
    return secure_page(Response(html, status=exc.status))


@bp.get("/r/<signed>")
def receipts(signed: str) -> Response:
    ctx = get_context()
    try:
        customer_ref, number = portal.open_receipt_link(ctx, signed)
        view = portal.customer_receipts(ctx, customer_ref)
    except CrmPayError as exc:
        return _closed(exc)
    html = render_template("crm_pay/portal_receipts.html", view=view, current=number, signed=signed)
    return secure_page(Response(html))


@bp.get("/r/<signed>/<number>.pdf")
def receipt_pdf(signed: str, number: str) -> Response:
    ctx = get_context()
    try:
        customer_ref, _ = portal.open_receipt_link(ctx, signed)
        pdf = portal.customer_receipt_pdf(ctx, customer_ref, number)
    except CrmPayError as exc:
        return _closed(exc)
    resp = Response(
        pdf,
        mimetype="application/pdf",
        # the number matched a stored receipt, so it is safe in the header
        headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
    )
    return secure_page(resp)
