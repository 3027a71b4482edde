"""Security keys in the console: sign in with a key (instead of typing a TOTP code) and
add or remove keys on the Security page. The checks are in
:mod:`crm_pay.services.webauthn_keys`; ``static/crm_pay/webauthn.js`` talks to the key.

Challenges: at sign-in the challenge travels in a value signed with the token pepper
(own salt), bound to the pending sign-in's nonce and valid ``_CHALLENGE_SECONDS``; the
nonce is spent on success, so the same answer cannot start a second session. For
registration the challenge sits in the console cookie (signed) and is removed at the
first answer, right or wrong.

The relying party id is ``CRM_PAY_WEBAUTHN_RP_ID`` or, when empty, the host the
browser used; the expected origin is the request's scheme and host.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError
from crm_pay.services import mfa, webauthn_keys

from . import auth
from . import mfa as mfa_pages
from .console_session import console_cookie, flash

__all__ = ["login_bp", "keys_bp", "init_webauthn"]

login_bp = Blueprint("crm_pay_mfa_key", __name__, template_folder="templates")
keys_bp = Blueprint("crm_pay_security_key", __name__, template_folder="templates")

_CHALLENGE_SECONDS = 180
_COOKIE_KEY = "wa_reg"


def init_webauthn(app: Flask, prefix: str) -> None:
    app.register_blueprint(login_bp, url_prefix=f"{prefix}/agent/mfa/key")
    app.register_blueprint(keys_bp, url_prefix=f"{prefix}/agent/security/keys")


def _rp() -> tuple[str, str]:
    """(rp id, expected origin) for this request."""
    configured = get_context().config.webauthn_rp_id.strip()
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return configured or host, f"{request.scheme}://{request.host}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        get_context().settings.token_pepper, salt="crm-pay-webauthn-challenge"
    )


def _error(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": {"message": message}}), status


# --- Sign-in with a key (the pending token authenticates these POSTs) ---------------


@login_bp.post("/options")
def login_options() -> Any:
    opened = mfa_pages._open_pending("login")
    if opened is None:
        return _error(mfa_pages._EXPIRED, 401)
    principal, data = opened
    challenge = webauthn_keys.new_challenge()
    rp_id, _ = _rp()
    try:
        options = webauthn_keys.authentication_options(
            get_context(), principal.id, rp_id=rp_id, challenge=challenge
        )
    except CrmPayError as exc:
        return _error(exc.message)
    token = _serializer().dumps({"c": bytes_to_base64url(challenge), "n": data["n"], "p": "login"})
    return jsonify({"options": json.loads(options), "challenge": token})


def _code_page_again(message: str) -> Response:
    html = render_template(
        "crm_pay/mfa_code.html", pending=request.form["pending"], error=message, has_key=True
    )
    return Response(html, status=401)


@login_bp.post("/verify")
def login_verify() -> Response:
    """The key's answer (a form post by webauthn.js): starts the session like a code."""
    opened = mfa_pages._open_pending("login")
    if opened is None:
        return mfa_pages._signin_again()
    principal, data = opened
    try:
        signed = _serializer().loads(request.form.get("challenge", ""), max_age=_CHALLENGE_SECONDS)
    except (BadSignature, SignatureExpired):
        signed = None
    if not isinstance(signed, dict) or signed.get("p") != "login" or signed.get("n") != data["n"]:
        return _code_page_again(
            "The security key request timed out. Nothing was changed; press "
            "“Use a security key” again."
        )
    try:
        credential = json.loads(request.form.get("credential", ""))
    except ValueError:
        credential = None
    if not isinstance(credential, dict):
        return _code_page_again("No answer came from the security key. Try again.")
    rp_id, origin = _rp()
    try:
        webauthn_keys.authenticate(
            get_context(),
            principal.id,
            credential,
            challenge=base64url_to_bytes(str(signed["c"])),
            rp_id=rp_id,
            origin=origin,
            nonce=data["n"],
        )
    except CrmPayError as exc:
        if exc.message in (webauthn_keys.USED, mfa.TOO_MANY):
            return mfa_pages._signin_again(exc.message)
        return _code_page_again(exc.message)
    return mfa_pages._start(principal, data.get("next"))


login_bp.after_request(auth.security_headers)
auth.console_blueprint(login_bp, csrf=False)


# --- Security page: add and remove keys (signed in, CSRF) ---------------------------

auth.protect(keys_bp, "agent")


@keys_bp.post("/options")
def register_options() -> Any:
    principal = auth.signed_in_principal()
    ctx = get_context()
    if not mfa.status(ctx, principal.id).enrolled:
        return _error(
            "Set up an authenticator app first; a security key is an extra option. "
            "Nothing was changed."
        )
    challenge = webauthn_keys.new_challenge()
    rp_id, _ = _rp()
    options = webauthn_keys.registration_options(
        ctx, principal.id, rp_id=rp_id, challenge=challenge
    )
    stamp = int(ctx.now().timestamp())
    console_cookie()[_COOKIE_KEY] = {"c": bytes_to_base64url(challenge), "t": stamp}
    return jsonify({"options": json.loads(options)})


@keys_bp.post("/register")
def register() -> Any:
    principal = auth.signed_in_principal()
    pending = console_cookie().pop(_COOKIE_KEY, None)  # single use, right or wrong
    if (
        not isinstance(pending, dict)
        or get_context().now().timestamp() - float(pending.get("t", 0)) > _CHALLENGE_SECONDS
    ):
        return _error(
            "The security key request timed out. Nothing was changed; press "
            "“Add a security key” again."
        )
    body = request.get_json(silent=True) or {}
    credential = body.get("credential") if isinstance(body, dict) else None
    if not isinstance(credential, dict):
        return _error("No answer came from the security key. Nothing was changed.")
    rp_id, origin = _rp()
    try:
        key = webauthn_keys.register(
            get_context(),
            principal.id,
            credential,
            challenge=base64url_to_bytes(str(pending["c"])),
            rp_id=rp_id,
            origin=origin,
            name=str(body.get("name") or ""),
        )
    except CrmPayError as exc:
        return _error(exc.message)
    flash(f"Security key “{key.name}” added. You can use it at your next sign-in.", "notice")
    return jsonify({"ok": True, "name": key.name, "redirect": url_for("crm_pay_security.security")})


@keys_bp.post("/<int:key_id>/remove")
def remove(key_id: int) -> Response:
    principal = auth.signed_in_principal()
    try:
        name = webauthn_keys.remove(get_context(), principal.id, key_id)
    except CrmPayError as exc:
        flash(exc.message, "warning")
    else:
        flash(f"Security key “{name}” removed; it no longer signs you in.", "notice")
    return redirect(url_for("crm_pay_security.security"))  # type: ignore[return-value]
