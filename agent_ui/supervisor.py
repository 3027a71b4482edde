"""The supervisor console: the daily reconciliation against the PSP (its report per day,
every difference with its case, and a button to run a day again).

Entry points only: each view reads the request, calls
``crm_pay.services.reconciliation`` and renders the answer. Every page needs the
supervisor role (admins have it too; agents get 403); the POST carries the session's CSRF
token (checked app-wide by ``agent_ui.auth``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from crm_pay.domain.errors import CrmPayError, NotFound
from crm_pay.extension import get_context
from crm_pay.services import access, reconciliation
from crm_pay.services.access import Principal

from .auth import security_headers

__all__ = ["bp"]

bp = Blueprint("crm_pay_supervisor", __name__, template_folder="templates")


def _principal() -> Principal:
    return current_user.principal  # type: ignore[no-any-return]


@bp.before_request
def _require_supervisor() -> Any:
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if not access.has_role(_principal(), "supervisor"):
        abort(403)
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    return security_headers(resp)


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html",
        title="Not allowed",
        message="The supervisor console is for supervisors; ask one for access.",
    ), 403


def _yesterday() -> date:
    return get_context().now().date() - timedelta(days=1)


@bp.get("/reconciliation")
def reconciliation_page() -> tuple[str, int]:
    ctx = get_context()
    status, error, report = 200, None, None
    text = request.args.get("date", "")
    try:
        day = reconciliation.parse_day(text) if text else _yesterday()
        report = reconciliation.reconciliation_view(ctx, day)
    except NotFound:
        pass
    except CrmPayError as exc:
        day, error, status = _yesterday(), exc.message, 422
    html = render_template(
        "crm_pay/supervisor_reconciliation.html",
        day=day,
        report=report,
        error=error,
        recent=reconciliation.recent_reconciliations(ctx),
    )
    return html, status


@bp.post("/reconciliation")
def run_reconciliation() -> Response:
    ctx = get_context()
    try:
        day = reconciliation.parse_day(request.form.get("date", ""))
        report = reconciliation.reconcile(ctx, day, actor=_principal().actor)
    except CrmPayError as exc:
        flash(f"Not reconciled: {exc.message}", "warning")
        return redirect(url_for(".reconciliation_page"))  # type: ignore[return-value]
    found = len(report["differences"])
    flash(
        f"{day.isoformat()} reconciled: {report['matched']} matched, {found} "
        f"difference{'s' if found != 1 else ''}, {report['cases_opened']} new case"
        f"{'s' if report['cases_opened'] != 1 else ''}.",
        "notice" if not found else "warning",
    )
    return redirect(url_for(".reconciliation_page", date=day.isoformat()))  # type: ignore[return-value]
