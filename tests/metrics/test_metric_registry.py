"""register_metric: the contract a new metric is called with, config names, and a sweep."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from thetascope.config import ConfigError, apply_overrides, load_config
from thetascope.metrics import registry
from thetascope.metrics.chance import chance_scores
from thetascope.metrics.overlap import METRICS, score_image
from thetascope.metrics.registry import (
    get_metric,
    metric_names,
    register_metric,
    registered_metric,
    unregister_metric,
)


def peak_hit(saliency_map: np.ndarray, mask: np.ndarray) -> float:
    """1 when the map's maximum lies in the mask (a pointing game without ties)."""
    return float(mask.flat[int(np.argmax(saliency_map))])


@pytest.fixture
def valid():
    v = np.ones((6, 6), bool)
    v[0, :] = False  # the top row is outside the valid region
    return v


def test_builtins_are_registered_through_the_same_function():
    assert metric_names()[: len(METRICS)] == METRICS
    assert get_metric("dice").binarized and get_metric("mass_in_mask").with_valid
    assert {get_metric(m).origin for m in METRICS} == {"builtin"}
    with pytest.raises(ValueError, match="built-ins cannot be replaced"):
        register_metric("dice", peak_hit, replace=True)
    with pytest.raises(ValueError, match="built-in"):
        unregister_metric("iou")


def test_contract_map_zeroed_outside_valid_and_mask_inside(valid):
    seen = {}

    def spy(saliency_map, mask):
        seen["map"], seen["mask"] = saliency_map.copy(), mask.copy()
        return 0.5

    sal = np.arange(36, dtype=float).reshape(6, 6)
    gt = np.zeros((6, 6), bool)
    gt[0, 0] = gt[3, 3] = True
    with registered_metric("spy", spy):
        out = score_image(sal, gt, valid, "otsu", ["dice", "spy"])
    assert out["spy"] == 0.5 and out["mask_outside_valid"] == 0.5
    assert (seen["map"][0] == 0).all() and (seen["map"][1:] == sal[1:]).all()
    assert seen["mask"].sum() == 1 and seen["mask"][3, 3]  # ground truth ∩ valid


def test_empty_mask_is_nan_without_a_call(valid):
    calls = []
    with registered_metric("counted", lambda s, m: calls.append(1) or 1.0):
        gt = np.zeros((6, 6), bool)
        gt[0, 2] = True  # only outside the valid region
        out = score_image(np.random.default_rng(0).random((6, 6)), gt, valid, "otsu",
                          ["counted", "dice"])
    assert math.isnan(out["counted"]) and math.isnan(out["dice"]) and not calls


def test_binarized_and_with_valid_forms(valid):
    gt = np.zeros((6, 6), bool)
    gt[2:4, 2:4] = True
    sal = gt * 1.0 + 0.01
    with registered_metric("hit", lambda pred, m: float((pred & m).any()), binarized=True), \
            registered_metric("n_valid", lambda s, m, v: float(v.sum()), with_valid=True):
        out = score_image(sal, gt, valid, "topk", ["hit", "n_valid"])
    assert out == {"mask_outside_valid": 0.0, "hit": 1.0, "n_valid": 30.0}


def test_decorator_undo_and_bad_registrations():
    @register_metric("peak_hit2", about="Peak in the mask.")
    def fn(s, m):
        return peak_hit(s, m)

    try:
        assert fn is not None and get_metric("peak_hit2").about == "Peak in the mask."
        with pytest.raises(ValueError, match="already registered.*replace=True"):
            register_metric("peak_hit2", peak_hit)
    finally:
        unregister_metric("peak_hit2")
    assert "peak_hit2" not in metric_names()
    for bad in ("mask_outside_valid", "probe_accuracy"):
        with pytest.raises(ValueError, match="already a column"):
            register_metric(bad, peak_hit)
    with pytest.raises(ValueError, match="metric name"):
        register_metric("2bad", peak_hit)
    with pytest.raises(TypeError, match="must be a callable"):
        register_metric("not_fn", 3.0)
    with pytest.raises(ValueError, match="exclude each other"):
        register_metric("both", peak_hit, binarized=True, with_valid=True)


