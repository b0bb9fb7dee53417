"""Issue H: downstream evaluation per θ and its relation to the saliency score curve."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console

import thetascope.analysis.downstream as adown
from thetascope.analysis.cube import Cube
from thetascope.analysis.predictors import Association
from thetascope.analysis.verdict import VERDICT_COLUMNS, VerdictSettings
from thetascope.config import apply_overrides, builtin_config_path, load_config, stable_hash
from thetascope.data.sample import Sample
from thetascope.downstream import (
    DownstreamSettings,
    decoder_dice,
    downstream_metric_names,
    fewshot_metric,
    grouped_split,
    linear_probe,
    pair_features,
    train_decoder,
    train_pair_probe,
)
from thetascope.sweep.plan import cell_identity
from thetascope.sweep.runner import run_experiment
from thetascope.sweep.store import ResultStore

TINY = DownstreamSettings(hidden=(32, 32, 16, 16, 8), epochs=20, batch_size=32,
                          fewshot_hidden=8, fewshot_steps=150)


def test_pair_probe_beats_chance_on_a_planted_task():
    torch.manual_seed(0)
    n, d = 200, 16
    a = torch.randn(n, d)
    pos = pair_features(a, a + 0.1 * torch.randn(n, d), "absdiff")  # (image, its rotation)
    neg = pair_features(a, torch.randn(n, d), "absdiff")  # (image, another image)
    x = torch.cat([pos, neg])
    y = torch.cat([torch.ones(n), torch.zeros(n)]).long()
    perm = torch.randperm(2 * n)
    x, y = x[perm], y[perm]
    acc = train_pair_probe(x[:320], y[:320], x[320:], y[320:], TINY)
    assert acc > 0.8
    # no signal -> near chance (the test above can fail)
    rnd = train_pair_probe(torch.randn(320, d), y[:320], torch.randn(80, d), y[320:], TINY)
    assert rnd < 0.7


def test_decoder_learns_a_planted_mask():
    rng = np.random.default_rng(0)
    n, size, h = 10, 32, 8
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        r, c = rng.integers(4, 20, size=2)
        masks[i, r:r + 10, c:c + 10] = True
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(masks[:, None]).float(), size // h)
    feats = torch.cat([small, torch.randn(n, 3, h, h) * 0.3], 1)  # channel 0: the mask
    dec = train_decoder(feats[:4], torch.from_numpy(masks[:4]), TINY)
    dice = decoder_dice(dec, feats[4:], masks[4:])
    everything = np.mean([2 * m.sum() / (m.sum() + m.size) for m in masks[4:]])
    assert dice > 0.7 and dice > everything + 0.4  # an all-foreground guess scores ~0.2
    # features without the mask cannot reach that
    noise = torch.randn(n, 4, h, h)
    dec0 = train_decoder(noise[:4], torch.from_numpy(masks[:4]), TINY)
    assert decoder_dice(dec0, noise[4:], masks[4:]) < dice - 0.3


def test_grouped_split_keeps_groups_whole_and_linear_probe_skips_one_class():
    groups = [f"v{i // 3}" for i in range(30)]
    train, test = grouped_split(groups, 0.2, seed=1)
    assert not set(np.array(groups)[train]) & set(np.array(groups)[test])
    assert test.sum() == 6
    img = np.zeros((3, 8, 8), np.float32)
    all_pos = [Sample(img, np.ones((8, 8), bool), f"s{i}") for i in range(8)]
    acc, note = linear_probe(torch.nn.Flatten(), all_pos, TINY)
    assert acc is None and "positive" in note


def test_downstream_stays_out_of_cell_keys_unless_enabled():
    cfg = load_config(builtin_config_path("smoke"))
    off = stable_hash(cell_identity(cfg, {}, "fp", 90.0, 0))
    assert "downstream" not in cell_identity(cfg, {}, "fp", 90.0, 0)
    on = apply_overrides(cfg, ["downstream.enabled=true"])
    assert stable_hash(cell_identity(on, {}, "fp", 90.0, 0)) != off
    assert downstream_metric_names(cfg) == []
    assert fewshot_metric(8, [4, 8]) == "fewshot_dice_k8"


def test_relation_reuses_curve_association(monkeypatch):
    calls = []
    real = adown.curve_association

    def spy(*args, **kw) -> Association:
        calls.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(adown, "curve_association", spy)
    th = np.arange(0.0, 360.0, 30.0)
    wave = np.cos(np.deg2rad(2 * th))
    rng = np.random.default_rng(0)
    cube = Cube(wave[None, None, :] + 0.01 * rng.standard_normal((2, 5, len(th))), [0, 1],
                [f"i{k}" for k in range(5)], th)
    rows = [{"dataset": "d", "theta": t, "seed": s, "image_id": "__dataset__",
             "metric": "probe_accuracy", "value": 0.7 + 0.2 * w}
            for s in (0, 1) for t, w in zip(th, wave, strict=True)]
    table = adown.downstream_verdict(pd.DataFrame(rows), {"d": cube}, ["probe_accuracy"],
                                     VerdictSettings(bootstrap=100, surrogates=99))
    assert calls and list(table.columns) == VERDICT_COLUMNS
    row = table[table.test == "dice_predicts:probe_accuracy"].iloc[0]
    assert row.statistic > 0.99 and row.decision == "yes"
    summ = table[table.test == "dice_predicts_downstream"].iloc[0]
    assert "predicts downstream quality: yes" in summ.detail


@pytest.fixture(scope="module")
def downstream_run(tmp_path_factory):
    # both volumes' lesion slices: the few-shot split is grouped by volume (issue I)
    cfg = apply_overrides(load_config(builtin_config_path("smoke")), [
        "data.datasets=[{kind: mri-lesion, max_eval: 10}]",
        "sweep.thetas=[0, 72, 144, 216, 288]", "runtime.threads=1", "orient.enabled=false",
        "downstream.enabled=true", "downstream.fewshot_k=[2]", "downstream.probe_epochs=3",
        "downstream.probe_hidden=[16, 16, 8, 8, 8]", "downstream.fewshot_steps=20",
        "downstream.finetune_steps=10",
        "analysis.permutations=99", "analysis.bootstrap=100", "analysis.surrogates=99",
        "analysis.predictors=[]", "metrics.bootstrap=100"])
    return run_experiment(cfg, tmp_path_factory.mktemp("down"), console=Console(quiet=True))


@pytest.mark.slow
def test_smoke_sweep_writes_downstream_rows_aggregate_and_verdict(downstream_run):
    res = downstream_run
    down = res.results[res.results.image_id == "__dataset__"]
    for m in ("probe_accuracy", "fewshot_dice", "finetune_dice", "linear_probe_accuracy"):
        vals = down[down.metric == m]
        assert len(vals) == 5, m  # one per θ
        assert vals.value.between(0, 1).all()
        assert m in set(res.aggregate.metric)
    v = pd.read_parquet(res.out_dir / "verdict.parquet")
    summ = v[v.test == "dice_predicts_downstream"]
    assert len(summ) == 1 and "predicts downstream quality" in summ.detail.iloc[0]
    assert len(v[v.test.str.startswith("dice_predicts:")]) == 4
    key = res.results.cell.iloc[0]
    notes = ResultStore(res.out_dir).read_meta(key)["downstream_notes"]
    assert "held-out" in notes["linear_probe_accuracy"]


@pytest.mark.slow
def test_baseline_rows_are_stored_apart_and_kept_out_of_theta_curves(downstream_run):
    res = downstream_run
    assert res.baselines is not None
    b = pd.read_parquet(res.out_dir / "baselines.parquet")
    assert set(b.baseline) == {"random-init", "theta-free"}
    assert not set(b.cell) & set(res.results.cell)  # own keys, own folder
    assert "baseline" not in res.results and res.results.theta.notna().all()
    for kind in ("random-init", "theta-free"):
        d = b[b.baseline == kind]
        # θ-independent metrics once (θ NaN); the pair probe at every sweep θ
        for m in ("fewshot_dice", "finetune_dice", "linear_probe_accuracy"):
            assert len(d[d.metric == m]) == 1 and d[d.metric == m].theta.isna().all(), m
        assert sorted(d[d.metric == "probe_accuracy"].theta) == [0, 72, 144, 216, 288]
        assert d.value.between(0, 1).all()
    # the aggregate (θ-curves) holds the θ cells only: 5 θ per metric, no NaN θ
    agg = res.aggregate[res.aggregate.metric == "fewshot_dice"]
    assert len(agg) == 5 and agg.theta.notna().all()
    v = pd.read_parquet(res.out_dir / "verdict.parquet")
    beats = v[v.test.str.startswith("beats_baseline:")]
    assert len(beats) == 2 * 4  # 2 baselines × 4 metrics
    assert (beats.decision == "not estimable").all()  # one seed: says so
    assert beats.detail.str.contains("too few seeds").all()
    html = (res.out_dir / "report.html").read_text()
    assert "baseline random init" in html and "best θ beats the baselines" in html
    # side by side: saliency score and each downstream metric, and whether they agree
    side = html[html.index('<section id="downstream">'):]
    side = side[:side.index("</section>")]
    assert "Dice (saliency)" in side and "probe_accuracy" in side and "fewshot_dice" in side
    assert "predicts downstream quality" in side and "best θ beats a baseline" in side


@pytest.mark.slow
def test_baseline_cells_survive_a_crash_and_resume(downstream_run):
    import json

    out = downstream_run.out_dir
    bdir = out / "baselines"
    keys = sorted(p.name for p in bdir.iterdir() if (p / "cell.json").is_file())
    assert len(keys) == 2
    kept = json.loads((bdir / keys[0] / "cell.json").read_text())["finished"]
    lost = sorted(pd.read_parquet(bdir / keys[1] / "rows.parquet").value)
    shutil.rmtree(bdir / keys[1])  # as if the run died while computing it ...
    (bdir / f".tmp-{keys[1]}-999").mkdir()  # ... with a half-written folder left behind
    cfg = load_config(out / "config.yaml")
    again = run_experiment(cfg, out, console=Console(quiet=True))
    assert again.n_ran == 0  # every θ cell reused
    assert json.loads((bdir / keys[0] / "cell.json").read_text())["finished"] == kept
    assert (bdir / keys[1] / "cell.json").is_file() and not list(bdir.glob(".tmp-*"))
    assert sorted(pd.read_parquet(bdir / keys[1] / "rows.parquet").value) == \
        pytest.approx(lost)  # recomputed, the same numbers
    assert set(pd.read_parquet(out / "baselines.parquet").cell) == set(keys)
