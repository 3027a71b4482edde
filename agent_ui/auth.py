"""Sign-in, roles, sessions and CSRF for the agent and admin consoles.

Every sign-in is a server-side record (:mod:`crm_pay.services.console_sessions`); the
signed cookie carries only its random ``sid`` (the database keeps a hash of it):

- at sign-in the session is emptied and gets a fresh ``sid`` and CSRF token (nothing
  from a pre-login cookie survives: no session fixation); the user's older sessions end
  (one console session per user), as does the older *session generation* the cookie
  also carries (``User.last_login_at``);
- the user loader checks the record on every request and every Socket.IO event: signed
  out, revoked ("sign out everywhere", an admin, deactivation), idle past
  ``CRM_PAY_IDLE_TIMEOUT`` or older than ``CRM_PAY_SESSION_MAX_AGE`` means signed out,
  with a message saying why, for every copy of the cookie at once.

CSRF: every state-changing request (anything but GET/HEAD/OPTIONS) must send the
session's token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header; it is
compared with :func:`hmac.compare_digest`. The JSON API (Bearer keys), the PSP webhook and
the customer pay page authenticate their POSTs otherwise and are exempt.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections import deque
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from crm_pay.domain.errors import Unauthorized
from crm_pay.extension import get_context
from crm_pay.services import access, console_sessions
from crm_pay.services.access import Principal

__all__ = [
    "init_auth",
    "ConsoleUser",
    "LoginThrottle",
    "csrf_token",
    "csrf_exempt",
    "security_headers",
    "protect",
    "bp",
    "begin_session",
]

log = logging.getLogger("crm_pay.auth")

bp = Blueprint("crm_pay_auth", __name__, template_folder="templates")

# Blueprints whose POSTs carry their own authentication (API key, PSP signature, the
# customer's link token): no session, so no CSRF token to check.
_CSRF_EXEMPT = frozenset({"crm_pay_api", "crm_pay_webhooks", "crm_pay_paypage"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ConsoleUser(UserMixin):  # type: ignore[misc]
    """The signed-in person as flask-login sees them; ``principal`` is what services take."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def get_id(self) -> str:
        return str(self.principal.id)

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def email(self) -> str:
        return self.principal.name


class LoginThrottle:
    """Failed sign-ins per client IP in a sliding window (in memory, per process).

    Only failures count: a contact center's agents often share one public address, and
    a shift signing in together must not lock itself out."""

    _MAX_TRACKED = 10_000

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> deque[float]:
        times = self._failures.setdefault(ip, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, ip: str, now: float) -> bool:
        with self._lock:
            blocked = len(self._recent(ip, now)) >= self.limit
            if not self._failures[ip]:
                del self._failures[ip]
            return blocked

    def failed(self, ip: str, now: float) -> None:
        with self._lock:
            if len(self._failures) >= self._MAX_TRACKED:
                # Bounded memory under a spray from many addresses: forget stale ones.
                for key in [k for k, v in self._failures.items() if v[-1] <= now - self.window]:
                    del self._failures[key]
            self._recent(ip, now).append(now)


def _cfg(key: str) -> Any:
    return current_app.config[key]


def _now() -> datetime:
    return get_context().now()


