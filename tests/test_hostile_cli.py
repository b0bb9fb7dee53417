"""Hostile inputs through the real command line: a clear line and exit 2 for what must stop
the run, a counted skip listed in summary.md for what need not; never a traceback
unless ``--debug`` asks for one. The first tests start real processes (slow); the second
round's (issue 20) call the CLI in-process.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_hostile_cli.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_layouts import gray_image, mask_image, save_png
from hostile_corpus import EXPECTED_SKIPS, evil_checkpoint, hostile_folder

TINY = ["-s", "sweep.thetas=[0]", "-s", "ssl.steps=1", "-s", "ssl.batch_size=4",
        "-s", "data.image_size=32", "-s", "data.max_eval_images=3", "-s", "runtime.threads=1",
        "-s", "orient.enabled=false", "-s", "analysis.enabled=false"]
MARKUP_NAME = "[red]torn[bold] [link=x]"


def _thetascope(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "thetascope", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def _folder_run(root: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _thetascope("run", "--config", "smoke", "--out", str(out), *TINY,
                       "-s", f"data.datasets=[{{kind: folder, root: '{root}'}}]", *extra)


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    return hostile_folder(base / "data", base / "outside")


@pytest.mark.slow
def test_run_skips_and_lists_every_hostile_file(corpus, tmp_path):
    res = _folder_run(corpus, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert f"folder: {len(EXPECTED_SKIPS)} file(s)" in summary
    for name, category in EXPECTED_SKIPS.items():
        stem = name.split("/", 1)[1].rsplit(".", 1)[0].split("`")[0]
        row = next(r for r in summary.splitlines() if stem in r and r.startswith("| `"))
        assert f"| {category}" in row, row


@pytest.mark.slow
def test_strict_stops_with_one_line_naming_the_file(tmp_path):
    for i in range(3):
        save_png(tmp_path / "d" / "images" / f"ok{i}.png", gray_image(40, 40, i))
        save_png(tmp_path / "d" / "masks" / f"ok{i}.png", mask_image(40, 40, i))
    (tmp_path / "d" / "images" / f"{MARKUP_NAME}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    res = _folder_run(tmp_path / "d", tmp_path / "out", "-s", "data.on_bad_input=strict")
    line = _one_error_line(res)
    assert f"{MARKUP_NAME}.png: unreadable image" in line  # literal, not rich markup
    assert "re-export it (PNG/JPEG) or remove it" in line and "on_bad_input=skip" in line
    debug = _folder_run(tmp_path / "d", tmp_path / "out", "-s", "data.on_bad_input=strict",
                        "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # --debug shows it


@pytest.mark.slow
def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = evil_checkpoint(tmp_path / "evil.pth", marker)
    res = _thetascope("run", "--config", "smoke", "--out", str(tmp_path / "out"), *TINY,
                      "-s", "ssl.batch_size=8", "-s", f"ssl.weights={evil}")
    line = _one_error_line(res)
    assert "evil.pth: not a loadable weights-only checkpoint" in line
    assert not marker.exists()


@pytest.mark.slow
def test_settings_that_cannot_work_are_one_line_errors(tmp_path):
    res = _thetascope("run", "--config", "smoke", "--out", str(tmp_path / "a"), *TINY,
                      "-s", "ssl.batch_size=30")
    line = _one_error_line(res)
    assert "dataset 'mri-lesion': no MoCo queue fits 48 images with batch 30" in line
    assert "lower ssl.batch_size to ≤ 24" in line
    res = _thetascope("run", "--config", "smoke", "--out", str(tmp_path / "b"),
                      "-s", "sweep.thetas=[0, 720]")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "thetas out of range [-360, 360]: [720.0]" in res.stderr


@pytest.mark.slow
def test_inspect_lists_the_problems(corpus, tmp_path):
    res = _thetascope("data", "inspect", str(corpus), "--out", str(tmp_path), "--image-size",
                      "32")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "image too large: 2" in res.stdout and "outside the data root: 1" in res.stdout
    assert (tmp_path / "contact_data.png").is_file()


# --------------------------------------------------------------------------- second round
# In-process (typer's CliRunner): the same code path as the console script, seconds each.
FAST = [*TINY, "-s", "ssl.batch_size=2", "-s", "ssl.split_bn=1", "-s", "data.image_size=16",
        "-s", "saliency.samples=1", "-s", "saliency.gallery_images=1"]


def _invoke(*args: str):
    from typer.testing import CliRunner

    from thetascope.cli import app

    return CliRunner().invoke(app, list(args))


def _error_line(res) -> str:
    """The single 'error: ...' line of an in-process run that exited 2, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def _folder_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--config", "smoke", "--out", str(out), *FAST,
            "-s", f"data.datasets=[{{kind: folder, root: '{root}'}}]", *extra]


