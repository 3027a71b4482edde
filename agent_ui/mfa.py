"""Second-factor pages: the code page and first enrolment during sign-in, the Security
page of a signed-in user, and step-up before sensitive console actions.

Between the password and the second factor nothing is kept in a cookie: the pages
carry a short-lived *pending token* in a hidden form field, signed with the token
pepper (its own salt), holding the user id, the user's session generation, a purpose
and a nonce. That token is why the sign-in MFA forms need no console CSRF token: it is
unguessable, bound to one user and one password sign-in (a newer sign-in changes the
generation and kills it), dies after ``CRM_PAY_MFA_PENDING_SECONDS`` and after
:data:`crm_pay.services.mfa.MAX_WRONG_CODES` wrong codes, and works once.
"""

from __future__ import annotations

import secrets
from typing import Any

import segno
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import access, console_sessions, mfa, webauthn_keys
from crm_pay.services.access import Principal

from . import auth
from .console_session import console_cookie, flash

__all__ = ["bp", "security_bp", "init_mfa", "hold_sign_in", "step_up_refusal"]

bp = Blueprint("crm_pay_mfa", __name__, template_folder="templates")
security_bp = Blueprint("crm_pay_security", __name__, template_folder="templates")

_EXPIRED = "This sign-in step timed out or is no longer valid. Sign in again."


def init_mfa(app: Flask, prefix: str) -> None:
    """Mount the pages and install the second-factor hook of the sign-in (the roles
    that need it were checked by :class:`~crm_pay.config.CrmPayConfig`)."""
    app.extensions["crm_pay_mfa_required"] = get_context(app).config.mfa_roles
    app.extensions[auth.SECOND_FACTOR_KEY] = hold_sign_in
    app.register_blueprint(bp, url_prefix=f"{prefix}/agent/mfa")
    app.register_blueprint(security_bp, url_prefix=f"{prefix}/agent/security")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_context().settings.token_pepper, salt="crm-pay-mfa-pending")


def _pending(principal: Principal, purpose: str, next_url: str | None) -> str | None:
    found = access.user_session(get_context(), principal.id)
    if found is None:
        return None
    data = {"uid": principal.id, "gen": found[1], "p": purpose, "n": secrets.token_urlsafe(16)}
    return str(_serializer().dumps({**data, "next": next_url or ""}))


def _open_pending(purpose: str) -> tuple[Principal, dict[str, Any]] | None:
    raw = request.form.get("pending", "")
    try:
        data = _serializer().loads(raw, max_age=get_context().config.mfa_pending_seconds)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or data.get("p") != purpose:
        return None
    found = access.user_session(get_context(), int(data["uid"]))
    if found is None or found[1] != data.get("gen"):
        return None
    return found[0], data


def _required(principal: Principal) -> bool:
    return principal.role in current_app.extensions["crm_pay_mfa_required"]


def _qr(seed: str, email: str) -> str:
    return str(segno.make(mfa.provisioning_uri(seed, email)).svg_data_uri(scale=5))


def hold_sign_in(principal: Principal, next_url: str | None) -> Response | None:
    """Called by :func:`agent_ui.auth.login` once the password is right: the code page
    (enrolled users), the enrolment page (role requires MFA) or None (sign in now)."""
    ctx = get_context()
    state = mfa.status(ctx, principal.id)
    if state.enrolled:
        token = _pending(principal, "login", next_url)
        has_key = webauthn_keys.has_keys(ctx, principal.id)
        return Response(render_template("crm_pay/mfa_code.html", pending=token, has_key=has_key))
    if not _required(principal):
        return None
    seed = mfa.start_enrolment(ctx, principal.id)
    token = _pending(principal, "enrol", next_url)
    html = render_template(
        "crm_pay/mfa_enrol.html",
        pending=token,
        qr=_qr(seed, principal.name),
        seed=seed,
        action=url_for("crm_pay_mfa.enrol"),
        required=True,
    )
    return Response(html)


def _start(principal: Principal, next_url: str | None) -> Response:
    """Begin the console session and note the second factor in it (step-up clock)."""
    resp = auth.begin_session(principal, next_url)
    sid = console_cookie().get("sid")
    if isinstance(sid, str) and sid:
        mfa.mark_session(get_context(), sid)
    return resp


def _signin_again(message: str = _EXPIRED) -> Response:
    flash(message, "warning")
    return redirect(url_for("crm_pay_auth.login"))  # type: ignore[return-value]


@bp.post("/code")
def code() -> Response:
    opened = _open_pending("login")
    if opened is None:
        return _signin_again()
    principal, data = opened
    try:
        mfa.verify(get_context(), principal.id, request.form.get("code", ""), nonce=data["n"])
    except CrmPayError as exc:
        if exc.message in (mfa.TOO_MANY, mfa.USED):
            return _signin_again(exc.message)
        html = render_template(
            "crm_pay/mfa_code.html",
            pending=request.form["pending"],
            error=exc.message,
            has_key=webauthn_keys.has_keys(get_context(), principal.id),
        )
        return Response(html, status=401)
    return _start(principal, data.get("next"))


@bp.post("/enrol")
def enrol() -> Response:
    opened = _open_pending("enrol")
    if opened is None:
        return _signin_again()
    principal, data = opened
    ctx = get_context()
    try:
        codes = mfa.confirm_enrolment(
            ctx, principal.id, request.form.get("code", ""), nonce=data["n"]
        )
    except CrmPayError as exc:
        if exc.message == mfa.TOO_MANY:
            return _signin_again(exc.message)
        return _enrol_again(principal, exc.message)
    token = _pending(principal, "finish", data.get("next"))
    html = render_template(
        "crm_pay/mfa_recovery_codes.html",
        codes=codes,
        pending=token,
        action=url_for("crm_pay_mfa.finish"),
    )
    return Response(html)


