"""Curve signatures (analysis/signatures.py): known answers on planted curves, the null, the
not-estimable cases, the verdict row, and the report / compare sections on hand-made runs.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/analysis/test_analysis_signatures.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thetascope.analysis.signatures import (
    CURVE_COLUMNS,
    SignatureSettings,
    curve_features,
    curve_signatures,
    run_signatures,
    seed_curve_table,
    signature_verdict,
)
from thetascope.analysis.verdict import VERDICT_COLUMNS

THETAS = np.arange(0.0, 360.0, 30.0)
SHAPES = {"brain": lambda t: np.cos(np.radians(t)),
          "lung": lambda t: np.cos(np.radians(2 * t)),
          "polyp": lambda t: np.cos(np.radians(4 * t))}


def _curves(models, seeds, planted: bool, noise: float = 0.05, seed: int = 0,
            names=tuple(SHAPES)) -> pd.DataFrame:
    """Long curve table; each (encoder, method) has its own level and amplitude. Planted:
    each dataset its own shape; else every curve is noise around one flat level."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (enc, meth) in enumerate(models):
        level, amp = 0.3 + 0.1 * k, 0.05 + 0.03 * k
        for s in seeds:
            for name in names:
                v = level + (amp * SHAPES[name](THETAS) if planted else 0.0)
                v = v + rng.normal(0, noise if planted else amp, len(THETAS))
                rows += [{"dataset": name, "encoder": enc, "method": meth,
                          "run": f"{enc}-{meth}", "seed": s, "metric": "dice", "theta": t,
                          "value": x} for t, x in zip(THETAS, v, strict=True)]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


MODELS = [("resnet18", "moco_v2"), ("resnet50", "moco_v2"), ("resnet18", "simclr")]


@pytest.mark.parametrize("features", ["zscore", "fourier", "zscore+fourier"])
def test_planted_shapes_are_identified_across_held_out_models(features):
    res = curve_signatures(_curves(MODELS, [0, 1], planted=True),
                           SignatureSettings(features=features, permutations=199))
    assert res.estimable and res.split == "model" and res.n_groups == 3
    assert res.n_curves == 3 * 2 * 3 and res.datasets == sorted(SHAPES)
    assert res.chance == pytest.approx(1 / 3)
    assert res.accuracy >= 0.9
    assert res.p_value <= 0.01
    conf = res.confusion
    assert list(conf.index) == list(conf.columns) == sorted(SHAPES)
    assert conf.to_numpy().sum() == res.n_curves and np.trace(conf.to_numpy()) >= 16


def test_fourier_features_ignore_a_circular_shift_of_theta():
    c = np.cos(np.radians(2 * THETAS))[None]
    shifted = np.roll(c, 1, axis=1)
    np.testing.assert_allclose(curve_features(c, "fourier"), curve_features(shifted, "fourier"),
                               atol=1e-12)
    assert not np.allclose(curve_features(c, "zscore"), curve_features(shifted, "zscore"))
    flat = curve_features(np.full((1, 5), 0.4), "zscore")
    assert np.all(flat == 0)  # a constant curve has no shape, not nan


def test_logistic_classifier_and_seed_split_on_one_model():
    curves = _curves(MODELS[:1], [0, 1, 2, 3], planted=True)
    res = curve_signatures(curves, SignatureSettings(classifier="logistic", permutations=49))
    assert res.estimable and res.split == "seed" and res.n_groups == 4
    assert res.split_label == "leave-one-seed-out"
    assert res.accuracy >= 0.9 and res.p_value <= 0.04


def test_curves_from_one_distribution_stay_at_chance():
    accs, ps = [], []
    for rep in range(6):
        res = curve_signatures(_curves(MODELS, [0, 1, 2], planted=False, seed=rep),
                               SignatureSettings(permutations=199, seed=rep))
        accs.append(res.accuracy)
        ps.append(res.p_value)
    assert abs(np.mean(accs) - 1 / 3) < 0.12, accs
    assert sum(p <= 0.05 for p in ps) <= 1, ps
    assert np.median(ps) > 0.2, ps


def test_raw_features_see_the_level_zscore_does_not():
    """Datasets differing only in level: raw features find them, z-scored ones cannot."""
    c = _curves(MODELS, [0, 1], planted=False, seed=3)
    c["value"] += c["dataset"].map({"brain": 0.0, "lung": 1.0, "polyp": 2.0})
    raw = curve_signatures(c, SignatureSettings(features="raw", permutations=99))
    z = curve_signatures(c, SignatureSettings(features="zscore", permutations=99))
    assert raw.accuracy == 1.0 and raw.p_value <= 0.02
    assert z.accuracy < 0.7 and z.p_value > 0.05


