"""Wiring of the pay page's script inventory: which files it is pinned to, how a check
fetches them, and when the worker runs the check.

The pure part (the declared list, hashing, cases) is
:mod:`crm_pay.services.script_inventory`; this module puts it together for one app. The
PSP's scripts are whatever its adapter's ``CardEntry`` declares now (with their pins);
ours are hashed from ``agent_ui/static`` once at start-up. A check reads our own files
from disk and fetches the PSP's through ``Context.fetch_script``, which the wiring
builds with the outbound URL policy (this module imports no adapter).

The files served from our origin (ours, and the PSP's we bundle) are linked with
``?v=<content version>`` of the bytes their SRI pin is taken from, so the static route
may let browsers keep them for good (``agent_ui/static_files.py``): a changed file has a
new URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crm_pay.domain.errors import CrmPayError
from crm_pay.ports import CardEntry
from crm_pay.services.context import Context
from crm_pay.services.script_inventory import (
    OWN_SCRIPTS,
    PageScript,
    ScriptResult,
    check_scripts,
    declare_pay_page_scripts,
    sri,
    unpinned,
    versioned_url,
)

__all__ = [
    "PayPageScripts",
    "build_pay_page_scripts",
    "pay_page_scripts",
    "run_due_script_check",
]

log = logging.getLogger("crm_pay.script_inventory")


@dataclass
class PayPageScripts:
    """The inventory of one app and the means to check it (built once at start-up).

    ``card_entry`` is asked each time: the PSP adapter is built on first use and may be
    replaced (a changed setting, a test's fake), and its scripts go with it."""

    card_entry: Callable[[], CardEntry]
    own_bodies: dict[str, bytes]
    own_files: dict[str, Path]  # URL path (no query) -> the file served under it
    own_url: Callable[[str], str]  # one of our file names -> its URL (versioned)
    fetch_external: Callable[..., bytes] | None
    interval_seconds: float
    vendor_dir: Path = Path()
    vendor_url: Callable[[str], str] = str
    _bundled: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    _last_run: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def scripts(self) -> list[PageScript]:
        """The pay page's scripts in load order: the PSP's pinned ones, then ours."""
        return declare_pay_page_scripts(
            self.card_entry(),
            own_bodies=self.own_bodies,
            own_url=self.own_url,
            bundled=self.bundled,
        )

    def bundled(self, path: str) -> tuple[str, str]:
        """URL (versioned by content) and SRI hash of a PSP script we serve from our
        vendor folder (read and hashed once per process: the folder changes only with
        ``make install``)."""
        found = self._bundled.get(path)
        if found is None:
            file = self.vendor_dir / path
            try:
                body = file.read_bytes()
            except OSError:
                log.error("pay page: %s is missing; run 'make install'", file)
                return "", ""
            found = (versioned_url(self.vendor_url(path), body), sri(body))
            self._bundled[path] = found
            self.own_files[self.vendor_url(path)] = file
        return found

    def unpinned(self) -> list[str]:
        """The PSP's scripts that have no pin yet (the pay page refuses card entry)."""
        return unpinned(self.card_entry())

    def pin_advice(self) -> str:
        """What the operator sets to pin them, in the PSP adapter's words."""
        return self.card_entry().pin_advice

    def fetch(self, script: PageScript) -> bytes:
        """The body the world gets for ``script`` now (ours: the file as served)."""
        own = self.own_files.get(script.url.partition("?")[0])
        if own is not None:
            return own.read_bytes()
        if self.fetch_external is None:
            raise RuntimeError("no way to fetch external scripts was wired in")
        return self.fetch_external(script.url, development=script.development)

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


def _psp_card_entry(ctx: Context) -> Callable[[], CardEntry]:
    def current() -> CardEntry:
        try:
            return ctx.psp.card_entry()
        except CrmPayError as exc:  # the PSP cannot be set up: no PSP scripts to offer
            log.error("pay page: no PSP hosted fields (%s)", exc.message)
            return CardEntry()

    return current


def build_pay_page_scripts(
    ctx: Context,
    *,
    static_dir: Path,
    own_url_prefix: str,
    vendor_dir: Path | None = None,
    vendor_url_prefix: str = "",
) -> PayPageScripts:
    """The inventory for ``ctx``; ``static_dir`` holds our own scripts and
    ``own_url_prefix`` is the URL path they are served under (``/pay/static/.../``);
    ``vendor_dir`` and ``vendor_url_prefix`` the same for the PSP's bundled scripts."""

    bodies = {name: (static_dir / name).read_bytes() for name, _, _ in OWN_SCRIPTS}

    def own_url(name: str) -> str:
        return versioned_url(own_url_prefix + name, bodies[name])

    def vendor_url(path: str) -> str:
        return vendor_url_prefix + path

    return PayPageScripts(
        card_entry=_psp_card_entry(ctx),
        own_bodies=bodies,
        own_files={own_url_prefix + name: static_dir / name for name, _, _ in OWN_SCRIPTS},
        own_url=own_url,
        fetch_external=ctx.fetch_script,
        interval_seconds=float(ctx.config.script_check_interval or 0),
        vendor_dir=vendor_dir or static_dir.parent / "vendor",
        vendor_url=vendor_url,
    )


def pay_page_scripts(ctx: Context) -> PayPageScripts | None:
    """The app's inventory (``None`` when the pay page is not mounted)."""
    found: PayPageScripts | None = ctx.pay_page_scripts
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
