"""Every executor turns an unexpected error in a cell into one failed cell, traceback in
run.log; the other cells finish and KeyboardInterrupt still stops the run.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/sweep/test_cell_errors.py

The error is planted in one dataset of the smoke config: its ``ssp_array`` raises
``LookupError`` (none of the errors an executor used to expect). The dataset class lives
here, so the process executor's spawned workers unpickle it from this module.
"""

from __future__ import annotations

import dataclasses

import pytest
from rich.console import Console

from thetascope.config import apply_overrides, builtin_config_path, load_config
from thetascope.data.sample import LoadedDataset
from thetascope.sweep import dispatch
from thetascope.sweep.runner import run_experiment
from thetascope.sweep.work import WorkContext

BROKEN = "phantom-polyp"
BASE = ["sweep.thetas=[0, 90]", "ssl.steps=2", "runtime.threads=1", "runtime.cpus_per_task=1",
        "orient.enabled=false", "analysis.enabled=false", "sweep.references=[]"]


@dataclasses.dataclass
class ExplodingDataset(LoadedDataset):
    def ssp_array(self):  # type: ignore[override]
        raise LookupError(f"planted failure in {self.name}")


def _plant(monkeypatch) -> None:
    """Executors get a context whose BROKEN dataset raises inside every task."""

    def context(cfg, datasets, partial_dir=None):
        swap = {k: ExplodingDataset(**{f.name: getattr(v, f.name)
                                       for f in dataclasses.fields(v)})
                if k == BROKEN else v for k, v in datasets.items()}
        return WorkContext(cfg, swap, partial_dir)

    monkeypatch.setattr(dispatch, "WorkContext", context)


@pytest.mark.parametrize("executor", ["local", pytest.param("process", marks=pytest.mark.slow)])
def test_an_unexpected_error_fails_its_cells_alone_with_the_traceback_in_run_log(
        executor, tmp_path, monkeypatch):
    _plant(monkeypatch)
    cfg = apply_overrides(load_config(builtin_config_path("smoke")),
                          [*BASE, f"runtime.executor={executor}", "runtime.workers=2"])
    res = run_experiment(cfg, tmp_path, console=Console(quiet=True))
    assert res.failed and all(BROKEN in label for label, _ in res.failed), res.failed
    assert all("LookupError: planted failure" in msg for _, msg in res.failed)
    assert set(res.results.dataset) == {"mri-lesion"}  # the other dataset's cells finished
    log = (tmp_path / "run.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert "in ssp_array" in log  # the frame that raised, from the worker if there is one
    assert "LookupError: planted failure in phantom-polyp" in log


def test_keyboard_interrupt_in_a_cell_still_stops_a_local_run(tmp_path, monkeypatch):
    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ExplodingDataset, "ssp_array", interrupt)
    _plant(monkeypatch)
    cfg = apply_overrides(load_config(builtin_config_path("smoke")), BASE)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, console=Console(quiet=True))
