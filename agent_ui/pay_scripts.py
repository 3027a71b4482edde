"""The pay page's scripts on the web: ``<script>`` tags and CSP from the inventory, and
the endpoint browsers send CSP violation reports to (``POST {prefix}/csp-report``).

The inventory itself is :mod:`crm_pay.services.script_inventory` (declared list) and
:mod:`crm_pay.page_scripts` (built once per app when the pay page is mounted).

The report endpoint is reached by browsers on their own, without cookies: no CSRF
token (the pay page blueprint is exempt), no session. It answers 204 to a report it
took, 400 to anything that is not one, 413 beyond 16 KiB and 429 when one address sends
more than ``CRM_PAY_CSP_REPORTS_PER_MINUTE`` a minute (an in-process window; a shared
limiter can replace it). It never answers 5xx to what a client sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from flask import Flask, Response, current_app, jsonify, request, url_for

from crm_pay.current import get_context
from crm_pay.domain.errors import CrmPayError, ValidationError
from crm_pay.page_scripts import PayPageScripts, build_pay_page_scripts
from crm_pay.rate_limits import RateLimits
from crm_pay.services import csp_reports
from crm_pay.services.script_inventory import PageScript, script_origins

__all__ = [
    "REPORT_GROUP",
    "csp_report",
    "inventory",
    "install_inventory",
    "page_scripts",
    "pin_advice",
    "report_headers",
]

log = logging.getLogger("crm_pay.paypage")

MAX_REPORT_BYTES = 16 * 1024
REPORT_GROUP = "crm-pay-csp"
_OWN_SUBDIR = "crm_pay"


def install_inventory(app: Flask, *, url_prefix: str, static_folder: str, static_url: str) -> None:
    """Build the app's inventory (at start-up, when the pay page is mounted): our own
    scripts are hashed from the files served now."""
    prefix = url_prefix.rstrip("/")
    built = build_pay_page_scripts(
        get_context(app),
        static_dir=Path(static_folder) / _OWN_SUBDIR,
        own_url_prefix=f"{prefix}{static_url}/{_OWN_SUBDIR}/",
        vendor_dir=Path(static_folder) / "vendor",
        vendor_url_prefix=f"{prefix}{static_url}/vendor/",
    )
    get_context(app).pay_page_scripts = built


def inventory() -> PayPageScripts:
    found: PayPageScripts = get_context().pay_page_scripts
    return found


def page_scripts() -> list[PageScript] | None:
    """The scripts to render, or ``None`` when one of the PSP's is not pinned (card
    entry never runs code we have not pinned; :func:`pin_advice` says what to set)."""
    found = inventory()
    if found.unpinned():
        return None
    return found.scripts


def pin_advice() -> str:
    """How the operator pins the PSP's scripts (its adapter's words)."""
    return inventory().pin_advice()


def script_src(loaded: Sequence[str] = ()) -> str:
    """The CSP ``script-src`` sources: exactly the inventory's origins, those of the
    scripts the PSP's library loads by itself (``CardEntry.script_origins``) and
    ``loaded``: those the offered wallets load at run time (``WalletEntry``)."""
    found = script_origins(inventory().scripts)
    extra = [*inventory().card_entry().script_origins, *loaded]
    return " ".join(dict.fromkeys(found + extra))


def report_headers(resp: Response) -> str:
    """Add the Reporting API headers to ``resp``; returns the CSP reporting directives.

    ``report-uri`` always; ``report-to`` only when crm-pay is served over https: a
    browser that knows ``report-to`` ignores ``report-uri``, and Chromium delivers no
    Reporting API report from a plain-http page (the demo), which would silence it."""
    path = url_for("crm_pay_paypage.csp_report")
    if not get_context().settings.public_url.startswith("https://"):
        return f"report-uri {path}"
    url = url_for("crm_pay_paypage.csp_report", _external=True)
    resp.headers["Reporting-Endpoints"] = f'{REPORT_GROUP}="{url}"'
    resp.headers["Report-To"] = (
        f'{{"group":"{REPORT_GROUP}","max_age":86400,"endpoints":[{{"url":"{url}"}}]}}'
    )
    return f"report-uri {path}; report-to {REPORT_GROUP}"


def _answer(exc: CrmPayError) -> Response:
    resp = jsonify({"error": {"code": exc.code, "message": exc.message}})
    resp.status_code = exc.status
    if exc.status == 429:
        resp.headers["Retry-After"] = "60"
    return resp


_TYPES = ("application/csp-report", "application/reports+json", "application/json")


def csp_report() -> Response:
    """A browser's CSP violation report: stored (redacted, deduplicated) and, from the
    pay page, an admin alert. 204 when taken."""
    if (request.content_length or 0) > MAX_REPORT_BYTES:
        return _answer(ValidationError("this report is larger than 16 KiB", status=413))
    ip = request.remote_addr or "unknown"
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    per_minute = get_context().config.csp_reports_per_minute
    if limits.hit(f"{per_minute}/minute", "csp_reports", ip) is not None:
        return _answer(
            CrmPayError("too many reports from this address", code="rate_limited", status=429)
        )
    kind = (request.mimetype or "").lower()
    if kind not in _TYPES:
        return _answer(
            ValidationError(
                f"a CSP report is sent as {' or '.join(_TYPES[:2])}; nothing was stored",
                code="unsupported_media_type",
                status=415,
            )
        )
    body = request.stream.read(MAX_REPORT_BYTES + 1)  # also bounds a body sent chunked
    if len(body) > MAX_REPORT_BYTES:
        return _answer(ValidationError("this report is larger than 16 KiB", status=413))
    prefix = get_context().settings.url_prefix.rstrip("/")
    try:
        violations = csp_reports.parse_reports(body, kind, pay_path=f"{prefix}/p/")
    except ValidationError as exc:
        return _answer(exc)
    new = csp_reports.record_violations(get_context(), violations)
    if new:
        log.warning("CSP violation reported on the pay page (%d new)", new)
    return Response(status=204)
