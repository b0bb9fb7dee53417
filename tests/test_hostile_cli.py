"""Hostile inputs through the real command line: a clear line and exit 2 for what must stop
the run, a counted skip listed in summary.md for what need not; never a traceback
unless ``--debug`` asks for one.

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

pytestmark = pytest.mark.slow
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


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = evil_checkpoint(tmp_path / "evil.pth", marker)
    res = _thetascope("run", "--config", "smoke", "--out", str(tmp_path / "out"), *TINY,
                      "-s", "ssl.batch_size=8", "-s", f"ssl.weights={evil}")
    line = _one_error_line(res)
    assert "evil.pth: not a loadable weights-only checkpoint" in line
    assert not marker.exists()


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


def test_inspect_lists_the_problems(corpus, tmp_path):
    res = _thetascope("data", "inspect", str(corpus), "--out", str(tmp_path), "--image-size",
                      "32")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "image too large: 2" in res.stdout and "outside the data root: 1" in res.stdout
    assert (tmp_path / "contact_data.png").is_file()
