"""Reproducible performance runs for crm-pay.

Run them with ``make bench`` (or ``.venv/bin/python -m benchmarks``). Each bench prints
its figures and writes them as JSON under ``benchmarks/results/`` (git-ignored); nothing
is asserted. ``benchmarks/README.md`` says what each bench measures and how to read it.

A bench is a module in this package with a ``NAME``, a one-line ``DESCRIPTION`` and a
``run(options: RunOptions) -> dict`` function; :data:`BENCHES` lists them in run order.
"""

from __future__ import annotations

__all__ = ["BENCHES"]

#: Bench name -> module (imported only when the bench runs), in run order.
BENCHES: dict[str, str] = {
    "link_payment": "benchmarks.link_payment",
    "live_status": "benchmarks.live_status",
    "crm_sync": "benchmarks.crm_sync",
    "serve_load": "benchmarks.serve_load",
    "receipt_rendering": "benchmarks.receipt_rendering",
    "reconciliation": "benchmarks.reconciliation",
    "dashboard": "benchmarks.dashboard",
    "pay_page_load": "benchmarks.pay_page_load",
    "keypad_callbacks": "benchmarks.keypad_callbacks",
}