def test_a_non_number_is_refused_by_name(valid):
    gt = np.ones((6, 6), bool)
    with registered_metric("vector", lambda s, m: np.ones(3)), \
            pytest.raises(TypeError, match="metric 'vector' returned ndarray"):
        score_image(np.ones((6, 6)), gt, valid, "otsu", ["vector"])


def test_chance_levels_of_registered_metrics():
    v = np.ones((10, 10), bool)
    gt = np.zeros((10, 10), bool)
    gt[:2, :2] = True
    with registered_metric("peak_hit", peak_hit), \
            registered_metric("share_like", peak_hit, chance="share"):
        out = chance_scores(gt, v, "otsu", ["dice", "peak_hit", "share_like"], draws=2000)
        base = chance_scores(gt, v, "otsu", ["dice"], draws=2000)
    assert out["dice"] == base["dice"]  # the built-ins' draws are unchanged
    assert out["peak_hit"] == pytest.approx(0.04, abs=0.015) and out["share_like"] == 0.04
    with pytest.raises(ValueError, match="no chance level for metric 'nope'"):
        chance_scores(gt, v, "otsu", ["nope"])


def test_config_names_registered_metrics_and_lists_them_when_unknown():
    with registered_metric("peak_hit", peak_hit):
        cfg = load_config("smoke", ["metrics.names=[dice, peak_hit]",
                                    "analysis.metric=peak_hit"])
        assert cfg.metrics.names == ["dice", "peak_hit"]
        with pytest.raises(ConfigError) as err:
            load_config("smoke", ["metrics.names=[dice, peak_hti]"])
    msg = str(err.value)
    assert "metrics.names.1: unknown metric 'peak_hti'; registered: dice, dice_paper" in msg
    assert "peak_hit" in msg and "register_metric" in msg


def test_run_time_metrics_need_the_local_executor():
    from thetascope.sweep.preflight import check_registrations, runtime_registrations

    with registered_metric("peak_hit", peak_hit):
        cfg = load_config("smoke", ["metrics.names=[dice, peak_hit]"])
        assert runtime_registrations(cfg) == ["metric 'peak_hit'"]
        check_registrations(cfg)  # local: fine
        with pytest.raises(ConfigError, match=r"metric 'peak_hit'.*runtime.executor=local"):
            check_registrations(apply_overrides(cfg, ["runtime.executor=process"]))


def test_entry_point_metrics_load_on_first_lookup(monkeypatch):
    ep = SimpleNamespace(name="demo", value="demo_pkg:register", dist=None,
                         load=lambda: lambda: register_metric("from_plugin", peak_hit))
    with registry.METRIC_REGISTRY.scoped():  # undoes the plugin's registration on exit
        monkeypatch.setattr("thetascope.plugins.entry_points",
                            lambda group: [ep] if group == "thetascope.metrics" else [])
        assert registry.METRIC_REGISTRY.load_plugins() == ["demo"]
        assert get_metric("from_plugin").origin == "entry point"
    assert "from_plugin" not in metric_names()


@pytest.mark.slow
def test_registered_metric_appears_in_results_and_report(tmp_path):
    from thetascope.sweep.runner import run_experiment

    with registered_metric("peak_hit", peak_hit, label="peak hit",
                           about="1 when the map's maximum lies in the mask."):
        cfg = apply_overrides(load_config("smoke"), [
            "data.datasets=[{kind: mri-lesion, max_eval: 3}]", "sweep.thetas=[0, 90]",
            "metrics.names=[dice, peak_hit]", "runtime.threads=1", "orient.enabled=false",
            "analysis.metric=peak_hit", "analysis.permutations=99"])
        res = run_experiment(cfg, tmp_path / "run", console=Console(quiet=True))
    assert not res.failed
    df = pd.read_parquet(res.out_dir / "results.parquet")
    for model in ("trained", "untrained", "resample", "chance"):
        rows = df[(df.model == model) & (df.metric == "peak_hit")]
        assert len(rows) == 2 * 3 and rows.value.between(0, 1).all(), model
    agg = pd.read_csv(res.out_dir / "aggregate.csv")
    assert "peak_hit" in set(agg.metric)
    html = (res.out_dir / "report.html").read_text()
    assert "peak hit" in html and "1 when the map&#39;s maximum lies in the mask." in html
    assert "peak_hit" in (res.out_dir / "summary.md").read_text()
