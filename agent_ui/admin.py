"""The admin console: CRM connectors (settings, secrets, mapping, test connection,
enable/disable, history), CRM sync status with dead letters and replay, and the people
and API keys that may use crm-pay (create, change role, deactivate, revoke).

Entry points only: each view reads the form, calls ``crm_pay.services.crm_settings`` or
``crm_pay.services.outbox`` and renders the answer. Every page needs the admin role
(others get 403); every POST carries the session's CSRF token (checked app-wide by
``agent_ui.auth``). Secrets go one way: typed into a password field, stored encrypted by
the service, and from then on only shown as "set" or "not set".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, NotFound, ValidationError
from crm_pay.services import access, cases, connector_history, crm_settings, mfa, outbox
from crm_pay.services.access import Principal

from . import admin_scripts, admin_sessions, launch
from .admin_forms import ConnectorForm, form_values, parse_connector_form
from .auth import protect, signed_in_principal
from .console_session import flash
from .mfa import step_up_refusal

__all__ = ["bp", "init_admin"]

bp = Blueprint("crm_pay_admin", __name__, template_folder="templates")


protect(bp, "admin")


def _principal() -> Principal:
    return signed_in_principal()


@bp.errorhandler(CrmPayError)
def _service_error(exc: CrmPayError) -> tuple[str, int]:
    title = {404: "Not found", 403: "Not allowed"}.get(exc.status, "Something needs attention")
    return render_template("crm_pay/admin_error.html", title=title, message=exc.message), (
        exc.status
    )


@bp.errorhandler(403)
@bp.errorhandler(404)
def _http_error(exc: Any) -> tuple[str, int]:
    code = getattr(exc, "code", 404)
    if code == 403:
        title, message = "Not allowed", "The admin console is for admins; ask one for access."
    else:
        title, message = "Not found", "There is nothing here; go back to the overview."
    return render_template("crm_pay/admin_error.html", title=title, message=message), code


def _kinds() -> dict[str, Any]:
    kinds: dict[str, Any] = get_context().crm_kinds
    return kinds


@bp.get("/")
def index() -> str:
    ctx = get_context()
    return render_template(
        "crm_pay/admin_index.html",
        connectors=crm_settings.list_connectors(ctx),
        sync=crm_settings.sync_status(ctx, dead_limit=0),
        kinds=_kinds(),
        default_crm=get_context().config.crm,
        alerts=cases.open_cases(ctx, kinds=cases.ALERT_KINDS),
    )


def _render_connector(
    spec: Any,
    view: dict[str, Any] | None,
    *,
    submitted: ConnectorForm | None = None,
    status: int = 200,
) -> Response:
    history = connector_history.connector_history(get_context(), view["name"]) if view else []
    html = render_template(
        "crm_pay/admin_connector.html",
        spec=spec,
        view=view,
        values=form_values(spec, view, submitted),
        errors=submitted.errors if submitted else {},
        history=history,
    )
    return Response(html, status=status)


def _spec_for(kind: str) -> Any:
    spec = _kinds().get(kind)
    if spec is None:
        abort(404)
    return spec


def _save(spec: Any, form: ConnectorForm, view: dict[str, Any] | None) -> Response:
    """Save through the service; on a refusal show the form again with what was typed
    (except secrets, which are never sent back)."""
    typed_a_secret = any(form.secrets.values())
    if typed_a_secret:  # secret changes need a fresh second factor (step-up)
        refused = step_up_refusal(request.path)
        if refused is not None:
            return refused
    if not form.errors:
        try:
            saved = crm_settings.save_connector(
                get_context(),
                name=form.name,
                kind=spec.kind,
                settings=form.settings,
                secrets=form.secrets,
                mapping=form.mapping,
                actor=_principal().actor,
            )
        except CrmPayError as exc:
            form.errors["form"] = exc.message
        else:
            flash(f"Connector {saved['name']} saved (version {saved['version']}).", "notice")
            return redirect(url_for(".connector", name=saved["name"]))  # type: ignore[return-value]
    if typed_a_secret:
        form.errors.setdefault(
            "secrets", "Secrets you typed were not saved; type them again before saving."
        )
    return _render_connector(spec, view, submitted=form, status=422)


@bp.route("/connectors/new", methods=["GET", "POST"])
def new_connector() -> Response:
    spec = _spec_for(request.values.get("kind", ""))
    if request.method == "GET":
        return _render_connector(spec, None)
    form = parse_connector_form(spec, request.form)
    if not form.errors.get("name"):
        try:
            crm_settings.connector_view(get_context(), form.name)
        except NotFound:
            pass
        else:
            form.errors["name"] = f"A connector named {form.name} exists already; pick another."
    return _save(spec, form, None)


@bp.route("/connectors/<name>", methods=["GET", "POST"])
def connector(name: str) -> Response:
    view = crm_settings.connector_view(get_context(), name)
    spec = _kinds().get(view["kind"])
    if spec is None:
        return _render_connector(None, view)
    if request.method == "GET":
        return _render_connector(spec, view)
    form = parse_connector_form(spec, request.form, name=name, secrets_set=view["secrets"])
    return _save(spec, form, view)


@bp.post("/connectors/<name>/enable")
def enable(name: str) -> Response:
    """Enable after a passing Test connection, or with ``override_reason`` (audited)."""
    reason = request.form.get("override_reason")
    try:
        crm_settings.enable_connector(
            get_context(),
            name,
            actor=_principal().actor,
            override_reason=reason,
        )
    except ValidationError as exc:  # untested, or the reason refused: say so on the page
        flash(f"Connector {name} was not enabled: {exc.message.rstrip('.')}.", "warning")
        target = url_for(".connector", name=name, _anchor="enable-override")
        return redirect(target)  # type: ignore[return-value]
    flash(
        f"Connector {name} enabled: customers are looked up in it and payments sync to it. "
        "Any other connector was disabled."
        + (" Enabled without a passing test: the reason is in the audit log." if reason else ""),
        "notice",
    )
    return redirect(url_for(".connector", name=name))  # type: ignore[return-value]


@bp.post("/connectors/<name>/disable")
def disable(name: str) -> Response:
    crm_settings.disable_connector(get_context(), name, actor=_principal().actor)
    flash(
        f"Connector {name} disabled. Until another is enabled, the default CRM "
        f"({get_context().config.crm}) is used.",
        "notice",
    )
    return redirect(url_for(".connector", name=name))  # type: ignore[return-value]


@bp.post("/connectors/<name>/test")
def test_connection(name: str) -> Response:
    report = crm_settings.test_connector(get_context(), name, actor=_principal().actor)
    if report.ok:
        flash("Test connection passed: every check below is ✓.", "notice")
    else:
        flash("Test connection failed: the ✗ lines below say what to fix.", "warning")
    return redirect(url_for(".connector", name=name, _anchor="test"))  # type: ignore[return-value]


@bp.get("/sync")
def sync() -> str:
    ctx = get_context()
    return render_template(
        "crm_pay/admin_sync.html",
        sync=crm_settings.sync_status(ctx, dead_limit=200),
        all_dead=outbox.outbox_summary(ctx).get("dead", 0),
    )


@bp.post("/sync/replay/<int:message_id>")
def replay_one(message_id: int) -> Response:
    count = outbox.replay(get_context(), [message_id])
    flash(f"Message {message_id} queued again ({count} replayed).", "notice")
    return redirect(url_for(".sync"))  # type: ignore[return-value]


@bp.route("/sync/replay-all", methods=["GET", "POST"])
def replay_all() -> Any:
    """A confirmation page (GET) saying how many messages will go again, then the replay."""
    ctx = get_context()
    if request.method == "GET" or request.form.get("confirm") != "yes":
        dead = outbox.outbox_summary(ctx).get("dead", 0)
        return render_template(
            "crm_pay/admin_replay_confirm.html",
            dead=dead,
            crm_dead=crm_settings.sync_status(ctx, dead_limit=0)["dead"],
        )
    count = outbox.replay(ctx)
    flash(
        f"{count} dead letter{'s' if count != 1 else ''} queued again; the dispatcher "
        "delivers them within seconds.",
        "notice",
    )
    return redirect(url_for(".sync"))


def _users_page(**extra: Any) -> Response:
    html = render_template(
        "crm_pay/admin_users.html",
        users=access.list_users(get_context()),
        roles=access.ROLES,
        me=_principal().id,
        mfa_labels=mfa.labels(get_context()),
        **extra,
    )
    return Response(html, status=201 if extra.get("created") else 200)


@bp.get("/users")
def users() -> Response:
    return _users_page()


@bp.post("/users")
def create_user() -> Response:
    """The new user's password is shown once, in this answer only (never in a flash
    message: those travel in the session cookie)."""
    email = request.form.get("email", "").strip()
    password = secrets.token_urlsafe(12)
    try:
        access.create_user(
            get_context(),
            email=email,
            role=request.form.get("role", ""),
            password=password,
            actor=_principal().actor,
        )
    except CrmPayError as exc:
        flash(f"No user was created: {exc.message}.", "warning")
        return redirect(url_for(".users"))  # type: ignore[return-value]
    return _users_page(created={"email": email.lower(), "password": password})


def _change_user(
    change: Callable[..., dict[str, Any]], user_id: int, done: str, *args: str
) -> Response:
    try:
        user = change(get_context(), user_id, *args, actor=_principal().actor)
    except CrmPayError as exc:
        flash(f"Nothing was changed: {exc.message}.", "warning")
    else:
        flash(done.format(**user), "notice")
    return redirect(url_for(".users"))  # type: ignore[return-value]


@bp.post("/users/<int:user_id>/reset-mfa")
def reset_mfa(user_id: int) -> Response:
    return _change_user(
        mfa.reset,
        user_id,
        "MFA of {email} was reset and their sessions ended: at the next sign-in they set "
        "up an authenticator app again (their role requires it) or sign in with a password.",
    )


@bp.post("/users/<int:user_id>/deactivate")
def deactivate_user(user_id: int) -> Response:
    return _change_user(
        access.deactivate_user,
        user_id,
        "{email} is deactivated: they cannot sign in, and their open consoles are "
        "signed out at their next click.",
    )


@bp.post("/users/<int:user_id>/activate")
def activate_user(user_id: int) -> Response:
    return _change_user(
        access.reactivate_user, user_id, "{email} can sign in again with their password."
    )


@bp.post("/users/<int:user_id>/role")
def set_role(user_id: int) -> Response:
    return _change_user(
        access.set_user_role,
        user_id,
        "{email} is now {role}; it applies from their next click.",
        request.form.get("role", ""),
    )


def _keys_page(**extra: Any) -> Response:
    html = render_template(
        "crm_pay/admin_api_keys.html",
        keys=access.list_api_keys(get_context()),
        roles=access.API_KEY_ROLES,
        **extra,
    )
    return Response(html, status=201 if extra.get("secret") else 200)


@bp.get("/api-keys")
def api_keys() -> Response:
    return _keys_page()


@bp.post("/api-keys")
def create_api_key() -> Response:
    """The key is shown once, in this answer; only its hash is stored."""
    name = request.form.get("name", "").strip()
    try:
        secret = access.create_api_key(
            get_context(), name=name, role=request.form.get("role", ""), actor=_principal().actor
        )
    except CrmPayError as exc:
        flash(f"No key was created: {exc.message}.", "warning")
        return redirect(url_for(".api_keys"))  # type: ignore[return-value]
    return _keys_page(secret=secret, secret_name=name)


@bp.post("/api-keys/<int:key_id>/revoke")
def revoke_api_key(key_id: int) -> Response:
    try:
        key = access.revoke_api_key(get_context(), key_id, actor=_principal().actor)
    except CrmPayError as exc:
        flash(f"Nothing was changed: {exc.message}.", "warning")
    else:
        flash(f"API key {key['name']} is revoked: every call with it now gets 401.", "notice")
    return redirect(url_for(".api_keys"))  # type: ignore[return-value]


bp.add_url_rule("/users/<int:user_id>/sessions", "user_sessions", admin_sessions.user_sessions)
bp.add_url_rule(
    "/users/<int:user_id>/sessions/<int:session_id>/end",
    "end_session",
    admin_sessions.end_session,
    methods=["POST"],
)
bp.add_url_rule(
    "/users/<int:user_id>/sessions/end-all",
    "end_all_sessions",
    admin_sessions.end_all_sessions,
    methods=["POST"],
)
bp.add_url_rule("/scripts", "scripts", admin_scripts.scripts_page)
bp.add_url_rule(
    "/scripts/check", "check_scripts", admin_scripts.check_scripts_now, methods=["POST"]
)


def init_admin(app: Flask, prefix: str) -> None:
    """Mount the admin console at ``{prefix}/admin`` and the CRM launch endpoints."""
    app.register_blueprint(bp, url_prefix=f"{prefix}/admin")
    launch.init_launch(app, prefix)
