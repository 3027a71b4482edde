"""Admin pages for customer messages: payment-reminder rules (list, create, edit,
enable/disable), whether satisfaction surveys are on, and the message templates: every
kind's words (subject, text, HTML, SMS) edited, previewed with sample data before they
are saved, saved as a new version, reset to the shipped words, with their history.

Under ``{prefix}/admin/notifications/``; the admin role, as the rest of the admin
console, and every POST carries the session's CSRF token (checked app-wide by
``agent_ui.auth``). Entry points only: the views call ``crm_pay.services.reminders``,
``notification_templates`` and ``template_checks``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import Conflict, CrmPayError, ValidationError
from crm_pay.rendering.message_language import ENGLISH, LANGUAGE_NAMES, MESSAGE_LANGUAGES
from crm_pay.services import notification_templates, reminders
from crm_pay.services.notification_templates import TemplatesRejected
from crm_pay.services.reminders import RuleForm
from crm_pay.services.template_checks import known_language, parts_of, preview_templates

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
        templates=notification_templates.template_list(ctx),
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


def _language(value: str | None) -> str:
    """The language of the words being edited (``?lang=`` or the form's ``language``);
    one messages are not written in is a clear error, never a silent English."""
    language = value or ENGLISH
    known_language(language)
    return language


def _template_page(
    kind: str,
    language: str,
    *,
    submitted: dict[str, str] | None = None,
    problems: tuple[str, ...] | list[str] = (),
    status: int = 200,
) -> Response:
    """The editor of ``language``'s words: the words in force, or what the admin
    submitted (a preview, or a save that was refused: nothing typed is lost), rendered
    with sample data in that language."""
    ctx = get_context()
    editor = notification_templates.template_editor(ctx, kind, language)
    if submitted is not None:
        for part in editor["parts"]:
            part["source"] = submitted[part["part"]]
    sources = {p["part"]: p["source"] for p in editor["parts"]}
    samples, found = preview_templates(ctx, kind, sources, language)
    html = render_template(
        "crm_pay/admin_notifications_template.html",
        editor=editor,
        samples=samples,
        problems=list(problems) or (found if submitted is not None else []),
        previewing=submitted is not None,
        refused=status != 200,
        history=notification_templates.template_history(ctx, kind, language=language),
        languages=[(code, LANGUAGE_NAMES[code]) for code in MESSAGE_LANGUAGES],
    )
    return Response(html, status=status)


@bp.get("/templates/<kind>")
def preview(kind: str) -> Response:
    return _template_page(kind, _language(request.args.get("lang")))


@bp.post("/templates/<kind>")
def edit_template(kind: str) -> Response:
    """Preview (``action=preview``: nothing saved) or Save (``action=save``)."""
    submitted = {part: request.form.get(part, "") for part in parts_of(kind)}
    language = _language(request.form.get("language"))
    if request.form.get("action") != "save":
        return _template_page(kind, language, submitted=submitted)
    try:
        base = int(request.form.get("version", ""))
    except ValueError:
        base = None
    try:
        saved = notification_templates.save_templates(
            get_context(), kind, submitted, actor=_actor(), base_version=base, language=language
        )
    except TemplatesRejected as exc:
        return _template_page(
            kind, language, submitted=submitted, problems=exc.problems, status=422
        )
    except Conflict as exc:
        return _template_page(
            kind, language, submitted=submitted, problems=[exc.message], status=409
        )
    if saved["changed"]:
        flash(
            f"Saved as version {saved['version']} ({LANGUAGE_NAMES[language]}): customers "
            "in that language get these words now.",
            "ok",
        )
    else:
        flash("Nothing to save: the words are the ones in force.", "ok")
    return redirect(url_for(".preview", kind=kind, lang=language), code=303)  # type: ignore[return-value]


@bp.post("/templates/<kind>/reset")
def reset_template(kind: str) -> Response:
    language = _language(request.form.get("language"))
    done = notification_templates.reset_templates(
        get_context(), kind, actor=_actor(), language=language
    )
    if done["changed"]:
        flash(f"Back to the shipped words (version {done['version']}).", "ok")
    else:
        flash("These are the shipped words already.", "ok")
    return redirect(url_for(".preview", kind=kind, lang=language), code=303)  # type: ignore[return-value]
