"""Admin page of the Twilio connector (keypad payments and the screen-pop).

Under ``{prefix}/admin/telephony/``; the admin role, as the rest of the admin console,
and every POST carries the session's CSRF token (checked app-wide by ``agent_ui.auth``).
It shows what to paste into Twilio (the Pay Connector's status callback URL and the
TaskRouter workspace's Event Callback URL), the configured account SID and Pay Connector,
and whether the auth token is in the vault — never the token. Storing the token needs a
fresh second factor (step-up), as every admin secret does. Test connection reads the
account with the stored credentials. Entry points only: the rules are in
:mod:`crm_pay.services.telephony_settings`.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import telephony_settings

from .auth import protect, signed_in_principal
from .console_session import flash
from .mfa import step_up_refusal

__all__ = ["bp"]

bp = Blueprint("crm_pay_admin_telephony", __name__, template_folder="templates")
protect(bp, "admin")


@bp.get("/")
def index() -> str:
    return render_template(
        "crm_pay/admin_telephony.html", twilio=telephony_settings.twilio_settings(get_context())
    )


@bp.post("/auth-token")
def save_token() -> Response:
    refused = step_up_refusal(url_for(".index"))
    if refused is not None:
        return refused
    try:
        telephony_settings.store_auth_token(
            get_context(), request.form.get("auth_token", ""), actor=signed_in_principal().actor
        )
    except CrmPayError as exc:
        flash(exc.message, "warning")
    else:
        flash("Auth token stored in the vault. Run Test connection to check it.", "notice")
    return redirect(url_for(".index"))  # type: ignore[return-value]


@bp.post("/test")
def test_connection() -> Response:
    check = telephony_settings.check_connection(get_context(), actor=signed_in_principal().actor)
    if check.ok:
        flash(f"Test connection passed ✓ {check.message}", "notice")
    else:
        flash(f"Test connection failed ✗ {check.message}", "warning")
    return redirect(url_for(".index", _anchor="test"))  # type: ignore[return-value]
