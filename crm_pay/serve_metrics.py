"""The multiprocess metrics of one ``crm-pay serve`` run: a directory every gunicorn
worker counts into, so a scrape of ``{prefix}/metrics`` answers the sum over them
(:mod:`crm_pay.api.metrics` collects it with ``MultiProcessCollector``).

Used by :mod:`crm_pay.cli_serve` only: a server owns its process, so it may choose
prometheus-client's mode for it; the extension itself never does (a host app's process
and registry are the host's).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import values

__all__ = ["MULTIPROC_VARIABLE", "metrics_directory", "summed_metrics"]


#: prometheus-client's variable naming its multiprocess directory.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory(environ: dict[str, str] | Any = os.environ) -> tuple[Path, bool]:
    """This run's directory of multiprocess metric files, and whether it is ours to
    remove at exit: the operator's ``PROMETHEUS_MULTIPROC_DIR`` (created if missing,
    emptied of its ``*.db`` files, kept), else a fresh temporary directory (ours)."""
    given = environ.get(MULTIPROC_VARIABLE, "").strip()
    if not given:
        return Path(tempfile.mkdtemp(prefix="crm-pay-metrics-")), True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's counts would be summed in
        stale.unlink()
    return path, False


@contextmanager
def summed_metrics() -> Iterator[Path]:
    """Count this process and the workers it forks into this run's directory; put the
    process back as it was after (``serve`` called from code, e.g. a test, goes on).

    prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` once, when it is imported, and
    ``crm-pay`` imported it before ``serve`` ran: the variable is set for the workers
    and prometheus-client's value class chosen again, as the import would have."""
    path, ours = metrics_directory()
    previous = os.environ.get(MULTIPROC_VARIABLE), values.ValueClass
    os.environ[MULTIPROC_VARIABLE] = str(path)
    values.ValueClass = values.get_value_class()
    try:
        yield path
    finally:
        if previous[0] is None:
            os.environ.pop(MULTIPROC_VARIABLE, None)
        else:
            os.environ[MULTIPROC_VARIABLE] = previous[0]
        values.ValueClass = previous[1]
        if ours:
            shutil.rmtree(path, ignore_errors=True)
