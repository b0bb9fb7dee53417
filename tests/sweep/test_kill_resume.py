"""SIGKILL a smoke run twenty-odd times in a row, in every phase, resuming after each: the
final results equal an uninterrupted run's, with no temporary or corrupt file left.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/sweep/test_kill_resume.py

Each attempt is a forked ``thetascope run`` (see ``kill_harness.py``) on the same output
folder. A seeded RNG picks where the kill lands: during pre-training (after a random part
of a cell's training; ``runtime.checkpoint_every=1`` so the next attempt resumes mid-cell),
during saliency, while a cell folder is being written, while ``results.parquet`` is being
written, or while the figures and the report are being written. Every kill lands on an
event the child signals in ``phases.log`` (a phase start, its k-th training step,
SmoothGrad chunk or figure file, a temporary file appearing), never after a delay.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kill_harness import Child, ForkServer

pytestmark = pytest.mark.slow

ARGS = ["--config", "smoke", "-s", "data.image_size=32", "-s", "ssl.steps=3",
        "-s", "sweep.thetas=[0, 60, 120, 180]", "-s", "runtime.checkpoint_every=1",
        "-s", "runtime.threads=1", "-s", "orient.enabled=false",
        "-s", "analysis.enabled=false"]
N_CELLS = 8  # 2 datasets × 4 θ × 1 seed
MIN_KILLS = 20
CELL_KILLS = 14  # kills aimed at cells before the rest may finish (then: late phases)
KEY = ["model", "dataset", "theta", "seed", "image_id", "metric"]
CELL_PHASES = ("pretrain", "saliency", "write-cell")
LATE_PHASES = ("write-results", "report")


def _run_args(out: Path) -> list[str]:
    return ["run", "--out", str(out), *ARGS]


def _ticks(child: Child) -> dict[str, float]:
    """Mean progress ticks (training steps, SmoothGrad chunks, figure files) per run of
    each phase in a finished child."""
    names = [line.split()[1] for line in child.phases()]
    phases = {n for n in names if not n.endswith(("-end", "-tick"))}
    out = {}
    for phase in phases:
        counts = [child.ticks(phase, i + 1)[0] for i in range(names.count(phase))]
        out[phase] = float(np.mean(counts))
    return out


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob(".tmp-*")]


def _partial_states(out: Path) -> dict[Path, int]:
    """Resumable training states on disk and their mtimes (a file the run deletes while
    this looks is skipped)."""
    states = {}
    for p in (out / "partial").glob("*.pt"):
        with contextlib.suppress(FileNotFoundError):
            states[p] = p.stat().st_mtime_ns
    return states


def _kill_in(child: Child, phase: str, nth: int, frac: float, ticks: float,
             out: Path, after_checkpoint: bool = False) -> bool:
    """Wait for the ``nth`` start of ``phase``; kill on an event the child signals: the
    tick ``frac`` of the way through its progress (training steps, SmoothGrad chunks,
    figures; ``ticks`` per run in the reference), for writes the moment their temporary
    appears, with ``after_checkpoint`` the moment a resumable training state exists.
    Never after a delay. True if a running child was killed."""
    if not child.wait_phase(phase, nth):
        return False
    if after_checkpoint:  # a 3-step training can end before a random delay sees a state
        # this training's own state: a partial file written after it started (another
        # cell's, left by an earlier kill, would let the kill land before any checkpoint)
        seen = _partial_states(out)
        child.wait_for(lambda: any(seen.get(p, -1) < t for p, t in _partial_states(out).items())
                       or child.phases()[-1].endswith("-end"))
    elif phase == "write-cell":
        child.wait_for(lambda: any((out / "cells").glob(".tmp-*"))
                       or child.phases()[-1].endswith("-end"))
    elif phase == "write-results":
        child.wait_for(lambda: any(out.glob(".tmp-*")) or child.phases()[-1].endswith("-end"))
    else:  # the k-th tick, 1 ≤ k ≤ the phase's ticks (0 ticks: at its start)
        k = min(max(1, math.ceil(frac * ticks)), max(1, int(ticks)))
        if ticks >= 1:
            child.wait_tick(phase, nth, k)
    return child.kill()


def _check_intact(out: Path) -> None:
    for cell in (out / "cells").iterdir():
        assert {"rows.parquet", "loss.json", "maps.npz", "cell.json"} <= \
            {p.name for p in cell.iterdir()}, cell
        pd.read_parquet(cell / "rows.parquet")
        with np.load(cell / "maps.npz", allow_pickle=False) as z:
            assert "saliency" in z.files
    for name in ("results.parquet", "losses.parquet"):
        pd.read_parquet(out / name)
    pd.read_csv(out / "aggregate.csv")
    for png in (out / "figures").glob("*.png"):
        with Image.open(png) as im:
            im.verify()
    assert (out / "summary.md").read_text().startswith("# thetascope run")


def test_twenty_sigkills_in_every_phase_lose_nothing(tmp_path):
    t0 = time.monotonic()
    rng = random.Random(20251126)
    with ForkServer() as fs:
        ref = fs.start(_run_args(tmp_path / "reference"), tmp_path / "ref")
        assert ref.exit_code() == 0, (tmp_path / "ref" / "child.log").read_text()
        ticks = _ticks(ref)
        out = tmp_path / "killed"
        kills: list[str] = []
        resume_pending = False
        for _ in range(60):
            if resume_pending:  # let the next attempt finish the cell it resumes, so a
                resume_pending = False  # later kill cannot erase the evidence (the state
                child = fs.start(_run_args(out), tmp_path / "attempts")  # goes first)
                if child.wait_phase("write-cell-end") and child.kill():
                    kills.append(child.last_phase)
                continue
            done = len(list((out / "cells").glob("*/cell.json"))) if out.exists() else 0
            missing = [p for p in (*CELL_PHASES, *LATE_PHASES) if p not in kills]
            if len(kills) >= MIN_KILLS and done == N_CELLS and not missing:
                break
            in_cells = done < N_CELLS and (len(kills) < CELL_KILLS
                                           or any(p in missing for p in CELL_PHASES))
            phases = CELL_PHASES if in_cells else LATE_PHASES  # late: the rest runs first
            phase = rng.choice([p for p in phases if p in missing] or phases)
            nth = rng.randint(1, min(2, N_CELLS - done)) if in_cells else 1
            child = fs.start(_run_args(out), tmp_path / "attempts")
            first_pretrain = phase == "pretrain" and "pretrain" not in kills
            if _kill_in(child, phase, nth, rng.uniform(0.05, 0.9), ticks[phase], out,
                        after_checkpoint=first_pretrain):
                kills.append(child.last_phase)
                resume_pending = first_pretrain and child.last_phase == "pretrain"
            else:
                assert child.exit_code() == 0, (tmp_path / "attempts" / "child.log").read_text()
        final = fs.start(_run_args(out), tmp_path / "final")
        assert final.exit_code() == 0, (tmp_path / "final" / "child.log").read_text()

    assert len(kills) >= MIN_KILLS, kills
    for phase in (*CELL_PHASES, *LATE_PHASES):  # every phase was hit while in progress
        assert phase in kills, (phase, kills)
    got = pd.read_parquet(out / "results.parquet").sort_values(KEY).reset_index(drop=True)
    want = pd.read_parquet(tmp_path / "reference" / "results.parquet") \
        .sort_values(KEY).reset_index(drop=True)
    assert not got.duplicated(KEY).any()
    pd.testing.assert_frame_equal(got, want)
    losses = [pd.read_parquet(d / "losses.parquet").sort_values(["dataset", "theta", "step"])
              .reset_index(drop=True) for d in (out, tmp_path / "reference")]
    pd.testing.assert_frame_equal(*losses)
    assert not _temporaries(out)
    _check_intact(out)
    resumed = [json.loads(p.read_text())["resumed_from_step"]
               for p in (out / "cells").glob("*/cell.json")]
    assert any(r is not None for r in resumed), "no cell resumed mid-training"
    print(f"{len(kills)} kills ({', '.join(sorted(set(kills)))}) in "
          f"{time.monotonic() - t0:.0f} s")
