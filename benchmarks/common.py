"""Helpers shared by the benches: run options, timing summaries, tables, JSON results."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "RunOptions",
    "Summary",
    "format_table",
    "machine_info",
    "percentile",
    "write_results",
]

#: Where JSON results go (git-ignored).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
_REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for.

    ``quick``: fewer iterations, for a smoke run. ``iterations`` / ``warmup``: explicit
    counts that override the bench's defaults (``None`` keeps them). ``results_dir``:
    where JSON results are written; ``None`` writes none.
    """

    quick: bool = False
    iterations: int | None = None
    warmup: int | None = None
    results_dir: Path | None = RESULTS_DIR


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (``pct`` in 0..100).

    Nearest rank never interpolates: the answer is one of the observed values, so with
    fewer than 100 samples the p99 is simply the slowest one.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Summary:
    """Distribution of one timed operation, in milliseconds."""

    n: int
    median_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of_ns(cls, samples_ns: Sequence[int]) -> Summary:
        """Summarize durations measured with :func:`time.perf_counter_ns`."""
        values = sorted(s / 1e6 for s in samples_ns)
        return cls(
            n=len(values),
            median_ms=statistics.median(values),
            p99_ms=percentile(values, 99),
            mean_ms=statistics.fmean(values),
            min_ms=values[0],
            max_ms=values[-1],
        )

    def to_json(self) -> dict[str, Any]:
        """Plain dict with values rounded to microseconds."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Where and on what the figures were taken, so two runs can be compared honestly."""
    versions: dict[str, str | None] = {}
    for dist in ("crm-pay", "flask", "werkzeug", "sqlalchemy", "braintree", "psycopg"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "packages": versions,
    }


def write_results(results_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``<results_dir>/<name>-<UTC timestamp>.json``; return the path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
