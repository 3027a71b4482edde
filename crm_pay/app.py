"""Standalone app factory: ``crm_pay.create_app()``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect
from werkzeug.middleware.proxy_fix import ProxyFix

from crm_pay.config import (
    environment_instance_path,
    environment_secret_key,
    environment_settings,
    parse_setting,
)
from crm_pay.current import get_context
from crm_pay.extension import CrmPay

__all__ = ["create_app", "env_value"]


def create_app(
    config: Mapping[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """A Flask app with crm-pay mounted, configured from ``CRM_PAY_*`` environment
    variables, then ``config``."""
    app = Flask(
        "crm_pay",
        instance_path=instance_path or environment_instance_path(),
        instance_relative_config=True,
    )
    # Every CRM_PAY_* environment variable as text under its own name; init_app parses
    # them with the rest (CrmPayConfig: a tax id of digits stays text, "false" is False).
    app.config.update(environment_settings())
    # Flask's defaults hold SECRET_KEY = None, so setdefault() would never fill it in.
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = environment_secret_key()
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        # crm-pay's console cookie is signed with its own key (agent_ui.console_session);
        # Flask's SECRET_KEY only serves the standalone app's own use of Flask's session.
        app.config["SECRET_KEY"] = os.urandom(32)
    CrmPay(app)
    settings = get_context(app).config
    hops = settings.proxy_fix
    if hops:
        # Behind a reverse proxy: trust its X-Forwarded-* headers (that many hops), so
        # login throttling and logs see the client's address, not the proxy's.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    prefix = settings.prefix

    if prefix:

        @app.get("/")
        def index() -> Any:
            return redirect(f"{prefix}/api/v1/openapi.json")

    return app


def env_value(key: str, value: str) -> Any:
    """``key``'s value from environment text, typed like its setting (kept for host apps
    that copy environment variables themselves; :func:`crm_pay.config.parse_setting`)."""
    return parse_setting(key, value)
