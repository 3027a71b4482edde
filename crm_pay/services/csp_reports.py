"""Content-Security-Policy violation reports from the customer's pay page.

Browsers post them on their own, without cookies, in two shapes: the older
``application/csp-report`` (``{"csp-report": {...}}``, from ``report-uri``) and the
Reporting API's ``application/reports+json`` (a list of ``{"type": "csp-violation",
"body": {...}}``, from ``report-to``). Anyone can post anything to the endpoint, so a
report is data to distrust: it is parsed strictly, bounded, scanned for card numbers
(redacted before anything is stored), stripped of the pay link token in the page URL
and of query strings, and deduplicated: one case ``csp_violation`` (an admin alert)
per page, directive and blocked resource, counting repeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from crm_pay.domain.errors import ValidationError
from crm_pay.persistence.models import Case
from vault.pan import redact, redact_obj

from .cases import open_case
from .context import Context

__all__ = ["Violation", "parse_reports", "record_violations", "recent_violations"]

log = logging.getLogger("crm_pay.csp_reports")

# Enough for every real violation of one page; beyond it a flood, counted in the log only.
MAX_OPEN_VIOLATIONS = 500
_MAX_REPORTS_PER_BODY = 20
_TEXT = 300


@dataclass(frozen=True)
class Violation:
    """One violation, already cleaned: safe to store and to show to an admin."""

    page: str  # "pay_page" or "other"
    document: str  # path only; the pay link token replaced by "<token>"
    directive: str
    blocked: str  # origin + path, or a keyword such as "inline" / "eval"
    source: str
    sample: str
    disposition: str
    card_number_redacted: bool


def _bad(message: str) -> ValidationError:
    return ValidationError(
        f"{message}; nothing was stored. Send a CSP report as a browser does "
        "(application/csp-report or application/reports+json).",
        code="invalid_csp_report",
        status=400,
    )


def _text(value: object) -> str:
    return value[:_TEXT] if isinstance(value, str) else ""


def _url_part(value: str, pay_path: str) -> tuple[str, str]:
    """(page kind, cleaned URL): query and fragment dropped, link token hidden."""
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        return "other", value.split("?", 1)[0].split("#", 1)[0][:_TEXT]
    path = parts.path
    page = "other"
    if path.startswith(pay_path):
        _, sep, tail = path[len(pay_path) :].partition("/")
        page, path = "pay_page", f"{pay_path}<token>{sep}{tail}"
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    return page, f"{origin}{path}"[:_TEXT]


def _one(fields: dict[str, Any], names: dict[str, str], pay_path: str, pans: int) -> Violation:
    get = {key: _text(fields.get(name)) for key, name in names.items()}
    page, document = _url_part(get["document"], pay_path)
    _, source = _url_part(get["source"], pay_path) if get["source"] else ("", "")
    _, blocked = _url_part(get["blocked"], pay_path) if get["blocked"] else ("", "")
    if not get["directive"]:
        raise _bad("the report names no violated directive")
    return Violation(
        page=page,
        document=document,
        directive=get["directive"].split(" ", 1)[0],
        blocked=blocked or "(none)",
        source=source,
        sample=redact(get["sample"])[:80],
        disposition=get["disposition"] or "enforce",
        card_number_redacted=pans > 0,
    )


_LEGACY = {
    "document": "document-uri",
    "directive": "effective-directive",
    "blocked": "blocked-uri",
    "source": "source-file",
    "sample": "script-sample",
    "disposition": "disposition",
}
_REPORTING = {
    "document": "documentURL",
    "directive": "effectiveDirective",
    "blocked": "blockedURL",
    "source": "sourceFile",
    "sample": "sample",
    "disposition": "disposition",
}


def parse_reports(body: bytes, content_type: str, *, pay_path: str) -> list[Violation]:
    """The violations in a report body, or a 400 :class:`ValidationError` saying why not.

    ``pay_path`` is the pay page's path prefix (``/pay/p/``): reports from those pages
    are the ones that matter; the link token after it is never kept."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("the report is not JSON") from None
    data, pans = redact_obj(data)  # card numbers never go further than this line
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/csp-report" or (isinstance(data, dict) and "csp-report" in data):
        fields = data.get("csp-report") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            raise _bad('the report has no "csp-report" object')
        if not fields.get("effective-directive"):
            fields = {**fields, "effective-directive": fields.get("violated-directive")}
        return [_one(fields, _LEGACY, pay_path, pans)]
    if not isinstance(data, list) or not data:
        raise _bad("the report is not a list of reports")
    found = []
    for item in data[:_MAX_REPORTS_PER_BODY]:
        if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
            raise _bad("a report has no body object")
        if item.get("type") != "csp-violation":
            continue  # other report types (deprecation, intervention) are not ours
        fields = dict(item["body"])
        fields.setdefault("documentURL", item.get("url"))
        found.append(_one(fields, _REPORTING, pay_path, pans))
    return found


def _subject(v: Violation) -> str:
    key = f"{v.page} {v.document} {v.directive} {v.blocked}"
    return f"{v.directive[:40]} {hashlib.sha256(key.encode()).hexdigest()[:32]}"


def record_violations(ctx: Context, violations: list[Violation]) -> int:
    """Store the pay page's violations (one case each, repeats counted); returns how
    many were new. Violations of other pages are only logged."""
    new = 0
    now = ctx.now().isoformat()
    with ctx.db.transaction() as s:
        for v in violations:
            if v.page != "pay_page":
                log.info("CSP violation outside the pay page: %s %s", v.directive, v.blocked)
                continue
            subject = _subject(v)
            existing = s.scalars(
                select(Case).where(Case.kind == "csp_violation", Case.subject == subject)
            ).first()
            if existing is not None:
                detail = dict(existing.detail)
                detail["count"] = int(detail.get("count", 1)) + 1
                detail["last_seen"] = now
                existing.detail = detail
                continue
            open_count = s.scalar(
                select(func.count()).select_from(Case).where(Case.kind == "csp_violation")
            )
            if (open_count or 0) >= MAX_OPEN_VIOLATIONS:
                log.warning("CSP violation not stored (too many stored): %s", v.directive)
                continue
            detail = {
                "document": v.document,
                "directive": v.directive,
                "blocked": v.blocked,
                "source": v.source,
                "sample": v.sample,
                "disposition": v.disposition,
                "card_number_redacted": v.card_number_redacted,
                "count": 1,
                "first_seen": now,
                "last_seen": now,
            }
            open_case(s, ctx, kind="csp_violation", subject=subject, detail=detail)
            new += 1
    return new


def recent_violations(ctx: Context, *, limit: int = 50) -> list[dict[str, Any]]:
    """Stored pay page violations, newest first, open or resolved."""
    with ctx.db.transaction() as s:
        rows = s.scalars(
            select(Case).where(Case.kind == "csp_violation").order_by(Case.id.desc()).limit(limit)
        ).all()
        return [{"id": c.id, "status": c.status, **dict(c.detail)} for c in rows]
