"""Where ``crm-pay serve`` keeps this run's multiprocess metric files: the operator's
``PROMETHEUS_MULTIPROC_DIR`` emptied of a previous run's counts (their other files
left alone, the directory kept), else a fresh directory of its own; and the process is
put back as it was once the server stops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import values

from crm_pay.serve_metrics import MULTIPROC_VARIABLE, metrics_directory, summed_metrics


def test_an_operators_directory_is_emptied_of_old_counts_and_kept(tmp_path: Path) -> None:
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_4242.db").write_bytes(b"old counts")
    (given / "README").write_text("the operator's")

    path, ours = metrics_directory({MULTIPROC_VARIABLE: str(given)})

    assert (path, ours) == (given, False)
    assert sorted(p.name for p in given.iterdir()) == ["README"]


def test_without_one_a_fresh_directory_is_made_and_removed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_VARIABLE, raising=False)
    before = values.ValueClass

    with summed_metrics() as path:
        assert path.is_dir() and list(path.iterdir()) == []
        assert os.environ[MULTIPROC_VARIABLE] == str(path)
        assert values.ValueClass is not values.MutexValue

    assert not path.exists()
    assert MULTIPROC_VARIABLE not in os.environ
    assert values.ValueClass is before
