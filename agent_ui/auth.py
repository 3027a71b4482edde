"""Sign-in, roles, sessions and CSRF for the agent and admin consoles.

Every sign-in is a server-side record (:mod:`crm_pay.services.console_sessions`);
crm-pay's own signed cookie (:mod:`agent_ui.console_session`, never the host's Flask
session or flask-login) carries its random ``sid`` (the database keeps a hash of it):

- at sign-in the session is emptied and gets a fresh ``sid`` and CSRF token (nothing
  from a pre-login cookie survives: no session fixation); the user's older sessions end
  (one console session per user), as does the older *session generation* the cookie
  also carries (``User.last_login_at``);
- :func:`current_console_user` checks the record on every request of crm-pay's console
  blueprints and every Socket.IO event: signed out, revoked ("sign out everywhere", an
  admin, deactivation), idle past
  ``CRM_PAY_IDLE_TIMEOUT`` or older than ``CRM_PAY_SESSION_MAX_AGE`` means signed out,
  with a message saying why, for every copy of the cookie at once.

CSRF: every state-changing request to a console blueprint (anything but
GET/HEAD/OPTIONS) must send the session's token, as the ``csrf_token`` form field or the
``X-CSRF-Token`` header; it is compared with :func:`hmac.compare_digest`. The check is a
``before_request`` of those blueprints only: the JSON API (Bearer keys), the PSP
webhook, the customer pay page and every route of a host application never see it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from crm_pay import http_headers, rate_limits
from crm_pay.api import route_policy
from crm_pay.config import CrmPayConfig
from crm_pay.current import get_context
from crm_pay.domain.errors import Unauthorized
from crm_pay.rate_limits import LoginPolicy, RateLimits
from crm_pay.services import access, console_sessions, policy
from crm_pay.services.access import Principal

from .console_session import console_cookie, csrf_token, flash, use_console_session, wants_json

__all__ = [
    "init_auth",
    "ConsoleUser",
    "csrf_token",
    "console_blueprint",
    "current_console_user",
    "signed_in_principal",
    "security_headers",
    "protect",
    "bp",
    "begin_session",
]

log = logging.getLogger("crm_pay.auth")

bp = Blueprint("crm_pay_auth", __name__, template_folder="templates")

_USER_KEY = "crm_pay_console_user"


class ConsoleUser:
    """The signed-in console user as pages see them; ``principal`` is what services take."""

    is_authenticated = True

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def email(self) -> str:
        return self.principal.name


def _config() -> CrmPayConfig:
    return get_context().config


def _now() -> datetime:
    return get_context().now()


def _user_for_templates() -> dict[str, Any]:
    return {"console_user": current_console_user()}


def console_blueprint(blueprint: Blueprint, *, csrf: bool = True) -> None:
    """``blueprint`` uses the console session: crm-pay's cookie, the CSRF check (unless
    ``csrf`` is False: its POSTs authenticate otherwise), and ``console_user`` in its
    templates (None when nobody is signed in). Calling it twice changes nothing."""
    if getattr(blueprint, "_crm_pay_console_user", False):
        return
    blueprint._crm_pay_console_user = True  # type: ignore[attr-defined]
    use_console_session(blueprint, csrf=csrf)
    blueprint.context_processor(_user_for_templates)


def current_console_user(*, recheck: bool = False) -> ConsoleUser | None:
    """The signed-in console user of this request (or Socket.IO event), or None.

    Resolved once per request from crm-pay's cookie and the session record (again with
    ``recheck``: a socket's events may share one app context); when the session ended,
    the cookie is emptied and the reason kept for the sign-in page."""
    if recheck or _USER_KEY not in g:
        setattr(g, _USER_KEY, _load_user())
    user: ConsoleUser | None = g.get(_USER_KEY)
    return user


def signed_in_principal() -> Principal:
    """The signed-in user's :class:`Principal`, on pages :func:`protect` guards."""
    user = current_console_user()
    if user is None:
        raise Unauthorized("Sign in to use the agent console.")
    return user.principal


def protect(blueprint: Blueprint, role: str = "agent") -> None:
    """Every page of ``blueprint`` needs a signed-in user with ``role`` or one above it:
    others are sent to sign in, or get the blueprint's 403. Its static files are open;
    every answer carries :func:`security_headers`."""

    console_blueprint(blueprint)

    @blueprint.before_request
    def _require_role() -> Any:
        if request.endpoint == f"{blueprint.name}.static":
            return None
        user = current_console_user()
        if user is None:
            return _unauthorized()
        if not _route_allowed(user.principal, role):
            abort(403)
        return None

    blueprint.after_request(security_headers)


def _route_allowed(principal: Principal, role: str) -> bool:
    """The blueprint's role and the endpoint's action in the route table
    (crm_pay/api/route_policy.py, checked by :func:`policy.may`); an endpoint with no
    entry is refused (fail closed) and logged so the developer adds one."""
    needed = route_policy.action_for(request.endpoint)
    if needed is None:
        log.error("no authorization policy for endpoint %s: refused", request.endpoint)
        return False
    if not access.has_role(principal, role):
        return False
    return needed in route_policy.MARKERS or policy.may(principal, needed)


