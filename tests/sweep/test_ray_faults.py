"""A Ray worker that dies mid-cell: the task is retried, the results have no duplicate rows
and equal the in-process executor's; with no retries left the cell fails alone and the
next run retries it.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/sweep/test_ray_faults.py

The death is injected with the test-only hook ``THETASCOPE_FAULT_WORKER_EXIT``
(``sweep/executors.py``): the first Ray task to reach its second training step creates the
named marker file and calls ``os._exit(1)`` in its worker process.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from rich.console import Console

from thetascope.config import apply_overrides, builtin_config_path, load_config
from thetascope.sweep.executors import FAULT_WORKER_EXIT
from thetascope.sweep.runner import run_experiment

pytestmark = pytest.mark.slow
KEY = ["model", "dataset", "theta", "seed", "image_id", "metric"]
BASE = ["sweep.thetas=[0, 90]", "ssl.steps=3", "runtime.threads=1", "runtime.cpus_per_task=1",
        "orient.enabled=false", "analysis.enabled=false"]


def _cfg(*extra: str):
    return apply_overrides(load_config(builtin_config_path("smoke")), [*BASE, *extra])


def _rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEY).reset_index(drop=True)[[*KEY, "value", "cell"]]


def _run(cfg, out):
    return run_experiment(cfg, out, console=Console(quiet=True))


def test_worker_death_mid_cell_is_retried_without_duplicates(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    marker = tmp_path / "worker-died"
    monkeypatch.setenv(FAULT_WORKER_EXIT, str(marker))
    res = _run(_cfg("runtime.executor=ray", "runtime.address=local", "runtime.max_retries=2"),
               tmp_path / "ray")
    assert marker.is_file(), "no worker died: the fault was not injected"
    died_key, died_pid = marker.read_text().split()
    assert int(died_pid) != os.getpid()  # a worker died, not the driver
    assert not res.failed and res.n_ran == res.n_cells == 4
    monkeypatch.delenv(FAULT_WORKER_EXIT)
    local = _run(_cfg(), tmp_path / "local")
    assert not res.results.duplicated(KEY).any()
    pd.testing.assert_frame_equal(_rows(res.results), _rows(local.results))
    assert died_key in set(res.results.cell)  # the retried cell is there, once

    # without retries the death fails that cell alone; re-running the command retries it
    marker.unlink()
    monkeypatch.setenv(FAULT_WORKER_EXIT, str(marker))
    cfg = _cfg("runtime.executor=ray", "runtime.address=local", "runtime.max_retries=0")
    partial = _run(cfg, tmp_path / "no-retry")
    assert len(partial.failed) == 1 and partial.n_ran == 3, partial.failed
    assert "worker" in partial.failed[0][1].lower()
    log = (tmp_path / "no-retry" / "run.log").read_text()
    assert "failed" in log and partial.failed[0][0] in log
    again = _run(cfg, tmp_path / "no-retry")  # the marker exists now: no second death
    assert not again.failed and again.n_skipped == 3 and again.n_ran == 1
    pd.testing.assert_frame_equal(_rows(again.results), _rows(local.results))
