"""Admin pages for customer messages: payment-reminder rules (list, create, edit,
enable/disable), whether satisfaction surveys are on, and a preview of every message
kind rendered with sample data.

Under ``{prefix}/admin/notifications/``; the admin role, as the rest of the admin
console, and every POST carries the session's CSRF token (checked app-wide by
``agent_ui.auth``). Entry points only: the views call ``crm_pay.services.reminders``
and ``crm_pay.rendering.email_samples``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, ValidationError
from crm_pay.rendering.email_samples import MESSAGE_KINDS, sample_message
from crm_pay.services import reminders
from crm_pay.services.reminders import RuleForm

from .auth import protect, signed_in_principal
from .console_session import flash

__all__ = ["bp"]

bp = Blueprint("crm_pay_admin_notifications", __name__, template_folder="templates")
protect(bp, "admin")


@bp.errorhandler(CrmPayError)
def _service_error(exc: CrmPayError) -> tuple[str, int]:
    title = {404: "Not found", 403: "Not allowed"}.get(exc.status, "Something needs attention")
    return render_template("crm_pay/admin_error.html", title=title, message=exc.message), (
        exc.status
    )


def _actor() -> str:
    return f"user:{signed_in_principal().name}"


@bp.get("/")
def index() -> str:
    ctx = get_context()
    return render_template(
        "crm_pay/admin_notifications.html",
        rules=reminders.rule_views(ctx),
        csat=ctx.config.csat,
        csat_days=ctx.config.csat_link_ttl_days,
        interval=ctx.config.reminder_interval,
        kinds=MESSAGE_KINDS,
    )


_BLANK = {
    "name": "",
    "offset_days": "1",
    "repeat_every_days": "0",
    "max_reminders": "1",
    "channel": "email",
    "timezone": "UTC",
    "quiet_start": "21:00",
    "quiet_end": "08:00",
    "enabled": True,
}


def _form() -> RuleForm:
    f = request.form
    return RuleForm(
        name=f.get("name", ""),
        offset_days=f.get("offset_days", ""),
        repeat_every_days=f.get("repeat_every_days", "0"),
        max_reminders=f.get("max_reminders", "1"),
        channel=f.get("channel", "email"),
        timezone=f.get("timezone", "UTC"),
        quiet_start=f.get("quiet_start", ""),
        quiet_end=f.get("quiet_end", ""),
        enabled=f.get("enabled") == "on",
    )


def _rule_page(
    values: dict[str, Any], rule_id: int | None, error: str | None, status: int
) -> Response:
    html = render_template(
        "crm_pay/admin_notifications_rule.html", values=values, rule_id=rule_id, error=error
    )
    return Response(html, status=status)


def _find(rule_id: int) -> dict[str, Any]:
    for rule in reminders.rule_views(get_context()):
        if rule["id"] == rule_id:
            return rule
    abort(404)


@bp.get("/rules/new")
def new_rule() -> Response:
    return _rule_page(dict(_BLANK), None, None, 200)


@bp.post("/rules/new")
def create_rule() -> Response:
    form = _form()
    try:
        rule = reminders.save_rule(get_context(), form, actor=_actor())
    except ValidationError as exc:
        return _rule_page(vars(form), None, exc.message, 422)
    flash(f"Reminder rule “{rule['name']}” created.", "ok")
    return redirect(url_for(".index"), code=303)  # type: ignore[return-value]


@bp.get("/rules/<int:rule_id>")
def rule(rule_id: int) -> Response:
    return _rule_page(_find(rule_id), rule_id, None, 200)


@bp.post("/rules/<int:rule_id>")
def update_rule(rule_id: int) -> Response:
    form = _form()
    try:
        saved = reminders.save_rule(get_context(), form, actor=_actor(), rule_id=rule_id)
    except ValidationError as exc:
        return _rule_page(vars(form), rule_id, exc.message, 422)
    flash(f"Reminder rule “{saved['name']}” saved.", "ok")
    return redirect(url_for(".index"), code=303)  # type: ignore[return-value]


@bp.post("/rules/<int:rule_id>/enable")
def enable_rule(rule_id: int) -> Response:
    reminders.set_rule_enabled(get_context(), rule_id, True, actor=_actor())
    flash("Reminder rule enabled.", "ok")
    return redirect(url_for(".index"), code=303)  # type: ignore[return-value]


@bp.post("/rules/<int:rule_id>/disable")
def disable_rule(rule_id: int) -> Response:
    reminders.set_rule_enabled(get_context(), rule_id, False, actor=_actor())
    flash("Reminder rule disabled: it sends nothing until enabled again.", "ok")
    return redirect(url_for(".index"), code=303)  # type: ignore[return-value]


@bp.get("/templates/<kind>")
def preview(kind: str) -> str:
    if kind not in MESSAGE_KINDS:
        abort(404)
    ctx = get_context()
    base = ctx.settings.public_url.rstrip("/") + ctx.settings.url_prefix
    samples = []
    for channel in ("email", "sms"):
        try:
            samples.append(
                sample_message(
                    kind,
                    channel,
                    merchant=ctx.settings.merchant,
                    currency=ctx.settings.default_currency,
                    base_url=base,
                )
            )
        except ValueError:
            continue  # not sent by SMS
    title, when, _ = MESSAGE_KINDS[kind]
    return render_template(
        "crm_pay/admin_notifications_preview.html",
        kind=kind,
        title=title,
        when=when,
        samples=samples,
        kinds=MESSAGE_KINDS,
    )
