"""The pay page's script inventory and its integrity check (PCI DSS v4.0.1 6.4.3, 11.6.1).

Every script the customer's pay page loads is declared once, as data: the PSP's hosted
fields by its adapter (``CardEntry.scripts``, each with URL, version and SRI pin), ours
in :data:`OWN_SCRIPTS`. The page renders its ``<script>`` tags from the inventory (with
``integrity``), its CSP ``script-src`` lists the inventory's origins, and a scheduled
check fetches each script again and compares its hash with the pinned one. Another PSP's
client library is its adapter's ``CardEntry``; nothing here changes.

A script whose served body no longer matches its pinned hash opens one case
``pay_page_script_changed`` per script and observed hash (an admin alert); each check
is written to the audit log (action ``pay_page_scripts_checked``), which is where the
admin page reads the last check from.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from crm_pay.persistence.models import AuditEntry
from crm_pay.ports import CardEntry

from . import audit
from .cases import open_case
from .context import Context

__all__ = [
    "OWN_SCRIPTS",
    "CHECK_ACTION",
    "PageScript",
    "ScriptResult",
    "check_scripts",
    "content_version",
    "declare_pay_page_scripts",
    "last_check",
    "script_origins",
    "sri",
    "unpinned",
    "versioned_url",
]

log = logging.getLogger("crm_pay.script_inventory")

CHECK_ACTION = "pay_page_scripts_checked"
# The SRI algorithms a pin may use (what browsers check and _matches compares).
_PINS = ("sha384-", "sha512-")

# Our own static scripts (agent_ui/static/crm_pay/<name>), loaded last: (name, purpose,
# wallet: "" always loaded, "*" loaded when the page offers any wallet).
OWN_SCRIPTS: tuple[tuple[str, str, str], ...] = (
    ("pay.js", "Pay page glue: starts the hosted fields, posts the nonce, reports field ticks", ""),
    (
        "pay_wallets.js",
        "Pay page wallets: runs the PSP's wallet components, posts the wallet's nonce",
        "*",
    ),
)


@dataclass(frozen=True)
class PageScript:
    """One script of the pay page, as the admin sees it and the browser loads it."""

    name: str
    url: str  # absolute for external scripts; a path on our origin for ours
    version: str
    integrity: str  # "sha384-<base64>"
    purpose: str
    owner: str  # who publishes it: the PSP ("Braintree"), a sandbox, or "crm-pay"
    # a PSP sandbox's stand-in served from this machine (fetched over loopback)
    development: bool = False
    # loaded only when the page offers this wallet ("*": any wallet; "": always)
    wallet: str = ""

    def loads_with(self, wallets: Sequence[str]) -> bool:
        """Whether a page offering ``wallets`` loads this script."""
        if not self.wallet:
            return True
        return bool(wallets) if self.wallet == "*" else self.wallet in wallets

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, or ``'self'`` for a script on our own origin."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


@dataclass(frozen=True)
class ScriptResult:
    """One script's outcome in a check: ``ok``, ``changed`` or ``unreachable``."""

    name: str
    url: str
    status: str
    observed: str | None = None
    error: str | None = None


def sri(body: bytes) -> str:
    """The Subresource Integrity value of ``body`` (SHA-384, as browsers check it)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode("ascii")


def content_version(body: bytes) -> str:
    """A short name of ``body``'s content for a URL's ``?v=``: a changed file gets a new
    URL, so the browser may keep a file under its URL for good (64 bits of SHA-256)."""
    return hashlib.sha256(body).hexdigest()[:16]


def versioned_url(url: str, body: bytes) -> str:
    """``url`` (a path of ours) versioned by the content it serves: ``?v=<version>``."""
    return f"{url}?v={content_version(body)}"


def declare_pay_page_scripts(
    card_entry: CardEntry,
    *,
    own_bodies: Mapping[str, bytes],
    own_url: Callable[[str], str],
    bundled: Callable[[str], tuple[str, str]] | None = None,
) -> list[PageScript]:
    """The pay page's scripts, in load order: the PSP's (its adapter's
    :class:`~crm_pay.ports.CardEntry`, each with the pin the adapter gives it), then ours,
    pinned to the hash of the file this release ships (``own_bodies``, read at start-up).
    A PSP script without a ``sha384-``/``sha512-`` pin is left out (:func:`unpinned`
    names it, and the pay page refuses card entry). ``own_url`` maps one of our file
    names to its URL path; ``bundled`` maps a PSP script we serve ourselves
    (``CardScript.bundled``) to its URL path and the hash of the file."""
    scripts = []
    for s in card_entry.scripts:
        url, integrity = s.url, s.integrity
        if s.bundled and bundled is not None:
            url, integrity = bundled(s.bundled)
        if integrity.startswith(_PINS):
            scripts.append(
                PageScript(
                    s.name,
                    url,
                    s.version,
                    integrity,
                    s.purpose,
                    s.owner,
                    development=s.development,
                    wallet=s.wallet,
                )
            )
    for name, purpose, wallet in OWN_SCRIPTS:
        body = own_bodies.get(name)
        if body is not None:
            scripts.append(
                PageScript(
                    name,
                    own_url(name),
                    "this release",
                    sri(body),
                    purpose,
                    "crm-pay",
                    wallet=wallet,
                )
            )
    return scripts


def unpinned(card_entry: CardEntry) -> list[str]:
    """The PSP's card-entry scripts that have no usable pin (the pay page refuses card
    entry). A wallet's script without a pin only leaves that wallet off the page."""
    return [
        s.name
        for s in card_entry.scripts
        if not (s.wallet or s.bundled or s.integrity.startswith(_PINS))
    ]