@pytest.mark.parametrize("case, reason", [
    ("one_dataset", "≥ 2 datasets"),
    ("one_seed", "nothing to hold out"),
    ("two_thetas", "≥ 3 θ"),
    ("dataset_in_one_group", "fewer than 2 datasets"),
])
def test_not_estimable_cases_say_why(case, reason):
    c = _curves(MODELS[:1], [0, 1], planted=True)
    if case == "one_dataset":
        c = c[c.dataset == "brain"]
    elif case == "one_seed":
        c = c[c.seed == 0]
    elif case == "two_thetas":
        c = c[c.theta.isin([0.0, 30.0])]
    else:  # only brain has curves in both seeds
        c = c[(c.dataset == "brain") | (c.seed == 0)]
    res = curve_signatures(c, SignatureSettings(permutations=99))
    assert not res.estimable and reason in res.reason, res.reason
    assert np.isnan(res.accuracy) and np.isnan(res.p_value)
    row = signature_verdict(res)
    assert list(row.columns) == VERDICT_COLUMNS
    assert row.decision.iloc[0] == "not estimable" and reason in row.detail.iloc[0]
    if case == "dataset_in_one_group":
        assert any("left out" in n for n in res.notes)


def test_small_relabelling_space_is_noted_and_metric_must_be_named():
    c = _curves(MODELS[:1], [0, 1], planted=True, noise=0.01, names=("brain", "lung"))
    res = curve_signatures(c, SignatureSettings(permutations=99))
    # 2 datasets × 2 seeds: 4 relabellings, 2 of them renamings -> p ≥ 1/2 however good
    assert res.accuracy == 1.0 and res.n_relabellings == pytest.approx(4)
    assert res.p_floor == pytest.approx(0.5) and res.p_value >= 0.4
    assert any("cannot fall below about 0.5" in n for n in res.notes)
    row = signature_verdict(res).iloc[0]  # a design that can never reject is not a "no"
    assert row.decision == "not estimable" and "underpowered" in row.detail
    from thetascope.report.signature_section import signature_block

    assert signature_block(res, 0.05)["decision"] == "not estimable (underpowered)"  # = page
    three = curve_signatures(_curves(MODELS[:1], [0, 1], planted=True),
                             SignatureSettings(permutations=999))
    assert three.p_floor == pytest.approx(1 / 6) and three.p_value > 0.1
    two = pd.concat([c, c.assign(metric="iou")])
    with pytest.raises(ValueError, match="several metrics"):
        curve_signatures(two)
    assert curve_signatures(two, SignatureSettings(permutations=99), metric="iou").estimable
    with pytest.raises(ValueError, match="unknown signature features"):
        SignatureSettings(features="wavelet")


