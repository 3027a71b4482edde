"""The payment operations dashboard, ``{prefix}/dashboard/``: every figure of
:mod:`crm_pay.services.dashboard` for a date range and a currency, as a page with
charts, as JSON (what the page fetches when the range changes or the figures move) and
as one CSV file per panel.

Who: supervisors and admins (action ``dashboard.view``). Agents are refused with a
pointer to their own payments: the figures name every agent's volume.

Live: the page joins the Socket.IO room :data:`crm_pay.dashboard_nudge.ROOM` (event
``watch_dashboard`` on ``/live``, allowed for the same roles). After a payment reaches a
final state the server sends ``dashboard_changed`` with nothing but a time, at most every
few seconds, and the page fetches the JSON again: no figure, customer or card data
travels over the socket.

CSV cells are written safe for spreadsheets: a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading ``'``, so it is never run as a
formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask_socketio import join_room

from crm_pay import dashboard_nudge, live_publisher
from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound
from crm_pay.services import dashboard, policy
from crm_pay.services.dashboard import Period

from .auth import protect
from .live_socket import current_principal, socketio

__all__ = ["bp", "csv_cell", "panel_csv_text"]

bp = Blueprint("crm_pay_dashboard", __name__, template_folder="templates")

protect(bp, "supervisor")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> tuple[str, int]:
    return render_template(
        "crm_pay/console_error.html",
        title="Not allowed",
        message="The payment operations dashboard is for supervisors and admins. Your own "
        "payments are on the agent console; ask a supervisor for the team's figures.",
    ), 403


def _period(args: Mapping[str, str]) -> Period:
    """The period the query string asks for (``{}``: the default one)."""
    ctx = get_context()
    return dashboard.parse_period(
        args.get("start"),
        args.get("end"),
        args.get("currency"),
        today=ctx.now().date(),
        default_currency=ctx.settings.default_currency,
    )


@bp.get("/")
def index() -> tuple[str, int]:
    ctx = get_context()
    status, error = 200, None
    try:
        period = _period(request.args)
    except CrmPayError as exc:
        period, error, status = _period({}), exc.message, 422
    figures = dashboard.dashboard(ctx, period)
    currencies = sorted(
        {period.currency, *figures["panels"]["currencies"]["summary"]["currencies"]}
    )
    html = render_template(
        "crm_pay/dashboard.html",
        figures=figures,
        panels=figures["panels"],
        period=figures["period"],
        currencies=currencies,
        error=error,
        socket_path=f"{request.script_root}{ctx.config.prefix}/socket.io",
        namespace=live_publisher.NAMESPACE,
    )
    return html, status


@bp.get("/figures.json")
def figures() -> tuple[Response, int]:
    try:
        period = _period(request.args)
    except CrmPayError as exc:
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status
    return jsonify(dashboard.dashboard(get_context(), period)), 200


@bp.get("/<name>.csv")
def panel_csv(name: str) -> Response | tuple[Response, int]:
    try:
        period = _period(request.args)
        data = dashboard.panel(get_context(), name, period)
    except NotFound as exc:
        return _text_error(exc.message, 404)
    except CrmPayError as exc:
        return _text_error(exc.message, exc.status)
    filename = (
        f"dashboard-{name}-{period.first_day.isoformat()}-{period.last_day.isoformat()}"
        f"-{period.currency}.csv"
    )
    return Response(
        panel_csv_text(data),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _text_error(message: str, status: int) -> tuple[Response, int]:
    return Response(message + "\n", mimetype="text/plain"), status


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None is empty, numbers stay numbers, text that a
    spreadsheet would read as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def panel_csv_text(data: dict[str, Any]) -> str:
    """One panel as CSV: its columns, then its rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in data["columns"]])
    for row in data["rows"]:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


@socketio.on("watch_dashboard", namespace=live_publisher.NAMESPACE)
def _watch_dashboard(_data: Any = None) -> dict[str, Any]:
    """Join the dashboard's room: its nudges carry a time only, and only users who may
    see the dashboard receive them."""
    principal = current_principal()
    if principal is None or not policy.may(principal, "dashboard.view"):
        return {"ok": False, "error": "not allowed"}
    join_room(dashboard_nudge.ROOM)
    return {"ok": True, "every_seconds": dashboard_nudge.MIN_INTERVAL_SECONDS}
