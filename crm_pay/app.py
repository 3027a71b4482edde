"""Standalone app factory: ``crm_pay.create_app()``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect

__all__ = ["create_app", "env_value"]


def create_app(
    config: Mapping[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """A Flask app with crm-pay mounted, configured from ``CRM_PAY_*`` environment
    variables, then ``config``."""
    from crm_pay.extension import CrmPay

    app = Flask(
        "crm_pay",
        instance_path=instance_path or os.environ.get("CRM_PAY_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    # Every CRM_PAY_* environment variable, typed like its default (a receipt prefix or
    # tax id of digits stays a string; "false" is False for a boolean key).
    for key, value in os.environ.items():
        if key.startswith("CRM_PAY_") and key not in ("CRM_PAY_INSTANCE_PATH",):
            app.config[key] = env_value(key, value)
    # Flask's defaults hold SECRET_KEY = None, so setdefault() would never fill it in.
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("CRM_PAY_SECRET_KEY")
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        # crm-pay's console cookie is signed with its own key (agent_ui.console_session);
        # Flask's SECRET_KEY only serves the standalone app's own use of Flask's session.
        app.config["SECRET_KEY"] = os.urandom(32)
    hops = int(app.config.get("CRM_PAY_PROXY_FIX") or 0)
    if hops:
        # Behind a reverse proxy: trust its X-Forwarded-* headers (that many hops), so
        # login throttling and logs see the client's address, not the proxy's.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    CrmPay(app)
    prefix = app.config["CRM_PAY_URL_PREFIX"].rstrip("/")

    if prefix:

        @app.get("/")
        def index() -> Any:
            return redirect(f"{prefix}/api/v1/openapi.json")

    return app


def env_value(key: str, value: str) -> Any:
    """Convert an environment string to the type of ``key``'s default."""
    from crm_pay.config import DEFAULTS
    from crm_pay.domain.errors import ConfigurationError

    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{key}={value!r}: use true or false")
    if (default is None or isinstance(default, dict | list)) and value.strip()[:1] in ("{", "["):
        import json

        try:
            return json.loads(value)
        except ValueError:
            raise ConfigurationError(f"{key} is not valid JSON") from None
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ConfigurationError(f"{key}={value!r} is not a number") from None
    return value
