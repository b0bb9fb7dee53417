"""One run per output folder: a second run refuses (naming the holder's PID), and a
SIGKILLed run leaves no stale lock.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/sweep/test_run_lock.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from thetascope.sweep.lock import RunLocked, run_lock

ARGS = ["--config", "smoke", "-s", "sweep.thetas=[0, 90]", "-s", "ssl.steps=2",
        "-s", "runtime.threads=1", "-s", "orient.enabled=false", "-s", "analysis.enabled=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "thetascope", "run", "--out", str(out), *ARGS]


def _wait_for_lock(proc: subprocess.Popen, out: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    lock = out / ".lock"
    while time.monotonic() < deadline:
        if lock.is_file() and f"pid={proc.pid} " in lock.read_text():
            return
        assert proc.poll() is None, "the first run ended before taking the lock"
        time.sleep(0.01)
    raise TimeoutError("the first run never took the lock")


def test_lock_is_exclusive_and_released(tmp_path):
    with run_lock(tmp_path):
        assert f"pid={os.getpid()} " in (tmp_path / ".lock").read_text()
        with pytest.raises(RunLocked, match=rf"in use by another thetascope run \(PID "
                                            rf"{os.getpid()} on .*\); wait for it"), \
                run_lock(tmp_path):
            pass
    with run_lock(tmp_path):  # released: taken again
        pass
    assert (tmp_path / ".lock").read_text() == ""


def test_orient_refuses_a_folder_another_run_holds(tmp_path):
    from typer.testing import CliRunner

    from thetascope.cli import app

    with run_lock(tmp_path):
        res = CliRunner().invoke(app, ["orient", "phantom-cxr", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "in use by another thetascope run" in res.output
    assert not list(tmp_path.glob("orient_*.parquet"))  # nothing written


@pytest.mark.slow
def test_second_process_refuses_while_the_first_runs(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=ENV)
    try:
        _wait_for_lock(first, out)
        os.kill(first.pid, signal.SIGSTOP)  # hold the lock for as long as the test needs
        try:
            second = subprocess.run(_cli(out), capture_output=True, text=True, env=ENV,
                                    timeout=300)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"is in use by another thetascope run (PID {first.pid} on" in lines[0]
    assert first.returncode == 0, err
    # the refused run wrote nothing: one run in the log, complete and unduplicated results
    assert (out / "run.log").read_text().count("INFO run smoke into") == 1
    df = pd.read_parquet(out / "results.parquet")
    assert not df.duplicated(["model", "dataset", "theta", "seed", "image_id", "metric"]).any()
    assert set(df.theta) == {0.0, 90.0} and len(list((out / "cells").iterdir())) == 4


@pytest.mark.slow
def test_sigkilled_run_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=ENV)
    try:
        _wait_for_lock(first, out)
    finally:
        first.kill()  # SIGKILL: no cleanup code runs
        first.wait()
    assert f"pid={first.pid} " in (out / ".lock").read_text()  # the dead holder's note
    again = subprocess.run(_cli(out), capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (out / "results.parquet").is_file()