def script_origins(scripts: Sequence[PageScript]) -> list[str]:
    """The distinct origins of ``scripts`` in order (``'self'`` first when present)."""
    found = sorted({s.origin for s in scripts}, key=lambda o: (o != "'self'", o))
    return found


def _matches(pinned: str, body: bytes) -> tuple[bool, str]:
    observed = sri(body)
    algorithm, _, _ = pinned.partition("-")
    if algorithm == "sha512":
        digest = base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")
        return pinned == f"sha512-{digest}", observed
    return pinned == observed, observed


def check_scripts(
    ctx: Context,
    scripts: Sequence[PageScript],
    fetch: Callable[[PageScript], bytes],
    *,
    actor: str = "system:script-check",
) -> list[ScriptResult]:
    """Fetch every script (no transaction open), compare with its pin, then open one case
    per changed script and observed hash and record the check in the audit log.

    ``fetch`` returns the body the world gets for a script or raises; an unreachable
    script is reported as such (not as changed: a network fault is not an attack)."""
    results: list[ScriptResult] = []
    for script in scripts:
        try:
            body = fetch(script)
        except Exception as exc:  # noqa: BLE001 - any failure is "unreachable", said plainly
            results.append(ScriptResult(script.name, script.url, "unreachable", error=str(exc)))
            continue
        same, observed = _matches(script.integrity, body)
        status = "ok" if same else "changed"
        results.append(ScriptResult(script.name, script.url, status, observed=observed))
    with ctx.db.transaction() as s:
        for script, result in zip(scripts, results, strict=True):
            if result.status != "changed":
                continue
            digest = hashlib.sha256(f"{script.url} {result.observed}".encode()).hexdigest()
            open_case(
                s,
                ctx,
                kind="pay_page_script_changed",
                subject=f"{script.name[:40]} {digest[:32]}",
                detail={
                    "script": script.name,
                    "url": script.url,
                    "pinned": script.integrity,
                    "observed": result.observed,
                },
            )
            log.warning(
                "pay page script %s changed: pinned %s, served %s",
                script.url,
                script.integrity,
                result.observed,
            )
        audit.record(
            s,
            ctx,
            actor=actor,
            action=CHECK_ACTION,
            subject="pay_page",
            data=_flat(results),
        )
    return results


def last_check(ctx: Context) -> dict[str, Any] | None:
    """The newest recorded check: ``{"at": ..., "results": {name: {...}}}`` or ``None``."""
    with ctx.db.transaction() as s:
        row = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == CHECK_ACTION)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        data = dict(row.data)
    names = [n for n in str(data.get("scripts", "")).split(",") if n]
    results = {
        n: {
            "name": n,
            **{f: data.get(f"{n}.{f}") for f in ("url", "status", "observed", "error")},
        }
        for n in names
    }
    return {"at": row.at, "actor": row.actor, "results": results}


def _flat(results: Sequence[ScriptResult]) -> dict[str, Any]:
    """The audit log holds flat scalar values: ``{name}.{field}`` per script."""
    data: dict[str, Any] = {"scripts": ",".join(r.name for r in results)}
    for r in results:
        data[f"{r.name}.url"] = r.url
        data[f"{r.name}.status"] = r.status
        data[f"{r.name}.observed"] = r.observed
        if r.error:
            data[f"{r.name}.error"] = r.error[:200]
    return data
