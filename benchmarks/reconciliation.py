"""Reconciliation: the pure matcher at a million rows, and a day end to end through the SDK.

1. ``matching``: :class:`crm_pay.domain.reconciliation.DayMatcher` with 1,000,000 of our
   rows (a list of ``LedgerRecord``, as the service reads them) against 1,000,000 PSP
   rows streamed through ``feed`` (as the service feeds search pages), with 0.1 %
   planted differences: 200 each of missing_in_ledger, missing_at_psp, amount_mismatch,
   currency_mismatch and status_mismatch. Rows are realistic: Braintree-like 8-character
   ids, ``pay_`` + 26-character payment ids, ``<payment>-1`` order ids, three currencies
   and merchant accounts, a timestamp per row spread over the day. It runs in a child
   process so that the peak RSS printed is the matcher's own (inputs included), not
   whatever ran before it. The report must list exactly the planted differences, or
   the bench stops.
2. ``end_to_end``: a fresh sandbox with 10,000 sales made through the real SDK
   (``transaction.sale``, four threads; not timed), the same payments inserted in our
   database (one of them with another amount), then
   :func:`crm_pay.services.reconciliation.reconcile` for the day, timed: the SDK's
   ``advanced_search_ids`` plus 200 ``advanced_search`` pages of 50, matching, the case,
   the report. ``--quick``: 100,000 matcher rows and 1,000 sales.

Goals (not asserted): matching ≤ 10 s and ≤ 1 GiB on 2 cores.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, format_table, machine_info, write_results

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "reconciliation"
DESCRIPTION = "matcher: 1M PSP rows vs 1M ours (time, peak RSS); a 10k-sale day via the SDK"

ROWS, QUICK_ROWS = 1_000_000, 100_000
SALES, QUICK_SALES = 10_000, 1_000
PLANT_EVERY = 1000  # 0.1 %
KINDS = ("missing_in_ledger", "missing_at_psp", "amount_mismatch", "currency_mismatch")
ACCOUNTS = (("USD", "acme_usd"), ("GBP", "acme_gbp"), ("EUR", "acme_eur"))
_SANDBOX = {"merchant_id": "bench_merchant", "public_key": "bench_pub", "private_key": "bench_prv"}
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class BenchError(RuntimeError):
    """The report is not what was planted; the figures would lie."""


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(out)


def _plant(i: int) -> str | None:
    """Which difference row ``i`` carries (0.1 % of the rows, five kinds in turn)."""
    if i % PLANT_EVERY != PLANT_EVERY - 1:
        return None
    return (*KINDS, "status_mismatch")[(i // PLANT_EVERY) % 5]


def _matching(rows: int, queue: Any) -> None:
    """Child process: build the inputs, time the matcher, report peak RSS."""
    from crm_pay.domain.reconciliation import DayMatcher, LedgerRecord, PspRecord, day_bounds

    day = date(2026, 3, 14)
    start, _ = day_bounds(day)
    step = 86_000 / rows  # the PSP stamps 2 s after us: every row stays in the day
    started = time.perf_counter()
    ledger: list[LedgerRecord] = []
    for i in range(rows):
        if _plant(i) == "missing_in_ledger":
            continue
        currency = ACCOUNTS[i % 3][0]
        ledger.append(
            LedgerRecord(
                _base36(i * 7919 + 1, 8),
                "pay_" + _base36(i * 104729 + 7, 26),
                "sale",
                "submitted_for_settlement",
                1000 + i % 50_000,
                currency,
                start + timedelta(seconds=i * step),
            )
        )

    psp_rows: list[PspRecord] = []
    for i in range(rows):
        plant = _plant(i)
        if plant == "missing_at_psp":
            continue
        currency, account = ACCOUNTS[i % 3]
        minor = 1000 + i % 50_000
        status = "submitted_for_settlement"
        if plant == "amount_mismatch":
            minor += 1
        elif plant == "currency_mismatch":
            currency = "JPY"
        elif plant == "status_mismatch":
            status = "voided"
        psp_rows.append(
            PspRecord(
                _base36(i * 7919 + 1, 8),
                "sale",
                status,
                minor,
                currency,
                "pay_" + _base36(i * 104729 + 7, 26) + "-1",
                account,
                start + timedelta(seconds=i * step + 2),
            )
        )
    built = time.perf_counter() - started  # both inputs, as the service would hold them

    t0 = time.perf_counter()
    matcher = DayMatcher(day, ledger)
    del ledger
    t1 = time.perf_counter()
    matcher.feed(psp_rows)
    del psp_rows
    t2 = time.perf_counter()
    report = matcher.finish()
    t3 = time.perf_counter()
    planted: dict[str, int] = {}
    for i in range(rows):
        plant = _plant(i)
        if plant:
            planted[plant] = planted.get(plant, 0) + 1
    found: dict[str, int] = {}
    for d in report.differences:
        found[d.kind.value] = found.get(d.kind.value, 0) + 1
    queue.put(
        {
            "rows": rows,
            "build_inputs_s": round(built, 3),
            "index_s": round(t1 - t0, 3),
            "feed_s": round(t2 - t1, 3),
            "finish_s": round(t3 - t2, 3),
            "matching_s": round(t3 - t0, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "matched": report.matched,
            "planted": planted,
            "found": found,
        }
    )


def _run_matching(rows: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_matching, args=(rows, queue))
    child.start()
    result: dict[str, Any] = queue.get(timeout=600)
    child.join(60)
    if result["planted"] != result["found"]:
        raise BenchError(f"planted {result['planted']} but found {result['found']}")
    if result["matched"] != rows - sum(result["planted"].values()):
        raise BenchError(f"{result['matched']} matched of {rows} rows")
    return result


def _end_to_end(sales: int) -> dict[str, Any]:
    from crm_pay.current import get_context
    from crm_pay.persistence.models import Customer, Payment
    from crm_pay.services.reconciliation import reconcile
    from crm_pay.testing.sandbox_app import close_app, sandbox_app_config, start_app, start_sandbox

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crm-pay-bench-")))
        sandbox = start_sandbox(demo_cards=False, **_SANDBOX)
        stack.callback(sandbox.stop)
        config = sandbox_app_config(
            f"sqlite:///{tmp / 'bench.sqlite3'}",
            sandbox,
            tmp,
            SECRET_KEY="bench-secret-key",
            CRM_PAY_BRAINTREE_TIMEOUT=30.0,
        )
        app = start_app(config, tmp / "instance")
        stack.callback(close_app, app)
        ctx = get_context(app)

        def sale(i: int) -> tuple[str, str]:
            order_id = f"pay_bench{i:08d}-1"
            result = gateway.transaction.sale(
                {
                    "amount": f"{10 + i % 90}.00",
                    "payment_method_nonce": "fake-valid-nonce",
                    "order_id": order_id,
                    "options": {"submit_for_settlement": True},
                }
            )
            if not result.is_success:
                raise BenchError(f"sale {i} was not approved")
            return result.transaction.id, order_id

        gateway = sandbox.braintree_gateway(timeout=30)
        made = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            ids = list(pool.map(sale, range(sales)))
        made = time.perf_counter() - made
        now = ctx.now()
        with ctx.db.transaction() as s:
            customer = Customer(
                crm_ref="BENCH-1", name="Bench", email=None, phone=None, currency="USD"
            )
            customer.synced_at = now
            s.add(customer)
            s.flush()
            for i, (psp_id, order_id) in enumerate(ids):
                s.add(
                    Payment(
                        id=order_id.rsplit("-", 1)[0],
                        customer_id=customer.id,
                        channel="link",
                        status="submitted_for_settlement",
                        # one planted difference: the amount we hold is a cent off
                        amount_minor=(10 + i % 90) * 100 + (1 if i == 0 else 0),
                        currency="USD",
                        requested_allocations={},
                        created_by="bench",
                        description="",
                        attempt=1,
                        psp_transaction_id=psp_id,
                        janitor_checks=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        started = time.perf_counter()
        report = reconcile(ctx, now.date(), actor="bench")
        elapsed = time.perf_counter() - started
        kinds = [d["kind"] for d in report["differences"]]
        if kinds != ["amount_mismatch"] or report["matched"] != sales - 1:
            raise BenchError(f"end to end: matched {report['matched']}, differences {kinds}")
        return {
            "sales": sales,
            "make_sales_s": round(made, 1),
            "reconcile_s": round(elapsed, 3),
            "rows_per_second": round(sales / elapsed, 1),
            "matched": report["matched"],
            "differences": kinds,
        }


def run(options: RunOptions) -> dict[str, Any]:
    rows = options.iterations or (QUICK_ROWS if options.quick else ROWS)
    sales = QUICK_SALES if options.quick else SALES
    print(f"matching {rows:,} PSP rows against {rows:,} of ours, 0.1 % planted ...", flush=True)
    matching = _run_matching(rows)
    print(f"end to end through the SDK: {sales:,} sales ...", flush=True)
    e2e = _end_to_end(sales)
    print(
        format_table(
            ["part", "rows", "seconds", "rows/s", "peak RSS MiB"],
            [
                [
                    "matching (index+feed+finish)",
                    f"{rows:,}",
                    f"{matching['matching_s']:.2f}",
                    f"{rows / matching['matching_s']:,.0f}",
                    f"{matching['peak_rss_mib']:.0f}",
                ],
                [
                    "end to end (SDK search + match + save)",
                    f"{sales:,}",
                    f"{e2e['reconcile_s']:.2f}",
                    f"{e2e['rows_per_second']:,.0f}",
                    "-",
                ],
            ],
        )
    )
    print(
        f"  matching split: index {matching['index_s']} s, feed {matching['feed_s']} s, "
        f"finish {matching['finish_s']} s (inputs built in {matching['build_inputs_s']} s, "
        f"not timed); differences found {matching['found']}"
    )
    print(f"  end to end: {sales:,} SDK sales made in {e2e['make_sales_s']} s (not timed)")
    payload: dict[str, Any] = {
        "bench": NAME,
        "description": DESCRIPTION,
        "quick": options.quick,
        "generated_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "matching": matching,
        "end_to_end": e2e,
    }
    if options.results_dir is not None:
        path = write_results(options.results_dir, NAME, payload)
        print(f"  results: {path}")
    return payload
