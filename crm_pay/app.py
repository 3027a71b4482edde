"""Standalone app factory: ``crm_pay.create_app()``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect

__all__ = ["create_app"]


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
    # Every CRM_PAY_* environment variable, JSON-decoded when it parses (numbers, true/false).
    for key, value in os.environ.items():
        if key.startswith("CRM_PAY_") and key not in ("CRM_PAY_INSTANCE_PATH",):
            app.config[key] = _loads(value)
    app.config.setdefault("SECRET_KEY", os.environ.get("CRM_PAY_SECRET_KEY") or os.urandom(32))
    if config:
        app.config.update(config)
    CrmPay(app)
    prefix = app.config["CRM_PAY_URL_PREFIX"].rstrip("/")

    if prefix:

        @app.get("/")
        def index() -> Any:
            return redirect(f"{prefix}/api/v1/openapi.json")

    return app


def _loads(value: str) -> Any:
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value