def csrf_token() -> str:
    """The session's CSRF token (created on first use); put it in every form."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_exempt(app: Flask, blueprint_name: str) -> None:
    """Exempt another blueprint whose POSTs authenticate without a session."""
    app.extensions["crm_pay_csrf_exempt"].add(blueprint_name)


def _wants_json() -> bool:
    if request.headers.get("X-CSRF-Token") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _check_csrf() -> Response | tuple[Response, int] | None:
    if request.method in _SAFE_METHODS or request.endpoint is None:
        return None
    if request.blueprint in current_app.extensions["crm_pay_csrf_exempt"]:
        return None
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if sent and expected and hmac.compare_digest(str(sent).encode(), str(expected).encode()):
        return None
    log.warning("CSRF check failed for %s %s", request.method, request.path)
    message = (
        "This form expired or did not come from this console. Nothing was changed; "
        "reload the page and try again."
    )
    if _wants_json():
        return jsonify({"error": {"code": "csrf_failed", "message": message}}), 400
    html = render_template("crm_pay/console_error.html", title="Please reload", message=message)
    return security_headers(Response(html, status=400))


def protect(blueprint: Blueprint, role: str = "agent") -> None:
    """Every page of ``blueprint`` needs a signed-in user with ``role`` or one above it:
    others are sent to sign in, or get the blueprint's 403. Its static files are open;
    every answer carries :func:`security_headers`."""

    @blueprint.before_request
    def _require_role() -> Any:
        if request.endpoint == f"{blueprint.name}.static":
            return None
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        if not access.has_role(current_user.principal, role):
            abort(403)
        return None

    blueprint.after_request(security_headers)


def security_headers(resp: Response) -> Response:
    """Strict CSP for console pages: scripts and styles from our origin only, no inline
    script; framing allowed to ``CRM_PAY_FRAME_ANCESTORS`` (the CRM that embeds us)."""
    ancestors = _cfg("CRM_PAY_FRAME_ANCESTORS") or "'none'"
    if resp.mimetype == "text/html":
        host = request.host
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' ws://{host} wss://{host}; form-action 'self'; "
            f"base-uri 'none'; frame-ancestors {ancestors}"
        )
    else:
        resp.headers.setdefault("Content-Security-Policy", f"frame-ancestors {ancestors}")
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _signed_out(reason: str) -> None:
    session.clear()
    g.crm_pay_signed_out = reason


def _load_user(user_id: str) -> ConsoleUser | None:
    """flask-login's user loader: the user must still be active, the cookie must carry
    their current generation, and its session record must be live (not signed out,
    revoked, idle or past its lifetime)."""
    ctx = get_context()
    try:
        uid = int(user_id)
        found = access.user_session(ctx, uid)
    except ValueError:
        found = None
    sid = session.get("sid")
    if found is None or not isinstance(sid, str) or not sid:
        _signed_out("gone")
        return None
    principal, generation = found
    if not hmac.compare_digest(str(session.get("gen", "")).encode(), generation.encode()):
        _signed_out("elsewhere")
        return None
    reason = console_sessions.check(
        ctx, sid, user_id=uid, idle_seconds=float(_cfg("CRM_PAY_IDLE_TIMEOUT"))
    )
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
    minutes = max(1, int(_cfg("CRM_PAY_IDLE_TIMEOUT")) // 60)
    message = _SIGNED_OUT_MESSAGES.get(reason or "", "Sign in to use the agent console.")
    message = message.format(minutes=minutes)
    if _wants_json():
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
    roots = tuple(
        url.rstrip("/") + "/" for url in (home, url_for("crm_pay_admin.index"), supervisor)
    )
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(roots):
        return home
    return target


def _second_factor(principal: Principal, next_url: str | None) -> Response | None:
    """MFA hook, run after the password is right and before the session starts.

    Return a response (e.g. a redirect to a one-time-code page, with a pending-login
    marker kept in the session) to hold the sign-in; None signs the user in. MFA is a
    later issue: today nobody is enrolled."""
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[Response, int] | str:
    ctx = get_context()
    next_url = request.values.get("next")
    if request.method == "GET":
        if current_user.is_authenticated:
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
            max_failures=int(_cfg("CRM_PAY_LOGIN_MAX_FAILURES")),
            lock_seconds=int(_cfg("CRM_PAY_LOGIN_LOCK_SECONDS")),
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
    """The answer refusing this sign-in attempt before the password is checked, or None."""
    ip = request.remote_addr or "unknown"
    throttle: LoginThrottle = current_app.extensions["crm_pay_login_throttle"]
    if throttle.blocked(ip, get_context().now().timestamp()):
        minutes = max(1, int(throttle.window) // 60)
        error = (
            f"Too many failed sign-ins from this network. Wait {minutes} minutes and try "
            "again, or ask a supervisor."
        )
        html = render_template("crm_pay/login.html", email=email, next_url=next_url, error=error)
        return Response(html, status=429)
    return None


def _login_failed(email: str) -> None:
    """Count a wrong password (or unknown account) for the throttle."""
    ip = request.remote_addr or "unknown"
    throttle: LoginThrottle = current_app.extensions["crm_pay_login_throttle"]
    throttle.failed(ip, get_context().now().timestamp())


def _login_succeeded(email: str) -> None:
    """The password was right: the throttle may forget this account's failures."""


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
        max_age=int(_cfg("CRM_PAY_SESSION_MAX_AGE")),
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
    )
    # A fresh session: nothing from the cookie the browser had before survives.
    session.clear()
    login_user(ConsoleUser(principal))
    session["sid"] = sid
    session["gen"] = found[1]
    csrf_token()
    log.info("user %s signed in", principal.id)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> Response:
    """End this session in the database first: a copy of the cookie dies with it."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        console_sessions.revoke(get_context(), sid)
    logout_user()
    session.clear()
    flash("You are signed out.", "notice")
    return redirect(url_for("crm_pay_auth.login"))


@bp.post("/logout/everywhere")
def logout_everywhere() -> Response:
    """End every session of the signed-in user (another browser, a lost laptop)."""
    if current_user.is_authenticated:
        principal = current_user.principal
        count = console_sessions.revoke_all_for_user(
            get_context(), principal.id, reason="revoked", actor=principal.actor
        )
        log.info("user %s signed out everywhere (%d sessions)", principal.id, count)
    logout_user()
    session.clear()
    flash("You are signed out on every device.", "notice")
    return redirect(url_for("crm_pay_auth.login"))


@bp.after_request
def _headers(resp: Response) -> Response:
    return security_headers(resp)


def init_auth(app: Flask, prefix: str) -> None:
    """Set up flask-login, CSRF protection, login throttling and session hardening."""
    cfg = app.config
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = cfg["CRM_PAY_SESSION_SAMESITE"]
    cfg["SESSION_COOKIE_SECURE"] = bool(cfg["CRM_PAY_SECURE_COOKIES"])
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SECURE"] = bool(cfg["CRM_PAY_SECURE_COOKIES"])

    manager = LoginManager()
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.unauthorized_handler(_unauthorized)
    manager.init_app(app)

    app.extensions["crm_pay_csrf_exempt"] = set(_CSRF_EXEMPT)
    app.extensions["crm_pay_login_throttle"] = LoginThrottle(
        int(cfg["CRM_PAY_LOGIN_IP_LIMIT"]), float(cfg["CRM_PAY_LOGIN_IP_WINDOW"])
    )
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_blueprint(bp, url_prefix=f"{prefix}/agent")