def _enrol_again(principal: Principal, error: str) -> Response:
    """The enrolment page again after a wrong first code, with the same pending token
    and the same seed (the app the user already scanned keeps working)."""
    seed = mfa.pending_seed(get_context(), principal.id)
    if seed is None:
        return _signin_again()
    html = render_template(
        "crm_pay/mfa_enrol.html",
        pending=request.form["pending"],
        qr=_qr(seed, principal.name),
        seed=seed,
        action=url_for("crm_pay_mfa.enrol"),
        required=True,
        error=error,
    )
    return Response(html, status=401)


@bp.post("/finish")
def finish() -> Response:
    """ "I saved my recovery codes": the session starts (the enrolment was the factor)."""
    opened = _open_pending("finish")
    if opened is None:
        return _signin_again()
    principal, data = opened
    try:
        mfa.complete_pending(get_context(), principal.id, data["n"])
    except CrmPayError as exc:
        return _signin_again(exc.message)
    return _start(principal, data.get("next"))


auth.console_blueprint(bp, csrf=False)
bp.after_request(auth.security_headers)


# --- Security page (signed in) -------------------------------------------------------

auth.protect(security_bp, "agent")


def _security_page(**extra: Any) -> Response:
    principal = auth.signed_in_principal()
    state = mfa.status(get_context(), principal.id)
    keys = webauthn_keys.keys(get_context(), principal.id)
    html = render_template(
        "crm_pay/mfa_security.html",
        state=state,
        required=_required(principal),
        keys=keys,
        **extra,
    )
    return Response(html, status=400 if extra.get("error") else 200)


@security_bp.get("/")
def security() -> Response:
    return _security_page()


@security_bp.post("/enrol")
def security_enrol() -> Response:
    principal = auth.signed_in_principal()
    try:
        seed = mfa.start_enrolment(get_context(), principal.id)
    except CrmPayError as exc:
        return _security_page(error=exc.message)
    html = render_template(
        "crm_pay/mfa_enrol.html",
        pending=None,
        qr=_qr(seed, principal.name),
        seed=seed,
        action=url_for("crm_pay_security.security_confirm"),
        required=False,
    )
    return Response(html)


@security_bp.post("/confirm")
def security_confirm() -> Response:
    principal = auth.signed_in_principal()
    ctx = get_context()
    try:
        codes = mfa.confirm_enrolment(ctx, principal.id, request.form.get("code", ""))
    except CrmPayError as exc:
        return _security_page(error=exc.message)
    sid = console_cookie().get("sid")
    if isinstance(sid, str):
        mfa.mark_session(ctx, sid)
    return _codes_page(codes)


def _codes_page(codes: list[str]) -> Response:
    """New recovery codes, shown this once, then back to the Security page."""
    html = render_template(
        "crm_pay/mfa_recovery_codes.html",
        codes=codes,
        pending=None,
        action=url_for("crm_pay_security.security"),
    )
    return Response(html)


@security_bp.post("/recovery-codes")
def regenerate() -> Response:
    principal = auth.signed_in_principal()
    try:
        codes = mfa.regenerate_recovery_codes(get_context(), principal.id)
    except CrmPayError as exc:
        return _security_page(error=exc.message)
    return _codes_page(codes)


@security_bp.route("/verify", methods=["GET", "POST"])
def verify() -> Response:
    """Step-up: type a code to confirm a sensitive action; back to ``next`` after."""
    next_url = auth._safe_next(request.values.get("next"))
    if request.method == "GET":
        return Response(render_template("crm_pay/mfa_verify.html", next_url=next_url))
    principal = auth.signed_in_principal()
    ctx = get_context()
    sid = console_cookie().get("sid")
    nonce = (
        f"step-up:{console_sessions.session_key(ctx, sid)[:24]}" if isinstance(sid, str) else None
    )
    try:
        mfa.verify(ctx, principal.id, request.form.get("code", ""), nonce=nonce, single_use=False)
    except CrmPayError as exc:
        if exc.message == mfa.TOO_MANY and isinstance(sid, str):
            # Guessing codes in a signed-in session: end it (the password is needed again).
            console_sessions.revoke(ctx, sid, reason="revoked")
            return _signin_again(exc.message)
        html = render_template("crm_pay/mfa_verify.html", next_url=next_url, error=exc.message)
        return Response(html, status=401)
    if isinstance(sid, str):
        mfa.mark_session(ctx, sid)
    flash("Confirmed. You can now repeat the action.", "notice")
    return redirect(next_url)  # type: ignore[return-value]


def step_up_refusal(
    next_url: str,
    notice: str = "Nothing was saved; after confirming, make the change again "
    "(type the secret again).",
) -> Response | None:
    """None when the signed-in user may go ahead; else a redirect to the code page, the
    action refused (users without MFA need no step-up: nothing to ask). ``notice`` says
    what was not done and how to repeat it."""
    principal = auth.signed_in_principal()
    ctx = get_context()
    if not mfa.status(ctx, principal.id).enrolled:
        return None
    sid = console_cookie().get("sid")
    age = mfa.session_mfa_age(ctx, sid) if isinstance(sid, str) else None
    if age is not None and age <= get_context().config.mfa_step_up_seconds:
        return None
    flash(f"Confirm it's you: type a code from your authenticator app. {notice}", "warning")
    return redirect(url_for("crm_pay_security.verify", next=next_url))  # type: ignore[return-value]
