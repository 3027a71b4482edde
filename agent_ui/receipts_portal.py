"""The customer receipts portal, reached from a signed link in the receipt email.

``GET {prefix}/r/<signed>`` lists the customer's receipts (the emailed one highlighted);
``GET {prefix}/r/<signed>/<number>.pdf`` downloads one of them. The signed link opens
that customer's receipts and nothing else; an expired link answers 410 and a forged one
404, each with a page that says what to do.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from crm_pay import http_headers
from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import portal

from . import i18n

__all__ = ["bp", "secure_page"]

bp = Blueprint("crm_pay_receipts_portal", __name__, template_folder="templates")


def secure_page(resp: Response, *, inline_styles: bool = False, frames: bool = False) -> Response:
    """Strict headers for a page with no script: it loads our stylesheets and nothing
    else, cannot be framed, and leaks no signed link through the Referer header."""
    policy = http_headers.content_security_policy(
        [
            ("default-src", "'none'"),
            ("style-src", "'self' 'unsafe-inline'" if inline_styles else "'self'"),
            ("img-src", "'self' data:"),
            ("frame-src", "'self'" if frames else None),
            ("form-action", "'none'"),
            ("base-uri", "'none'"),
            ("frame-ancestors", "'none'"),
        ]
    )
    return http_headers.secure_page_headers(
        resp, csp=policy, referrer="no-referrer", robots="noindex"
    )


def _closed(exc: CrmPayError) -> Response:
    html = render_template("crm_pay/portal_closed.html", message=exc.message, code=exc.code)
    return secure_page(Response(html, status=exc.status))


@bp.get("/r/<signed>")
def receipts(signed: str) -> Response:
    ctx = get_context()
    try:
        customer_ref, number = portal.open_receipt_link(ctx, signed)
        view = portal.customer_receipts(ctx, customer_ref)
        i18n.customer_is(customer_ref)
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
