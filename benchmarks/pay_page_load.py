"""Pay page load: bytes and requests until the first card field takes input, on the sandbox.

What a customer's phone fetches between opening the pay link and being able to type the
card number: crm-pay serves the app (a real HTTP server in this process, SQLite, the
builtin CRM), the Braintree development sandbox serves the hosted-field frames and their
script. Debian's chromium (``/usr/bin/chromium``, driven by Playwright; never a
downloaded browser) opens a fresh pay link in a 390x844 phone context and waits until
the card-number field inside its frame is visible and enabled.

Printed per run kind, p50 and p95 over the runs:
- **cold**: a new browser context each time (empty cache), what a customer opening the
  link from a message gets;
- **warm**: the same context opening a second link (cache kept).
Each: requests (every frame, every origin, including the frames' own documents), of
them *fetched* (not answered by the browser's cache), bytes (response headers + bodies
as received over the connection, so compressed when sent so) and milliseconds from
navigation start to the first interactive field.

Measured for both pay-page clients: ``bundled`` (braintree-web 3.144.0 as crm-pay
serves it in production: versioned by content, cached for good, gzip-compressed) and
``stand-in`` (the demo's sandbox client). With ``bundled`` braintree-web's requests to
Braintree's and PayPal's hosts (client configuration, hosted-field frames, data
collector, analytics) are answered by the sandbox, as ``braintree_sandbox/browser_routes.py``
answers them for the browser tests, but through a TLS server on loopback that chromium's
host resolver sends those hosts to (``braintree_sandbox/https_front.py``): Playwright's routing
turns the HTTP cache off, and a warm load would then fetch everything again. Skipped,
with the reason, when chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, format_table, machine_info, percentile, write_results
from connectors.psp.braintree_sandbox.https_front import BraintreeHostsFront

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "pay_page_load"
DESCRIPTION = "pay page on a phone: requests, bytes and ms until the card field takes input"

CHROMIUM = "/usr/bin/chromium"
RUNS, QUICK_RUNS = 15, 3
PHONE = {"width": 390, "height": 844}
FIELD_FRAME = 'iframe[name="braintree-hosted-field-number"]'
SOURCES = ("bundled", "stand-in")


@contextmanager
def _served_app(source: str) -> Iterator[tuple[str, dict[str, str], Any, Any]]:
    """crm-pay on a real HTTP server (threaded werkzeug) wired to a fresh sandbox; yields
    (base URL, API auth header, app, sandbox)."""
    from werkzeug.serving import make_server

    from crm_pay.current import get_context
    from crm_pay.services.access import create_api_key
    from crm_pay.testing.sandbox_app import close_app, sandbox_app_config, start_app, start_sandbox

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-pay-pageload-")))
        sandbox = start_sandbox()
        stack.callback(sandbox.stop)
        server = make_server("127.0.0.1", 0, None, threaded=True)  # app set below
        base = f"http://127.0.0.1:{server.server_port}"
        config = sandbox_app_config(
            f"sqlite:///{tmp / 'bench.sqlite3'}",
            sandbox,
            tmp,
            SECRET_KEY="bench-secret-key",
            CRM_PAY_PUBLIC_URL=base,
            CRM_PAY_PAY_SUBMIT_IP_LIMIT="100000/minute",
            CRM_PAY_API_RATE_LIMIT="100000/minute",
            CRM_PAY_BRAINTREE_JS_SOURCE=source,
        )
        app = start_app(config, tmp / "instance")
        stack.callback(close_app, app)
        server.app = app
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        stack.callback(thread.join, 5)
        stack.callback(server.shutdown)
        key = create_api_key(get_context(app), name="pageload", role="agent")
        yield base, {"Authorization": f"Bearer {key}"}, app, sandbox


def _new_link(app: Any, auth: dict[str, str]) -> str:
    answer = app.test_client().post(
        "/pay/api/v1/payments",
        json={"customer": "CUST-0001", "amount": "10.00", "currency": "USD"},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    if answer.status_code != 201:
        raise RuntimeError(f"could not create a pay link: {answer.status_code} {answer.text}")
    return str(answer.get_json()["pay_url"])


def _load(page: Any, url: str) -> dict[str, float]:
    """Open ``url`` in ``page``: requests made, those that went to a server (not answered
    by the browser's cache), bytes received and ms until the card-number field is usable."""
    seen: list[Any] = []

    def finished(request: Any) -> None:
        seen.append(request)

    page.on("requestfinished", finished)
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    field = page.frame_locator(FIELD_FRAME).locator("input").first
    field.wait_for(state="visible")
    while not field.is_enabled():  # the frame's own script enables it when it is ready
        time.sleep(0.005)
    elapsed_ms = (time.perf_counter() - started) * 1000
    page.remove_listener("requestfinished", finished)
    size = fetched = 0
    for request in seen:
        sizes = request.sizes()
        # what came over the connection; chromium reports 0 for an answer from its cache
        received = max(0, sizes["responseHeadersSize"] + sizes["responseBodySize"])
        size += received
        fetched += received > 0
    return {
        "requests": float(len(seen)),
        "fetched": float(fetched),
        "bytes": float(size),
        "ms": elapsed_ms,
    }


def _summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for metric in ("requests", "fetched", "bytes", "ms"):
        values = sorted(s[metric] for s in samples)
        out[metric] = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
    return out


def run(options: RunOptions) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        print(f"  skipped: {CHROMIUM} not found (apt-get install chromium)")
        return {"skipped": "chromium missing"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("  skipped: playwright (Python) is not installed")
        return {"skipped": "playwright missing"}
    runs = options.iterations or (QUICK_RUNS if options.quick else RUNS)
    figures: dict[str, Any] = {"runs": runs}
    rows = []
    for source in SOURCES:
        cold: list[dict[str, float]] = []
        warm: list[dict[str, float]] = []
        with ExitStack() as stack:
            _base, auth, app, sandbox = stack.enter_context(_served_app(source))
            args = ["--no-sandbox"]
            if source == "bundled":
                # Braintree's hosts to the sandbox, through a TLS front on loopback
                front = stack.enter_context(BraintreeHostsFront(sandbox.assets_url))
                args.append(f"--host-resolver-rules={front.resolver_rules()}")
            p = stack.enter_context(sync_playwright())
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            try:
                for _ in range(runs):
                    context = browser.new_context(
                        viewport=PHONE,
                        is_mobile=True,
                        has_touch=True,
                        # the front's certificate is its own (Braintree's hosts, locally)
                        ignore_https_errors=source == "bundled",
                    )
                    page = context.new_page()
                    cold.append(_load(page, _new_link(app, auth)))
                    warm.append(_load(page, _new_link(app, auth)))
                    context.close()
            finally:
                browser.close()
        figures[source] = {"cold": _summary(cold), "warm": _summary(warm)}
        rows += [
            [
                source,
                kind,
                f"{figures[source][kind]['requests']['p50']:.0f}",
                f"{figures[source][kind]['fetched']['p50']:.0f}",
                f"{figures[source][kind]['bytes']['p50'] / 1024:.1f}",
                f"{figures[source][kind]['bytes']['p95'] / 1024:.1f}",
                f"{figures[source][kind]['ms']['p50']:.0f}",
                f"{figures[source][kind]['ms']['p95']:.0f}",
            ]
            for kind in ("cold", "warm")
        ]
    print(
        format_table(
            ["client", "cache", "requests", "fetched", "KiB p50", "KiB p95", "ms p50", "ms p95"],
            rows,
        )
    )
    print(
        f"  {runs} runs each; the card-number field counted usable when visible and enabled;"
        " fetched: requests not answered by the browser's cache; KiB: received over the"
        " connection (headers + bodies as sent, compressed or not)"
    )
    payload = {"machine": machine_info(), "figures": figures}
    if options.results_dir is not None:
        write_results(options.results_dir, NAME, payload)
    return payload