def _good_folder(root: Path, n: int = 4) -> Path:
    for i in range(n):
        save_png(root / "images" / f"a{i}.png", gray_image(40, 40, i))
        save_png(root / "masks" / f"a{i}.png", mask_image(40, 40, i))
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "run"
    res = _invoke(*_folder_args(_good_folder(out.parent / "data"), out))
    assert res.exit_code == 0, res.output
    return out


def test_out_of_the_wrong_type_is_one_line(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    data = _good_folder(tmp_path / "data")
    for args, message in [
        (["run", "--config", "smoke", "--out", str(blocker)], "is a file, not a folder"),
        (["run", "--config", "smoke", "--out", str(blocker / "sub")],
         f"goes through {blocker}, which is a file, not a folder"),
        (["data", "inspect", str(data), "--out", str(blocker)], "is a file, not a folder"),
        (["orient", "phantom-cxr", "--out", str(blocker / "sub")], "which is a file"),
        (["report", str(data), "--out", str(blocker / "x.html")], "which is a file"),
    ]:
        line = _error_line(_invoke(*args))
        assert line.startswith("error: --out ") and message in line, line


def test_report_and_compare_into_an_existing_folder(tiny_run, tmp_path):
    res = _invoke("report", str(tiny_run), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.html").stat().st_size > 1000
    res = _invoke("compare", str(tiny_run), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compare.html").is_file()


def test_dataset_root_that_is_a_link_loop(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    line = _error_line(_invoke("run", "--config", "smoke", "--out", str(tmp_path / "o"), *FAST,
                               "-s", f"data.datasets=[{{kind: auto, root: '{loop}'}}]"))
    assert f"{loop}: a symbolic link loop" in line
    line = _error_line(_invoke("data", "inspect", str(loop), "--out", str(tmp_path)))
    assert "a symbolic link loop" in line and "not found" not in line


def test_a_250_character_folder_name_runs_and_inspects(tmp_path):
    root = _good_folder(tmp_path / ("L" * 250), n=6)
    out = tmp_path / "out"
    res = _invoke("run", "--config", "smoke", "--out", str(out), *FAST,
                  "-s", f"data.datasets=[{{kind: auto, root: '{root}'}}]")
    assert res.exit_code == 0, res.output
    gallery = next((out / "figures").glob("gallery_*.png"))
    assert len(gallery.name.encode()) < 120 and (out / "report.html").is_file()
    res = _invoke("data", "inspect", str(root), "--out", str(tmp_path / "sheets"),
                  "--image-size", "32")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "sheets").glob("contact_LLL*-*.png"))) == 1


@pytest.mark.slow
def test_damaged_cells_are_named_and_recomputed(tmp_path):
    import pandas as pd

    from hostile_corpus import damage_cells

    data, out = _good_folder(tmp_path / "data"), tmp_path / "out"
    args = _folder_args(data, out, "-s", "sweep.thetas=[0, 90, 180, 270]")
    assert _invoke(*args).exit_code == 0
    key = ["dataset", "theta", "seed", "image_id", "metric"]
    before = pd.read_parquet(out / "results.parquet").sort_values(key, ignore_index=True)
    damaged = damage_cells(out / "cells")
    report_mtime = (out / "report.html").stat().st_mtime_ns
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    log = (out / "run.log").read_text()
    for cell, name in damaged.items():
        note = f"cell {cell} (folder θ="
        assert note in res.stderr and f"is damaged ({name}: " in res.stderr, res.stderr
        assert note in log and "it is not trusted and is recomputed" in log
    assert "0 already finished, skipped; 4 to run" in res.stderr
    after = pd.read_parquet(out / "results.parquet").sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(before.drop(columns="config_fp"),
                                  after.drop(columns="config_fp"))
    assert (out / "report.html").stat().st_mtime_ns > report_mtime  # [] cell.json: rewritten


def test_ctrl_c_says_what_is_kept_and_logs_it(tmp_path, monkeypatch):
    import thetascope.sweep.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "dispatch", interrupted)
    out = tmp_path / "out"
    res = _invoke(*_folder_args(_good_folder(tmp_path / "data"), out))
    assert res.exit_code == 130
    assert "interrupted; finished cells are kept; re-run the same command to resume" \
        in res.stderr
    assert "interrupted by the user (Ctrl-C)" in (out / "run.log").read_text()


