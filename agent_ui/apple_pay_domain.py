"""Apple Pay's domain association file, at the host app's root.

Apple checks that a domain may show Apple Pay by fetching
``/.well-known/apple-developer-merchantid-domain-association`` from it (Braintree's
"Apple Pay > Configuration": download the file from the Control Panel, host it there,
then register the domain). crm-pay serves it only when ``CRM_PAY_APPLE_PAY_DOMAIN_
ASSOCIATION`` names the file: the blueprint is registered at the root then, and not at
all otherwise, so a host app that serves its own ``/.well-known/`` is left alone. The
file is read once at start-up; a path that cannot be read stops it with what to fix.

Layer: entrypoint (web).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response

from crm_pay.current import get_context
from crm_pay.domain.errors import ConfigurationError

__all__ = ["PATH", "init_apple_pay_domain"]

PATH = "/.well-known/apple-developer-merchantid-domain-association"


def init_apple_pay_domain(app: Flask) -> None:
    """Serve the configured association file at :data:`PATH` (nothing when unset)."""
    configured = get_context(app).config.apple_pay_domain_association
    if not configured:
        return
    try:
        body = Path(configured).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"CRM_PAY_APPLE_PAY_DOMAIN_ASSOCIATION={configured!r} cannot be read "
            f"({exc.strerror or exc}): give the path of the file downloaded from Braintree's "
            "Control Panel (Settings → Processing → Apple Pay), or leave it empty"
        ) from None
    if not body.strip():
        raise ConfigurationError(
            f"CRM_PAY_APPLE_PAY_DOMAIN_ASSOCIATION={configured!r} is empty: download the file "
            "again from Braintree's Control Panel (Settings → Processing → Apple Pay)"
        )
    bp = Blueprint("crm_pay_apple_pay_domain", __name__)

    @bp.get(PATH)
    def association() -> Response:
        response = Response(body, content_type="text/plain")
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.register_blueprint(bp)
