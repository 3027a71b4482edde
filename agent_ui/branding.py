"""The merchant's branding: the admin page that sets it, and the two public files the
customer pages load (the logo and a small theme stylesheet).

- ``{prefix}/admin/branding/`` (admin role; CSRF checked app-wide by ``agent_ui.auth``):
  accent colour, logo upload, support phone, e-mail and hours, with a live preview of the
  pay button before saving, and the history of versions.
- ``{prefix}/brand/logo/<n>`` and ``{prefix}/brand/theme/<n>.css``: public, as the pages
  that use them are; named by version, so they are cached for a year (a new save makes a
  new name). The theme is a stylesheet file, not an inline style, because the customer
  pages' Content-Security-Policy allows styles from ``'self'`` only.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from crm_pay import http_headers
from crm_pay.current import get_context
from crm_pay.domain.branding import MAX_LOGO_BYTES, MIN_CONTRAST
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import branding

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["admin_bp", "public_bp"]

admin_bp = Blueprint("crm_pay_admin_branding", __name__, template_folder="templates")
protect(admin_bp, "admin")
public_bp = Blueprint("crm_pay_brand", __name__)

_YEAR = 365 * 86400
_UPLOAD_MARGIN = 16 * 1024  # the form's other fields and the multipart framing


@admin_bp.get("/")
def index() -> str:
    ctx = get_context()
    return render_template(
        "crm_pay/admin_branding.html",
        branding=branding.branding_in_force(ctx),
        history=branding.history(ctx),
        max_logo_kib=MAX_LOGO_BYTES // 1024,
        min_contrast=MIN_CONTRAST,
        merchant=ctx.settings.merchant,
    )


@admin_bp.post("/")
def save() -> Response:
    request.max_content_length = MAX_LOGO_BYTES + _UPLOAD_MARGIN
    upload = request.files.get("logo")
    data = upload.read() if upload is not None and upload.filename else None
    form = branding.BrandingForm(
        colour=request.form.get("colour", ""),
        support_phone=request.form.get("support_phone", ""),
        support_email=request.form.get("support_email", ""),
        support_hours=request.form.get("support_hours", ""),
        logo=data or None,
        remove_logo=request.form.get("remove_logo") == "1",
    )
    try:
        version = branding.save_branding(
            get_context(), form, actor=f"user:{signed_in_principal().name}"
        )
    except CrmPayError as exc:
        flash(f"Nothing was saved: {exc.message}.", "warning")
    else:
        flash(f"Branding version {version} saved: customers see it on their next page.", "notice")
    return redirect(url_for(".index"))  # type: ignore[return-value]


def _public(resp: Response) -> Response:
    resp.headers["Cache-Control"] = f"public, max-age={_YEAR}, immutable"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return resp


@public_bp.get("/logo/<int:version>")
def logo(version: int) -> Response:
    try:
        data, media_type = branding.logo(get_context(), version)
    except CrmPayError:
        abort(404)
    resp = _public(Response(data, mimetype=media_type))
    resp.headers["Content-Security-Policy"] = http_headers.content_security_policy(
        [("default-src", "'none'")]
    )
    return resp


@public_bp.get("/theme/<int:version>.css")
def theme(version: int) -> Response:
    with_colour = branding.branding_in_force(get_context())
    if with_colour.version != version or with_colour.colour is None:
        abort(404)  # an old theme is not kept: pages always name the version in force
    colour = with_colour.colour  # checked #rrggbb (crm_pay.domain.branding)
    css = (
        f":root {{ --brand: {colour}; }}\n"
        f"button, a.button {{ background: {colour}; }}\n"
        f".card a:not(.button) {{ color: {colour}; }}\n"
        f".brand-bar {{ border-top: 4px solid {colour}; }}\n"
    )
    return _public(Response(css, mimetype="text/css"))
