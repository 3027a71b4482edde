"""``python -m benchmarks``: run the benches, print their figures, write JSON results.

python -m benchmarks                   # every bench, full iteration counts
python -m benchmarks --quick           # fewer iterations (a smoke run)
python -m benchmarks --only link_payment
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks import BENCHES
from benchmarks.common import RESULTS_DIR, RunOptions, machine_info


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="crm-pay performance runs: figures are printed, nothing is asserted.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations: a smoke run, not figures"
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        choices=sorted(BENCHES),
        help=f"run only this bench (repeatable); one of: {', '.join(BENCHES)}",
    )
    parser.add_argument(
        "--iterations", type=int, metavar="N", help="measured iterations (overrides defaults)"
    )
    parser.add_argument("--warmup", type=int, metavar="N", help="warm-up iterations")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where JSON results go (default: benchmarks/results/)",
    )
    parser.add_argument("--no-results", action="store_true", help="do not write JSON results")
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benches; 0 when all ran, 1 when one of them broke."""
    args = _parser().parse_args(argv)
    if args.list:
        for name, module in BENCHES.items():
            print(f"{name:16} {importlib.import_module(module).DESCRIPTION}")
        return 0
    if args.iterations is not None and args.iterations < 1:
        _parser().error("--iterations must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        _parser().error("--warmup must not be negative")

    # The app and the sandbox log every request and every case opened; the benches only
    # want their own output (and the logging I/O would blur the timings).
    logging.basicConfig(level=logging.ERROR)
    for name in ("crm_pay", "connectors", "agent_ui", "braintree", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)

    options = RunOptions(
        quick=args.quick,
        iterations=args.iterations,
        warmup=args.warmup,
        results_dir=None if args.no_results else args.results_dir,
    )
    info = machine_info()
    print(
        f"crm-pay benchmarks: python {info['python']} on {info['platform']}, "
        f"{info['cpu_count']} CPUs, load {info['load_average']}, "
        f"commit {info['git_commit']}{' (dirty)' if info['git_dirty'] else ''}"
        f"{', QUICK run (smoke figures only)' if args.quick else ''}"
    )
    failed: list[str] = []
    for name in args.only or list(BENCHES):
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(BENCHES[name]).run(options)
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        except Exception:  # noqa: BLE001 - report the broken bench and run the others
            traceback.print_exc()
            failed.append(name)
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nbenches that broke: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