def security_headers(resp: Response) -> Response:
    """Strict CSP for console pages: scripts and styles from our origin only, no inline
    script; framing allowed to ``CRM_PAY_FRAME_ANCESTORS`` (the CRM that embeds us)."""
    ancestors = _config().frame_ancestors or "'none'"
    policy: str | None = None
    if resp.mimetype == "text/html":
        host = request.host
        policy = http_headers.content_security_policy(
            [
                ("default-src", "'none'"),
                ("script-src", "'self'"),
                ("style-src", "'self'"),
                ("img-src", "'self' data:"),
                ("connect-src", f"'self' ws://{host} wss://{host}"),
                ("form-action", "'self'"),
                ("base-uri", "'none'"),
                ("frame-ancestors", ancestors),
            ]
        )
    else:
        resp.headers.setdefault("Content-Security-Policy", f"frame-ancestors {ancestors}")
    return http_headers.secure_page_headers(resp, csp=policy, referrer="same-origin")


def _signed_out(reason: str) -> None:
    console_cookie().clear()
    g.crm_pay_signed_out = reason


def _load_user() -> ConsoleUser | None:
    """The cookie's user, when they are still active, the cookie carries their current
    generation and its session record is live (not signed out, revoked, idle or past
    its lifetime). A cookie without a user (before sign-in) is left as it is."""
    cookie = console_cookie()
    uid, sid = cookie.get("uid"), cookie.get("sid")
    if uid is None and sid is None:
        return None
    ctx = get_context()
    idle = float(_config().idle_timeout)
    if isinstance(uid, bool) or not isinstance(uid, int) or not isinstance(sid, str) or not sid:
        _signed_out("gone")
        return None
    found = access.user_session(ctx, uid)
    if found is None:
        # Deactivation ends the user's sessions with reason "deactivated": say so,
        # rather than "your session ended" for an account that was deleted.
        reason = console_sessions.check(ctx, sid, user_id=uid, idle_seconds=idle)
        _signed_out("deactivated" if reason == "deactivated" else "gone")
        return None
    principal, generation = found
    if not hmac.compare_digest(str(cookie.get("gen", "")).encode(), generation.encode()):
        _signed_out("elsewhere")
        return None
    reason = console_sessions.check(ctx, sid, user_id=uid, idle_seconds=idle)
    if reason is not None:
        _signed_out(reason)
        return None
    return ConsoleUser(principal)


_SIGNED_OUT_MESSAGES = {
    "idle": "You were signed out after {minutes} minutes without activity. "
    "Sign in again to continue.",
    "elsewhere": "You were signed out because this account signed in again elsewhere.",
    "expired": "Your session reached its maximum length. Sign in again to continue.",
    "revoked": "Your session was ended (signed out everywhere, or by an administrator). "
    "Sign in again to continue.",
    "signed_out": "This session was signed out. Sign in again to continue.",
    "deactivated": "This account was deactivated. Ask an administrator.",
    "password": "Your password was changed, so your session ended. Sign in again.",
    "gone": "Your session ended. Sign in again to continue.",
}


