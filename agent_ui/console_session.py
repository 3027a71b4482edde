"""crm-pay's own console cookie: independent of the host's Flask session and login.

A host application embedding crm-pay keeps its ``session``, its ``SESSION_COOKIE_*``
settings and its flask-login (if any) to itself. The consoles keep their state in one
cookie of their own, ``CRM_PAY_SESSION_COOKIE_NAME`` (``crm_pay_session``), scoped to
the crm-pay URL prefix (``Path``), ``HttpOnly``, ``Secure`` per
``CRM_PAY_SECURE_COOKIES`` and ``SameSite`` per ``CRM_PAY_SESSION_SAMESITE``. It is
signed with :mod:`itsdangerous` under a key derived from crm-pay's own token pepper
(salted, so no other signature of the pepper is a valid cookie), never the host's
``SECRET_KEY``. It holds:

- ``uid``/``sid``/``gen``: the user, the server-side session id
  (:mod:`crm_pay.services.console_sessions` keeps only its hash) and the session
  generation; these are what :mod:`agent_ui.auth` checks on every request;
- ``csrf``: the CSRF token, also before sign-in (the login form needs one);
- ``notices``: crm-pay's small flash (Flask's ``flash`` writes to the host's session).

Only blueprints that call :func:`use_console_session` read or write it: their
``before_request`` (CSRF check), ``after_request`` (cookie written when changed) and
context processor (``csrf_token()``, ``console_notices()``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer

from crm_pay.current import get_context
from vault import pan

__all__ = [
    "ConsoleCookie",
    "console_cookie",
    "csrf_token",
    "flash",
    "console_notices",
    "use_console_session",
    "cookie_name",
    "decode",
    "encode",
    "wants_json",
]

log = logging.getLogger("crm_pay.auth")

_SALT = "crm-pay console session"
_G_KEY = "crm_pay_console_cookie"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ConsoleCookie(dict[str, Any]):
    """The cookie's content; remembers whether it changed, so unchanged requests send
    no ``Set-Cookie``."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)


def cookie_name() -> str:
    return get_context().config.session_cookie_name


def _cookie_path() -> str:
    return get_context().settings.url_prefix or "/"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_context().settings.token_pepper, salt=_SALT)


def encode(data: dict[str, Any]) -> str:
    """``data`` signed as the cookie's value (in an app context)."""
    return str(_serializer().dumps(data))


def decode(raw: str) -> dict[str, Any]:
    """A cookie value's content; empty when the signature is wrong or it is no dict."""
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        log.info("a console cookie with a bad signature was ignored")
        return {}
    return data if isinstance(data, dict) else {}


def console_cookie() -> ConsoleCookie:
    """This request's console cookie (read and checked once per request; a forged or
    damaged cookie reads as empty)."""
    found: ConsoleCookie | None = g.get(_G_KEY)
    if found is None:
        raw = request.cookies.get(cookie_name())
        found = ConsoleCookie(decode(raw) if raw else {})
        setattr(g, _G_KEY, found)
    return found


def csrf_token() -> str:
    """The console session's CSRF token (created on first use); put it in every form."""
    cookie = console_cookie()
    token = cookie.get("csrf")
    if not isinstance(token, str) or not token:
        token = cookie["csrf"] = secrets.token_urlsafe(32)
    return token


def flash(message: str, category: str = "notice") -> None:
    """Show ``message`` on the next console page (kept in crm-pay's own cookie). A card
    number in it (an error that repeats what was typed) is redacted before it is kept:
    the cookie goes to the browser and back, and is nobody's to hold a PAN."""
    cookie = console_cookie()
    cookie["notices"] = [*cookie.get("notices", []), [category, pan.redact(message)]][-5:]


def console_notices() -> list[tuple[str, str]]:
    """The waiting notices as ``(category, message)``, removed once shown."""
    notices = console_cookie().pop("notices", None) or []
    return [(str(c), str(m)) for c, m in notices if isinstance(c, str)]


def _save(resp: Response) -> Response:
    cookie: ConsoleCookie | None = g.get(_G_KEY)
    if cookie is None or not cookie.modified:
        return resp
    config = get_context().config
    options: dict[str, Any] = {
        "path": _cookie_path(),
        "secure": config.secure_cookies,
        "httponly": True,
        "samesite": config.session_samesite,
    }
    if cookie:
        resp.set_cookie(cookie_name(), encode(dict(cookie)), **options)
    else:
        resp.delete_cookie(cookie_name(), **options)
    resp.vary.add("Cookie")
    return resp


def wants_json() -> bool:
    """The client asked for JSON (a script with the CSRF header, a JSON body or Accept)."""
    if request.headers.get("X-CSRF-Token") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _csrf_refused() -> Response | tuple[Response, int] | None:
    if request.method in _SAFE_METHODS:
        return None
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = console_cookie().get("csrf", "")
    if (
        isinstance(expected, str)
        and sent
        and expected
        and hmac.compare_digest(str(sent).encode(), expected.encode())
    ):
        return None
    log.warning("CSRF check failed for %s %s", request.method, request.path)
    message = (
        "This form expired or did not come from this console. Nothing was changed; "
        "reload the page and try again."
    )
    if wants_json():
        return jsonify({"error": {"code": "csrf_failed", "message": message}}), 400
    html = render_template("crm_pay/console_error.html", title="Please reload", message=message)
    return Response(html, status=400)


def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "console_notices": console_notices}


def use_console_session(bp: Blueprint, *, csrf: bool = True) -> None:
    """Give ``bp`` the console cookie: its answers write the cookie when it changed, its
    templates get ``csrf_token()`` and ``console_notices()``, and with
    ``csrf`` every state-changing request must carry the token (form field
    ``csrf_token`` or header ``X-CSRF-Token``). Calling it twice changes nothing."""
    if getattr(bp, "_crm_pay_console_session", False):
        return
    bp._crm_pay_console_session = True  # type: ignore[attr-defined]
    if csrf:
        bp.before_request(_csrf_refused)
    bp.after_request(_save)
    bp.context_processor(_template_helpers)