def test_degenerate_data_is_flagged_or_refused(tmp_path):
    from hostile_corpus import degenerate_folder

    root = degenerate_folder(tmp_path / "d", good=4, full=2, black=1)
    out = tmp_path / "out"
    res = _invoke(*_folder_args(root, out))
    assert res.exit_code == 0, res.output
    assert "warning: dataset 'folder': 3 degenerate image(s), 43% of those with a mask" \
        in res.stderr
    summary = (out / "summary.md").read_text()
    assert summary.count("degenerate mask: covers 100% of the inscribed circle") == 2
    assert "no contrast: intensity std 0.0000" in summary
    import pandas as pd

    scored = set(pd.read_parquet(out / "results.parquet").image_id)
    assert scored == {"good0", "good1", "good2"}  # max_eval 3; none from degenerate data
    only_bad = degenerate_folder(tmp_path / "bad", good=0, full=3, black=2)
    line = _error_line(_invoke(*_folder_args(only_bad, tmp_path / "o2")))
    assert "all 5 image(s) with a mask are degenerate" in line


def test_misleading_reasons_are_gone(tmp_path):
    line = _error_line(_invoke("run", "--config", "smoke", "--out", str(tmp_path / "o"),
                               "-s", "data.datasets=[]"))
    assert "no dataset given (data.datasets is empty)" in line
    (tmp_path / "empty.yaml").write_text("")
    assert "the file is empty" in _error_line(
        _invoke("run", "--config", str(tmp_path / "empty.yaml"), "--out", str(tmp_path / "o")))
    (tmp_path / "dup.yaml").write_text("ssl: {steps: 2}\nssl: {steps: 3}\n")
    assert "duplicate key 'ssl'" in _error_line(
        _invoke("run", "--config", str(tmp_path / "dup.yaml"), "--out", str(tmp_path / "o")))
    line = _error_line(_invoke("run", "--config", "smoke", "--out", str(tmp_path / "o"),
                               "-s", "sweep.thetas=0:360:90"))
    assert "0 and 360 are the same angle" in line


def test_console_never_claims_a_report_it_did_not_write(tmp_path):
    from types import SimpleNamespace

    from thetascope.run_notes import report_fresh, run_notes

    result = SimpleNamespace(out_dir=tmp_path, wall_s=5.0, datasets={})
    assert not report_fresh(result)  # no report.html at all
    assert run_notes(result) == [f"report.html was not written (see {tmp_path}/run.log); "
                                 f"`thetascope report {tmp_path}` retries it"]
    page = tmp_path / "report.html"
    page.write_text("old")
    os.utime(page, (1e9, 1e9))  # left by an earlier run
    assert not report_fresh(result)
    page.write_text("new")
    assert report_fresh(result) and run_notes(result) == []


def test_report_of_a_run_with_a_damaged_cell_is_one_line(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    cell = next(p for p in (run / "cells").iterdir() if (p / "cell.json").is_file())
    (cell / "cell.json").write_text("[]")
    line = _error_line(_invoke("report", str(run)))
    assert f"cells/{cell.name} is damaged (cell.json: " in line and "re-run the command" in line
