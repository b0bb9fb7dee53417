"""A full disk (ENOSPC injected into the store's writes) gives one clear line and exit 2;
every result written before it stays intact, and the same command resumes once space is
freed.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/sweep/test_disk_full.py
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import thetascope.sweep.store as store
from thetascope.cli import app

ARGS = ["--config", "smoke", "-s", "ssl.steps=2", "-s", "runtime.threads=1",
        "-s", "orient.enabled=false", "-s", "analysis.enabled=false"]
KEY = ["model", "dataset", "theta", "seed", "image_id", "metric"]


def _run(out: Path, *extra: str):
    return CliRunner().invoke(app, ["run", "--out", str(out), *ARGS, *extra])


def _enospc(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


class _DiskFillsUp:
    """``numpy`` as the store sees it, except that ``savez_compressed`` fails with ENOSPC
    (after writing half a file) once ``ok`` calls have succeeded."""

    def __init__(self, ok: int) -> None:
        self.ok = ok

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    def savez_compressed(self, path: Path, **arrays: np.ndarray) -> None:
        if self.ok <= 0:
            Path(path).write_bytes(b"PK\x03\x04 half a zip")
            raise _enospc(path)
        self.ok -= 1
        np.savez_compressed(path, **arrays)


def _assert_one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.mark.slow
def test_disk_full_mid_cell_keeps_finished_cells_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    # 4 writes succeed: the 2 reference cells (dispatched first) and 2 of the 4 θ cells
    monkeypatch.setattr(store, "np", _DiskFillsUp(ok=4))
    failed = _run(out, "-s", "sweep.thetas=[0, 90]")
    line = _assert_one_line_error(failed, "cannot write", "maps.npz: No space left on device",
                                  "free some space", "re-run the same command",
                                  "2 finished cell(s) are kept")
    assert str(out / "cells") in line
    cells = sorted((out / "cells").iterdir())
    assert [c.name.startswith(".tmp-") for c in cells] == [False, False]  # no half cell
    before = {c.name: (c / "rows.parquet").read_bytes() for c in cells}
    for c in cells:  # intact and readable
        pd.read_parquet(c / "rows.parquet")
        assert store.ResultStore(out).read_maps(c.name)["saliency"].size

    monkeypatch.setattr(store, "np", np)  # space freed
    again = _run(out, "-s", "sweep.thetas=[0, 90]")
    assert again.exit_code == 0, again.output
    assert "2 already finished, skipped; 2 to run" in again.output
    for name, data in before.items():
        assert (out / "cells" / name / "rows.parquet").read_bytes() == data
    df = pd.read_parquet(out / "results.parquet")
    assert set(df.theta) == {0.0, 90.0} and not df.duplicated(KEY).any()
    assert not list(out.rglob(".tmp-*"))


@pytest.mark.slow
def test_disk_full_on_results_keeps_the_previous_table(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(out, "-s", "sweep.thetas=[0]").exit_code == 0
    old = pd.read_parquet(out / "results.parquet")
    real = pd.DataFrame.to_parquet

    def to_parquet(self, path, *args, **kwargs):
        if str(path).endswith("results.parquet"):
            Path(path).write_bytes(b"PAR1 half a table")
            raise _enospc(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)
    failed = _run(out, "-s", "sweep.thetas=[0, 90]")
    _assert_one_line_error(failed, "results.parquet: No space left on device",
                           "4 finished cell(s) are kept")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), old)
    assert not list(out.rglob(".tmp-*"))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    again = _run(out, "-s", "sweep.thetas=[0, 90]")
    assert again.exit_code == 0 and "4 already finished" in again.output, again.output
    assert set(pd.read_parquet(out / "results.parquet").theta) == {0.0, 90.0}


@pytest.mark.parametrize(("code", "fix"), [
    (errno.EROFS, "read-only; give another --out"),
    (errno.EACCES, "check the folder's permissions"),
    (errno.EDQUOT, "raise your disk quota"),
])
def test_other_unwritable_outputs_are_user_errors(tmp_path, code, fix):
    err = store.as_write_error(OSError(code, os.strerror(code), str(tmp_path / "x")), tmp_path)
    assert err is not None and fix in str(err) and str(tmp_path / "x") in str(err)


def test_other_os_errors_are_not_disguised(tmp_path):
    assert store.as_write_error(OSError(errno.EIO, "I/O error"), tmp_path) is None


def test_failed_atomic_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    store.atomic_write_text(target, "old")

    def half(tmp: Path) -> None:
        tmp.write_text("ne")
        raise _enospc(tmp)

    with pytest.raises(OSError, match="No space left"):
        store.atomic_write_file(target, half)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_run_log_on_a_full_disk_prints_no_traceback(tmp_path, capsys):
    import logging

    from thetascope.sweep.runner import _LogFile

    class FullDisk:
        def write(self, text: str) -> None:
            raise _enospc(tmp_path / "run.log")

        def flush(self) -> None:
            pass

    handler = _LogFile(tmp_path / "run.log", delay=True)
    handler.stream = FullDisk()  # type: ignore[assignment]
    record = logging.LogRecord("thetascope", logging.INFO, __file__, 1, "cell done", (), None)
    handler.emit(record)
    assert capsys.readouterr().err == ""
    bad = logging.LogRecord("thetascope", logging.INFO, __file__, 1, "%d", ("x",), None)
    handler.stream = open(tmp_path / "run.log", "a")  # noqa: SIM115
    handler.emit(bad)  # a bug in a log call is still reported
    handler.close()
    assert "Logging error" in capsys.readouterr().err
