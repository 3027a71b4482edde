"""Wiring of the pay page's script inventory: which files it is pinned to, how a check
fetches them, and when the worker runs the check.

The pure part (the declared list, hashing, cases) is
:mod:`crm_pay.services.script_inventory`; this module chooses the concrete ways in:
the development sandbox's stand-in script is hashed from the package that serves it,
our own scripts from ``agent_ui/static``, and external scripts are fetched through the
outbound URL policy (:mod:`connectors.outbound`), which in the ``local`` environment
also allows the sandbox's assets server on loopback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import connectors.psp.braintree_sandbox as braintree_sandbox
from connectors.outbound import OutboundPolicy, guarded_session, parse_allow_hosts
from crm_pay.services.context import Context
from crm_pay.services.script_inventory import (
    OWN_SCRIPTS,
    SANDBOX_SCRIPTS,
    PageScript,
    ScriptResult,
    check_scripts,
    declare_pay_page_scripts,
)

__all__ = [
    "EXTRAS_KEY",
    "PayPageScripts",
    "build_pay_page_scripts",
    "pay_page_scripts",
    "run_due_script_check",
]

log = logging.getLogger("crm_pay.script_inventory")

EXTRAS_KEY = "pay_page_scripts"
# A script is a few hundred KiB at most; more is not the script we pinned.
_MAX_SCRIPT_BYTES = 5 * 1024 * 1024


@dataclass
class PayPageScripts:
    """The inventory of one app and the means to check it (built once at start-up)."""

    scripts: list[PageScript]
    fetch: Callable[[PageScript], bytes]
    interval_seconds: float
    _last_run: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, ctx: Context, *, actor: str = "system:script-check") -> list[ScriptResult]:
        self._last_run = time.monotonic()
        return check_scripts(ctx, self.scripts, self.fetch, actor=actor)

    def check_if_due(self, ctx: Context) -> list[ScriptResult] | None:
        """:meth:`check` when the interval has passed (or never ran in this process);
        ``None`` when not due or when another thread is checking right now."""
        now = time.monotonic()
        if self.interval_seconds <= 0:
            return None
        if self._last_run is not None and now - self._last_run < self.interval_seconds:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self.check(ctx)
        finally:
            self._lock.release()


def _sandbox_bodies() -> dict[str, bytes]:
    static = resources.files(braintree_sandbox) / "static"
    return {name: (static / f"{name}.js").read_bytes() for name, _ in SANDBOX_SCRIPTS}


def _fetcher(
    config: Mapping[str, Any], static_dir: Path, url_prefix: str
) -> Callable[[PageScript], bytes]:
    local = config["CRM_PAY_BRAINTREE_ENVIRONMENT"] == "local"
    allow = set(parse_allow_hosts(config.get("CRM_PAY_OUTBOUND_ALLOW_HOSTS")))
    if local:
        allow.add(urlsplit(str(config["CRM_PAY_BRAINTREE_ASSETS_URL"])).hostname or "")
    policy = OutboundPolicy(
        allow_hosts=frozenset(allow),
        # The sandbox runs on 127.0.0.1 in development, the demo and the tests.
        allow_loopback=local or bool(config.get("CRM_PAY_DEMO")) or bool(config.get("TESTING")),
    )
    own = {url_prefix + name: static_dir / name for name, _ in OWN_SCRIPTS}
    timeout = float(config.get("CRM_PAY_BRAINTREE_TIMEOUT") or 20.0)

    def fetch(script: PageScript) -> bytes:
        if script.url in own:  # ours: the file the web process serves, as it is now
            return own[script.url].read_bytes()
        policy.check_url(script.url, setting=f"script {script.name}")
        with guarded_session(policy) as session:
            resp = session.get(script.url, timeout=timeout, stream=True)
            if resp.status_code != 200:
                raise RuntimeError(f"{script.url} answered HTTP {resp.status_code}")
            body = resp.raw.read(_MAX_SCRIPT_BYTES + 1, decode_content=True)
        if len(body) > _MAX_SCRIPT_BYTES:
            raise RuntimeError(f"{script.url} is larger than {_MAX_SCRIPT_BYTES} bytes")
        return bytes(body)

    return fetch


def build_pay_page_scripts(
    config: Mapping[str, Any], *, static_dir: Path, own_url_prefix: str
) -> PayPageScripts:
    """The inventory for ``config``; ``static_dir`` holds our own scripts and
    ``own_url_prefix`` is the URL path they are served under (``/pay/static/.../``)."""
    own = {name: (static_dir / name).read_bytes() for name, _ in OWN_SCRIPTS}
    scripts = declare_pay_page_scripts(
        environment=str(config["CRM_PAY_BRAINTREE_ENVIRONMENT"]),
        assets_url=str(config["CRM_PAY_BRAINTREE_ASSETS_URL"]),
        js_version=str(config["CRM_PAY_BRAINTREE_JS_VERSION"]),
        js_integrity=config.get("CRM_PAY_BRAINTREE_JS_INTEGRITY"),
        sandbox_bodies=_sandbox_bodies(),
        own_bodies=own,
        own_url=lambda name: own_url_prefix + name,
    )
    return PayPageScripts(
        scripts=scripts,
        fetch=_fetcher(config, static_dir, own_url_prefix),
        interval_seconds=float(config.get("CRM_PAY_SCRIPT_CHECK_INTERVAL") or 0),
    )


def pay_page_scripts(ctx: Context) -> PayPageScripts | None:
    """The app's inventory (``None`` when the pay page is not mounted)."""
    found: PayPageScripts | None = ctx.extras.get(EXTRAS_KEY)
    return found


def run_due_script_check(ctx: Context) -> list[ScriptResult] | None:
    """The worker's step: check the scripts when ``CRM_PAY_SCRIPT_CHECK_INTERVAL`` has
    passed since this process last did (and on its first pass)."""
    inventory = pay_page_scripts(ctx)
    results = inventory.check_if_due(ctx) if inventory is not None else None
    if results is None:
        return None
    changed = [r.name for r in results if r.status != "ok"]
    if changed:
        log.warning("pay page script check: not ok: %s", ", ".join(changed))
    return results
