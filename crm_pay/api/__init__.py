"""The JSON API (``{prefix}/api/v1``) and the PSP webhook endpoint."""

from __future__ import annotations

from .routes import create_api_blueprint, create_webhook_blueprint

__all__ = ["create_api_blueprint", "create_webhook_blueprint"]
