"""Launch endpoints: the agent console opened from inside a CRM, on the right customer.

``{prefix}/agent/launch/salesforce`` (Canvas signed request, POST), ``.../hubspot``
(CRM card, HubSpot v3 signature) and ``.../link`` (signed launch link, any CRM). Each
verifies the CRM's signature (``crm_pay.services.launch``), then sends the agent to
``{prefix}/agent/customers/<crm_ref>`` — through sign-in first when needed. A launch
never signs anyone in by itself.

The Canvas POST comes from Salesforce, not from one of our forms: its own signature
authenticates it, so the blueprint is exempt from the console's CSRF check. Responses
carry the console's security headers, whose ``frame-ancestors`` come from
``CRM_PAY_FRAME_ANCESTORS`` (the CRM origins allowed to frame the console).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError, CrmPayError
from crm_pay.services import launch
from crm_pay.services.launch import LaunchConfig, LaunchTarget

from . import auth
from .auth import current_console_user, security_headers
from .console_session import flash

__all__ = ["bp", "init_launch"]

bp = Blueprint("crm_pay_launch", __name__, template_folder="templates")

_TITLES = {400: "Launch link not valid", 403: "Not allowed", 410: "Launch link expired"}


_EXTENSION_KEY = "crm_pay_launch"


def _config() -> LaunchConfig:
    """The app's launch settings, built once by :func:`init_launch`."""
    config: LaunchConfig = current_app.extensions[_EXTENSION_KEY]
    return config


@bp.after_request
def _headers(resp: Response) -> Response:
    return security_headers(resp)


@bp.errorhandler(CrmPayError)
def _refused(exc: CrmPayError) -> tuple[str, int]:
    if isinstance(exc, ConfigurationError):
        current_app.logger.error("launch not configured: %s", exc.message)
        title, status = "Not set up yet", 503
    else:
        title, status = _TITLES.get(exc.status, "Cannot open this customer"), exc.status
    html = render_template("crm_pay/console_error.html", title=title, message=exc.message)
    return html, status


def _land(target: LaunchTarget) -> Any:
    """The customer's page, or sign-in first and then the customer's page."""
    extra = {"call_sid": target.call_sid} if target.call_sid else {}
    destination = url_for("crm_pay_console.customer", crm_ref=target.crm_ref, **extra)
    user = current_console_user()
    if user is None:
        flash("Sign in to open this customer.", "notice")
        return redirect(url_for("crm_pay_auth.login", next=destination), code=303)
    if target.agent and target.agent != user.email.strip().lower():
        html = render_template(
            "crm_pay/console_error.html",
            title="Not allowed",
            message=(
                "This launch link was made for another agent. Sign out and sign in as "
                "that agent, or search for the customer yourself."
            ),
        )
        return Response(html, status=403)
    return redirect(destination, code=303)


@bp.post("/launch/salesforce")
def salesforce() -> Any:
    """Salesforce Canvas: the app's canvas URL, POSTed with ``signed_request``."""
    target = launch.open_canvas_launch(
        get_context(), request.form.get("signed_request", ""), config=_config()
    )
    return _land(target)


def _public_url() -> str:
    """The URL HubSpot called, as HubSpot saw it: the public base URL, not whatever host
    and scheme a proxy behind TLS termination hands us."""
    base = get_context().config.public_url.rstrip("/")
    query = request.query_string.decode("utf-8", "replace")
    return f"{base}{request.script_root}{request.path}" + (f"?{query}" if query else "")


@bp.get("/launch/hubspot")
def hubspot() -> Any:
    """HubSpot CRM card: opened (or fetched) with HubSpot's v3 signature.

    A browser lands on the customer. A card's data fetch (``Accept: application/json``)
    gets a short-lived signed launch link to open in HubSpot's iframe, because HubSpot
    does not sign the iframe request itself."""
    config = _config()
    ctx = get_context()
    target = launch.open_hubspot_launch(
        ctx,
        method=request.method,
        url=_public_url(),
        body=request.get_data(),
        headers=request.headers,
        query=request.args,
        config=config,
    )
    accepts = request.accept_mimetypes
    if accepts["application/json"] > accepts["text/html"]:
        link = launch.launch_link(ctx, target.crm_ref, config=config)
        label = "Take a payment in crm-pay"
        action = {"type": "IFRAME", "width": 1100, "height": 800, "uri": link, "label": label}
        object_id = int(target.crm_ref) if target.crm_ref.isdigit() else target.crm_ref
        return jsonify(
            {
                "launch_url": link,
                "results": [{"objectId": object_id, "title": label, "actions": [action]}],
                "primaryAction": action,
            }
        )
    return _land(target)


@bp.get("/launch/link")
def link() -> Any:
    """Any other CRM: a link made by ``crm-pay launch-url`` (or ``launch_link``)."""
    return _land(
        launch.open_launch_link(get_context(), request.args.get("t", ""), config=_config())
    )


def init_launch(app: Flask, prefix: str) -> None:
    """Mount the launch endpoints under ``{prefix}/agent``. They read the console
    session but take no CSRF token: a CRM's signature authenticates their requests."""
    app.extensions[_EXTENSION_KEY] = LaunchConfig.from_config(get_context(app).config)
    auth.console_blueprint(bp, csrf=False)
    app.register_blueprint(bp, url_prefix=f"{prefix}/agent")
