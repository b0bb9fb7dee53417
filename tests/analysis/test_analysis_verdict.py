"""Known answer for the whole stage: a synthetic dataset whose score follows each image's
orientation self-overlap (a shortcut) must be detected; one whose score depends on θ in
a way unrelated to orientation must not. Also the files, the summary section and the CLI
``orient`` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from thetascope.cli import app
from thetascope.config import ConfigError, config_from_dict
from thetascope.data.sample import LoadedDataset, Sample
from thetascope.orient.histograms import orientation_histograms, self_overlap
from thetascope.report.verdict_table import print_verdict, verdict_markdown
from thetascope.sweep.orient_stage import orient_config, run_analysis_stage

SIZE, N_IMG, SEEDS = 64, 10, [0, 1, 2]
THETAS = [float(t) for t in range(0, 360, 30)]


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    """Checkerboards of varying strength over isotropic blobs: every image has 4-fold
    orientation structure, of its own strength, so S(θ) differs between images."""
    rows, cols = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    out = []
    for _ in range(n):
        p, w = rng.uniform(10, 16), rng.uniform(0.1, 1.0)
        board = (np.sin(2 * np.pi * (cols / p + rng.random())) > 0) ^ (
            np.sin(2 * np.pi * (rows / p + rng.random())) > 0)
        blobs = sum(np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 60.0)
                    for cy, cx in rng.uniform(-20, 20, (6, 2)))
        img = w * gaussian_filter(board.astype(float), 1.0) + (1 - w) * blobs
        out.append((img - img.min()) / (np.ptp(img) + 1e-9))
    return np.stack(out).astype(np.float32)


def _dataset(name: str, imgs: np.ndarray) -> LoadedDataset:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[20:40, 20:40] = True
    samples = [Sample(np.repeat(im[None], 3, 0), mask, f"{name}_{i}") for i, im in
               enumerate(imgs)]
    return LoadedDataset(name, "synthetic-test", True, samples, samples[:N_IMG])


def _scores(name: str, imgs: np.ndarray, shortcut: bool, rng) -> pd.DataFrame:
    s_img = self_overlap(orientation_histograms(imgs[:N_IMG]), THETAS, 5.0)  # (I, T)
    th = np.radians(THETAS)
    if shortcut:  # each image's score follows its own S(θ)
        base = 0.2 + 0.6 * (s_img - s_img.mean())
    else:  # θ matters (3-fold), but not through orientation
        base = 0.2 + 0.08 * np.cos(3 * th + 0.5)[None].repeat(N_IMG, 0)
    vals = (base[None] + 0.01 * rng.standard_normal((len(SEEDS), 1, len(THETAS)))
            + 0.02 * rng.standard_normal((len(SEEDS), N_IMG, len(THETAS))))
    rows = [(name, t, s, f"{name}_{i}", "dice", vals[k, i, j]) for k, s in enumerate(SEEDS)
            for i in range(N_IMG) for j, t in enumerate(THETAS)]
    return pd.DataFrame(rows, columns=["dataset", "theta", "seed", "image_id", "metric",
                                       "value"])


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("verdict")
    (out / "figures").mkdir()
    imgs = {"shortcut": _images(rng, 24), "no-shortcut": _images(rng, 24)}
    datasets = {n: _dataset(n, im) for n, im in imgs.items()}
    results = pd.concat([_scores(n, im, n == "shortcut", rng) for n, im in imgs.items()])
    cfg = config_from_dict({
        "sweep": {"thetas": THETAS, "seeds": SEEDS},
        "orient": {"svm_n_train": 12, "svm_n_test": 12, "svm_thetas": "0:330:30",
                   "svm_cv_folds": 3, "svm_c": [1, 10], "svm_gamma": [0.01, 0.1]},
        "analysis": {"permutations": 999, "bootstrap": 300},
    })
    return out, run_analysis_stage(cfg, out, datasets, results)


def _decision(v: pd.DataFrame, dataset: str, test: str) -> str:
    return v[(v.dataset == dataset) & (v.test == test)].decision.iloc[0]


def test_shortcut_detected_and_absent_one_not(stage):
    _, st = stage
    v = st.verdict
    assert _decision(v, "shortcut", "orientation_predicts") == "yes"
    assert _decision(v, "shortcut", "predicts:self_overlap:image") == "yes"
    assert _decision(v, "shortcut", "theta_effect") == "yes"
    assert _decision(v, "no-shortcut", "orientation_predicts") == "no"
    assert _decision(v, "no-shortcut", "theta_effect") == "yes"
    assert _decision(v, "no-shortcut", "periodicity") == "period 120°"
    row = v[(v.dataset == "shortcut") & (v.test == "predicts:self_overlap:image")].iloc[0]
    assert row.statistic > 0.5 and row.ci_low > 0 and row.correction == "holm"
    assert row.p_adjusted >= row.p_value


def test_stage_writes_tables_figures_and_summary(stage):
    out, st = stage
    for name in ("verdict", "orient_histograms", "orient_overlap", "orient_svm",
                 "analysis_spectrum", "analysis_peaks"):
        assert (out / f"{name}.parquet").is_file(), name
    v = pd.read_parquet(out / "verdict.parquet")
    assert {"dataset", "test", "statistic", "p_value", "p_adjusted", "ci_low", "ci_high",
            "decision"} <= set(v.columns)
    per_dataset = v[v.dataset != "all"]
    # no untrained reference and no losses here: training, θ effect, periodicity, its
    # margin, seed stability, 3 predictor tests and the summary row, per dataset
    assert len(per_dataset) == 2 * 9
    assert set(per_dataset[per_dataset.test == "training"].decision) == {"not tested"}
    assert "raw trained curve (no untrained reference)" in \
        per_dataset[per_dataset.test == "theta_effect"].detail.iloc[0]
    assert list(v[v.dataset == "all"].test) == ["curve_signature"]  # across the 2 datasets
    names = {p.name for p in st.figures}
    assert {"orient_polar.png", "orient_curves.png", "hog_example.png",
            "score_vs_orientation.png"} <= names
    svm = pd.read_parquet(out / "orient_svm.parquet")
    assert set(svm.theta) == set(THETAS) and svm.accuracy.between(0, 1).all()
    md = "\n".join(verdict_markdown(v))
    assert "## Verdict" in md and "orientation predicts dice: yes" in md
    console = Console(record=True, width=200)
    print_verdict(console, v)
    assert "θ matters" in console.export_text()


def test_orient_target_resolution_and_cli(tmp_path):
    assert orient_config("phantom-polyp", []).data.datasets[0].kind == "phantom-polyp"
    assert orient_config("smoke", []).name == "smoke"
    with pytest.raises(ConfigError, match="neither a config file"):
        orient_config("no-such-thing", [])
    res = CliRunner().invoke(app, [
        "orient", "phantom-polyp", "--out", str(tmp_path),
        "-s", "data.image_size=32", "-s", "data.datasets=[{kind: phantom-polyp, count: 12}]",
        "-s", "orient.svm_n_train=6", "-s", "orient.svm_n_test=4",
        "-s", "orient.svm_thetas=[0, 90]", "-s", "orient.svm_cv_folds=2"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "orient_overlap.parquet").is_file()
    assert (tmp_path / "figures" / "orient_polar.png").is_file()
    bad = CliRunner().invoke(app, ["orient", "no-such-thing"])
    assert bad.exit_code == 2
