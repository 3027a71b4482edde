"""Admin page for the fraud rules: the rules in force, edited and saved as a new version,
and the versions saved before.

Under ``{prefix}/admin/fraud/``; the admin role, as the rest of the admin console, and
the POST carries the session's CSRF token (checked app-wide by ``agent_ui.auth``). The
rules are written as a JSON list (each kind and its fields are described on the page
and in docs/admin-guide.md); a rule set that does not read is shown again as typed with
the reason, nothing saved. Entry points only: the views call
``crm_pay.services.fraud_rules``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import fraud_rules

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["bp"]

bp = Blueprint("crm_pay_admin_fraud", __name__, template_folder="templates")
protect(bp, "admin")

_MAX_TEXT = 50_000


def _page(
    *, text: str | None = None, note: str = "", error: str = "", status: int = 200
) -> tuple[str, int]:
    ctx = get_context()
    current = fraud_rules.current_version(ctx)
    shown = text if text is not None else json.dumps(current["rules"], indent=2)
    return (
        render_template(
            "crm_pay/admin_fraud.html",
            current=current,
            rules_text=shown,
            note=note,
            error=error,
            versions=fraud_rules.versions(ctx),
            refresh=int(fraud_rules.REFRESH_SECONDS),
        ),
        status,
    )


@bp.get("/")
def index() -> tuple[str, int]:
    return _page()


@bp.post("/")
def save() -> Response | tuple[str, int]:
    text = request.form.get("rules", "")
    note = request.form.get("note", "")
    based_on = request.form.get("based_on", "")
    if len(text) > _MAX_TEXT:
        return _page(
            text=text[:_MAX_TEXT], note=note, error="the rules text is too long", status=422
        )
    try:
        data = json.loads(text or "[]")
    except ValueError as exc:
        return _page(
            text=text,
            note=note,
            error=f"the rules are not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); nothing was saved",
            status=422,
        )
    if not based_on.isdigit():
        return _page(
            text=text, note=note, error="reload the page: the form is incomplete", status=400
        )
    try:
        saved = fraud_rules.save_rules(
            get_context(),
            data,
            actor=signed_in_principal().actor,
            note=note,
            based_on=int(based_on),
        )
    except CrmPayError as exc:
        return _page(text=text, note=note, error=exc.message, status=exc.status)
    flash(f"Fraud rules saved as version {saved['version']} ({len(saved['rules'])} rule(s)).")
    return redirect(url_for("crm_pay_admin_fraud.index"))
