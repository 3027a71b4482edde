"""Transport headers on every answer of crm-pay's own blueprints, never the host's.

Each hook is a blueprint-level ``after_request`` (``app.after_request_funcs`` keyed by
the blueprint's name), so a host application's own routes answer exactly as before.
Page-specific headers (CSP, Referrer-Policy, Cache-Control of pages) stay with each
page's blueprint; what is the same everywhere lives here, once:

- ``Strict-Transport-Security`` when ``CRM_PAY_PUBLIC_URL`` is ``https://``: browsers
  then refuse plain HTTP to this host for a year (RFC 6797; OWASP HTTP Strict Transport
  Security Cheat Sheet). No ``includeSubDomains``/``preload``: those speak for the
  host's other names, which an embedded extension does not own.
- ``X-Content-Type-Options: nosniff`` where the blueprint did not set it already.
- The last line of the PAN guard for HTTP answers: a text body (HTML, JSON, plain text)
  holding something that looks like a card number is redacted before it leaves, e.g.
  what an agent typed into a search box, echoed back on the results page.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

from vault import pan

__all__ = [
    "HSTS_VALUE",
    "OWN_PACKAGES",
    "install_transport_headers",
    "no_store",
    "own_blueprints",
]

HSTS_VALUE = "max-age=31536000"
_TEXT_TYPES = frozenset({"text/html", "application/json", "text/plain"})
OWN_PACKAGES = frozenset({"crm_pay", "agent_ui", "connectors"})


def no_store(bp: Blueprint) -> None:
    """No cache may keep any answer of ``bp``: the JSON API answers with customers'
    names, contact details, balances, payments and receipts (RFC 9111 5.2.2.5), and a
    shared proxy or the browser's disk must not keep them."""

    @bp.after_request
    def _no_store(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"
        return resp


def own_blueprints(app: Flask) -> list[str]:
    """Names of the blueprints registered on ``app`` that crm-pay's packages define."""
    return [
        name
        for name, bp in app.blueprints.items()
        if bp.import_name.partition(".")[0] in OWN_PACKAGES
    ]


def install_transport_headers(app: Flask, *, https: bool) -> None:
    """Add the transport headers to every blueprint of crm-pay registered on ``app``.

    Call it after the blueprints are registered. ``https``: the public URL is HTTPS."""

    def transport_headers(resp: Response) -> Response:
        if https:
            resp.headers["Strict-Transport-Security"] = HSTS_VALUE
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        if resp.mimetype in _TEXT_TYPES and not resp.direct_passthrough and not resp.is_streamed:
            body = resp.get_data(as_text=True)
            if pan.contains_pan(body):
                resp.set_data(pan.redact(body))
        return resp

    for name in own_blueprints(app):
        hooks = app.after_request_funcs.setdefault(name, [])
        if not any(getattr(h, "__name__", "") == transport_headers.__name__ for h in hooks):
            hooks.append(transport_headers)
