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

The page headers themselves are built here too, by one function
(:func:`secure_page_headers`, with :func:`content_security_policy` for the CSP text), so
the console, the pay page and the receipts portal differ only in what they allow, never
in how the headers are spelled: each page passes its own directives and referrer policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Flask, Response

from vault import pan

__all__ = [
    "HSTS_VALUE",
    "OWN_PACKAGES",
    "content_security_policy",
    "install_transport_headers",
    "no_store",
    "own_blueprints",
    "secure_page_headers",
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


def content_security_policy(directives: Iterable[tuple[str, str | None]]) -> str:
    """The ``Content-Security-Policy`` value for ``(directive, sources)`` pairs, in order.

    A pair whose sources are ``None`` is left out (a directive the page does not need);
    an empty string gives a directive without sources, and surrounding blanks are
    trimmed so a page can pass optional sources without minding spaces.
    """
    parts = [f"{name} {sources}".strip() for name, sources in directives if sources is not None]
    return "; ".join(parts)


def secure_page_headers(
    resp: Response,
    *,
    csp: str | None,
    referrer: str,
    robots: str | None = None,
) -> Response:
    """The security headers of one of crm-pay's pages, set on ``resp`` and returned.

    ``csp``: the policy (see :func:`content_security_policy`); ``None`` leaves the
    answer's own ``Content-Security-Policy`` as it is (the console's non-HTML answers
    set a framing-only policy themselves). ``referrer``: ``Referrer-Policy``; pages whose
    URL holds a signed token use ``no-referrer`` so the token never leaks to another
    site. ``robots``: an ``X-Robots-Tag`` for pages search engines must not index.
    Every page is ``nosniff`` and ``no-store``: they all show a customer's or an agent's
    data, which no cache may keep.
    """
    if csp is not None:
        resp.headers["Content-Security-Policy"] = csp
    resp.headers["Referrer-Policy"] = referrer
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-store"
    if robots is not None:
        resp.headers["X-Robots-Tag"] = robots
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
