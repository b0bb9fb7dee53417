"""examples/ run as a user would run them: a script registers its own encoder and dataset
and runs a sweep through the public API (issue L's "done means")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_use_from_python_runs_a_sweep_with_its_own_encoder_and_dataset(tmp_path):
    out = tmp_path / "ex"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "use_from_python.py"),
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Dice vs θ (trained)" in proc.stdout and "theta_effect" in proc.stdout
    results = pd.read_parquet(out / "results.parquet")
    assert set(results.dataset) == {"bright-discs"}
    assert set(results.encoder) == {"tiny_cnn"}
    assert {"trained", "untrained"} <= set(results.model)
    assert {"fewshot_dice", "finetune_dice"} <= set(results.metric)  # downstream ran too
    assert (out / "report.html").is_file() and (out / "verdict.parquet").is_file()