def _results(curves: pd.DataFrame, n_images: int = 3, seed: int = 0) -> pd.DataFrame:
    """Per-image results whose image means are the given curves."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in curves.itertuples():
        jitter = rng.normal(0, 0.01, n_images)
        for i, j in enumerate(jitter - jitter.mean()):
            rows.append({"dataset": r.dataset, "theta": r.theta, "seed": r.seed,
                         "image_id": f"{r.dataset}-{i}", "metric": "dice",
                         "value": r.value + j, "cell": f"{r.dataset}-{r.theta}-{r.seed}"})
    return pd.DataFrame(rows)


def test_seed_curve_table_is_the_image_mean_per_seed():
    c = _curves(MODELS[:1], [0, 1], planted=True)
    table = seed_curve_table(_results(c), "dice", "resnet18", "moco_v2", "r")
    assert list(table.columns) == CURVE_COLUMNS and len(table) == len(c)
    merged = table.merge(c, on=["dataset", "seed", "theta"])
    np.testing.assert_allclose(merged.value_x, merged.value_y, atol=1e-9)
    assert seed_curve_table(pd.DataFrame(), "dice").empty


def _cfg(encoder: str, extra=(), seeds=(0, 1)):
    from thetascope.config import load_config

    return load_config("smoke", [f"ssl.encoder={encoder}", f"sweep.seeds={list(seeds)}",
                                 "sweep.thetas=0:330:30", "analysis.permutations=99",
                                 "analysis.bootstrap=100", "analysis.surrogates=99",
                                 "analysis.signature_permutations=199", "orient.enabled=false",
                                 *extra])


def _run_folder(root, encoder: str, planted: bool, k: int, seeds=(0, 1), rename=None):
    """A finished-looking run folder (config, results, aggregate) without training."""
    from thetascope.analysis.curves import aggregate
    from thetascope.config import dump_config, fingerprint

    cfg = _cfg(encoder, seeds=seeds)
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(f"# thetascope resolved config; fingerprint "
                                      f"{fingerprint(cfg)}\n" + dump_config(cfg))
    res = _results(_curves([MODELS[k]], list(seeds), planted, seed=k), seed=k)
    res["dataset"] = res["dataset"].replace(rename or {})
    res.to_parquet(root / "results.parquet", index=False)
    aggregate(res, "dice", n_boot=50).to_csv(root / "aggregate.csv", index=False)
    return cfg, res


def test_run_stage_writes_a_curve_signature_verdict_row(tmp_path):
    from thetascope.report.verdict_table import headline
    from thetascope.sweep.orient_stage import run_analysis_stage

    cfg, res = _run_folder(tmp_path / "run", "resnet18", planted=True, k=0,
                           seeds=(0, 1, 2, 3))
    stage = run_analysis_stage(cfg, tmp_path / "run", dict.fromkeys(SHAPES), res)
    v = pd.read_parquet(tmp_path / "run" / "verdict.parquet")
    row = v[v.test == "curve_signature"]
    assert len(row) == 1 and row.dataset.iloc[0] == "all"
    assert row.decision.iloc[0] == "yes" and row.statistic.iloc[0] >= 0.75
    assert "leave-one-seed-out" in row.statistic_name.iloc[0]
    assert "confusion (true → predicted)" in row.detail.iloc[0]
    assert stage.verdict is not None and (stage.verdict.test == "curve_signature").any()
    # the report's section recomputes exactly the verdict row
    direct = run_signatures(res, cfg)
    assert direct.accuracy == row.statistic.iloc[0] and direct.p_value == row.p_value.iloc[0]
    assert headline(v, "all")["dataset identifiable from its curve"].startswith("yes")
    off = _cfg("resnet18", ["analysis.signatures=false"], seeds=(0, 1, 2, 3))
    run_analysis_stage(off, tmp_path / "run", dict.fromkeys(SHAPES), res)
    assert "curve_signature" not in set(pd.read_parquet(tmp_path / "run" / "verdict.parquet")
                                        .test)


def test_report_and_compare_show_the_section(tmp_path):
    from thetascope.cli import app
    from thetascope.report.html import write_report

    evil = {"brain": "<b>brain</b>"}
    _run_folder(tmp_path / "a", "resnet18", planted=True, k=0, rename=evil)
    _run_folder(tmp_path / "b", "resnet50", planted=True, k=1, rename=evil)
    _run_folder(tmp_path / "n1", "resnet18", planted=False, k=0)
    _run_folder(tmp_path / "n2", "resnet50", planted=False, k=1)
    page = write_report(tmp_path / "a", datasets={}).read_text(encoding="utf-8")
    assert 'id="signatures"' in page and "leave-one-seed-out" in page
    out = tmp_path / "cmp.html"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert 'id="signatures"' in page and "leave-one-(encoder, method)-out" in page
    assert "true \\ predicted" in page and 'class="dec-yes">yes' in page
    assert "<b>brain</b>" not in page and "<th>&lt;b&gt;brain&lt;/b&gt;</th>" in page
    null = tmp_path / "null.html"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "n1"), str(tmp_path / "n2"),
                                   "--out", str(null)])
    assert res.exit_code == 0, res.output
    assert 'class="dec-no">no' in null.read_text(encoding="utf-8")
    one = tmp_path / "one.html"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), "--out", str(one)])
    assert res.exit_code == 0 and "leave-one-seed-out" in one.read_text(encoding="utf-8")


def test_auto_split_falls_back_from_models_to_runs_to_seeds():
    c = _curves(MODELS[:1], [0, 1, 2], planted=True, noise=0.01)
    two_runs = pd.concat([c, c.assign(run="again", seed=c.seed + 10)])
    st = SignatureSettings(permutations=99)
    assert curve_signatures(two_runs, st).split == "run"
    assert curve_signatures(c, st).split == "seed"
    forced = curve_signatures(c, SignatureSettings(split="model", permutations=99))
    assert not forced.estimable and "split 'model'" in forced.reason