def _unauthorized() -> Response | tuple[Response, int]:
    reason = g.get("crm_pay_signed_out")
    minutes = max(1, _config().idle_timeout // 60)
    message = _SIGNED_OUT_MESSAGES.get(reason or "", "Sign in to use the agent console.")
    message = message.format(minutes=minutes)
    if wants_json():
        return jsonify({"error": {"code": "unauthorized", "message": message}}), 401
    flash(message, "notice")
    return redirect(url_for("crm_pay_auth.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    home = url_for("crm_pay_console.index")
    if not target:
        return home
    parts = urlsplit(target)
    supervisor = url_for("crm_pay_supervisor.reconciliation_page").rsplit("/", 1)[0]
    pages = (home, url_for("crm_pay_admin.index"), supervisor, url_for("crm_pay_dashboard.index"))
    roots = tuple(url.rstrip("/") + "/" for url in pages)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(roots):
        return home
    return target


# The app's second-factor hook: (principal, next URL) -> the page that holds the
# sign-in, or None to sign in now. Installed by agent_ui.mfa.init_mfa.
SecondFactor = Callable[[Principal, "str | None"], "Response | None"]
SECOND_FACTOR_KEY = "crm_pay_second_factor"


def _second_factor(principal: Principal, next_url: str | None) -> Response | None:
    """MFA hook, run after the password is right and before the session starts.

    Returns the code page (enrolled users) or the enrolment page (role in
    ``CRM_PAY_MFA_REQUIRED_ROLES``) to hold the sign-in, or None to sign the user in
    (see :mod:`agent_ui.mfa`: the pending state is a signed token in the form).
    ``agent_ui.mfa`` installs the hook (:data:`SECOND_FACTOR_KEY`): it imports this
    module, so this one may not import it back."""
    hold: SecondFactor | None = current_app.extensions.get(SECOND_FACTOR_KEY)
    return None if hold is None else hold(principal, next_url)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[Response, int] | str:
    ctx = get_context()
    next_url = request.values.get("next")
    if request.method == "GET":
        if current_console_user() is not None:
            return redirect(_safe_next(next_url))
        return render_template("crm_pay/login.html", email="", next_url=next_url or "")
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    refused = _login_throttled(email, next_url)
    if refused is not None:
        return refused
    try:
        principal = access.authenticate_user(
            ctx,
            email,
            password,
            max_failures=_config().login_max_failures,
            lock_seconds=_config().login_lock_seconds,
        )
    except Unauthorized as exc:
        _login_failed(email)
        html = render_template(
            "crm_pay/login.html", email=email, next_url=next_url, error=exc.message
        )
        return Response(html, status=401)
    _login_succeeded(email)
    held = _second_factor(principal, next_url)
    if held is not None:
        return held
    return begin_session(principal, next_url)


def _login_throttled(email: str, next_url: str | None) -> Response | None:
    """The answer refusing this sign-in attempt before the password is checked, or None.

    Delays are per account from this IP, per account from anywhere, and (generous) per
    IP across accounts (:mod:`crm_pay.rate_limits`): one agent's typos never refuse a
    colleague on the same network address. Answered at once with 429, never slept."""
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    policy: LoginPolicy = current_app.extensions["crm_pay_login_policy"]
    refusal = limits.login_refusal(policy, email, request.remote_addr or "unknown")
    if refusal is None:
        return None
    wait = _wait_words(refusal.retry_after)
    if refusal.scope == "ip":
        error = (
            "Too many sign-ins for different accounts failed from this network. Nothing "
            f"was checked. Wait {wait} and try again, or ask a supervisor."
        )
    else:
        error = (
            "Too many wrong passwords for this account. Nothing was checked. "
            f"Wait {wait} and try again, or ask an admin to reset your password."
        )
    html = render_template("crm_pay/login.html", email=email, next_url=next_url, error=error)
    resp = Response(html, status=429)
    resp.headers["Retry-After"] = str(refusal.retry_after)
    return resp


def _wait_words(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{-(-seconds // 60)} minutes"


def _login_failed(email: str) -> None:
    """Count a wrong password (or unknown account, alike) for the delays."""
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    policy: LoginPolicy = current_app.extensions["crm_pay_login_policy"]
    limits.login_failed(policy, email, request.remote_addr or "unknown")


def _login_succeeded(email: str) -> None:
    """The password was right: forget this account's failures from this IP."""
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    limits.login_succeeded(email, request.remote_addr or "unknown")


def begin_session(principal: Principal, next_url: str | None) -> Response:
    """Start the console session of ``principal`` (password and any second factor
    checked) and send them on to ``next_url`` (a console path) or the console."""
    ctx = get_context()
    found = access.user_session(ctx, principal.id)
    if found is None:  # deactivated in the instant between the two reads
        return redirect(url_for("crm_pay_auth.login"))
    sid = console_sessions.create(
        ctx,
        principal.id,
        max_age=_config().session_max_age,
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
    )
    # A fresh session: nothing from the cookie the browser had before survives.
    cookie = console_cookie()
    cookie.clear()
    cookie.update(uid=principal.id, sid=sid, gen=found[1], csrf=secrets.token_urlsafe(32))
    setattr(g, _USER_KEY, ConsoleUser(principal))
    log.info("user %s signed in", principal.id)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> Response:
    """End this session in the database first: a copy of the cookie dies with it."""
    sid = console_cookie().get("sid")
    if isinstance(sid, str) and sid:
        console_sessions.revoke(get_context(), sid)
    _end_cookie()
    flash("You are signed out.", "notice")
    return redirect(url_for("crm_pay_auth.login"))


@bp.post("/logout/everywhere")
def logout_everywhere() -> Response:
    """End every session of the signed-in user (another browser, a lost laptop)."""
    user = current_console_user()
    if user is not None:
        principal = user.principal
        count = console_sessions.revoke_all_for_user(
            get_context(), principal.id, reason="revoked", actor=principal.actor
        )
        log.info("user %s signed out everywhere (%d sessions)", principal.id, count)
    _end_cookie()
    flash("You are signed out on every device.", "notice")
    return redirect(url_for("crm_pay_auth.login"))


def _end_cookie() -> None:
    """Nothing of the ended session stays in the browser (a fresh CSRF token comes with
    the sign-in page)."""
    console_cookie().clear()
    setattr(g, _USER_KEY, None)


console_blueprint(bp)


@bp.after_request
def _headers(resp: Response) -> Response:
    return security_headers(resp)


def init_auth(app: Flask, prefix: str) -> None:
    """Mount sign-in and set up login throttling. Nothing of the host app changes: the
    session, CSRF and headers are the console blueprints' own (:func:`protect`)."""
    rate_limits.install(app.extensions, get_context(app).config)
    app.register_blueprint(bp, url_prefix=f"{prefix}/agent")
