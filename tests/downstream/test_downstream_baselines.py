"""Issue H, second part: fine-tuned few-label segmentation, baselines and their verdict.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/downstream/test_downstream_baselines.py -q

The sweep-level checks (baseline rows stored apart, kept out of θ-curves, resumed after a
crash) reuse the smoke run of tests/downstream/test_downstream.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from thetascope.analysis.downstream_baselines import baseline_verdict
from thetascope.analysis.verdict import VERDICT_COLUMNS, VerdictSettings
from thetascope.config import apply_overrides, builtin_config_path, load_config, stable_hash
from thetascope.data.phantoms import generate
from thetascope.downstream import (
    DownstreamSettings,
    decoder_dice,
    downstream_metric_names,
    finetune_decoder,
    finetuned_dice,
    spatial_features,
    train_decoder,
)
from thetascope.ssl.backbones import create_backbone
from thetascope.sweep.baselines import plan_baselines
from thetascope.sweep.plan import cell_identity
from thetascope.sweep.runner import load_datasets

ST = DownstreamSettings(fewshot_hidden=16, fewshot_steps=60, finetune_steps=60,
                        finetune_lr=1e-4, fewshot_layer=1)


@pytest.fixture(scope="module")
def phantoms():
    """A random-init ResNet-18 and 14 chest phantoms (lung masks), 6 labelled."""
    torch.manual_seed(0)
    backbone, _ = create_backbone("resnet18", in_channels=1, image_size=32)
    imgs, masks = generate("phantom-cxr", 14, 32, seed=0)
    return backbone, torch.from_numpy(imgs[:, None].astype(np.float32)), masks


def test_finetuning_learns_a_planted_mask_at_least_as_well_as_frozen(phantoms):
    bb, x, masks = phantoms
    feats = spatial_features(bb, "resnet18", x, ST.fewshot_layer)
    frozen = decoder_dice(train_decoder(feats[:6], torch.from_numpy(masks[:6]), ST),
                          feats[6:], masks[6:])
    seg = finetune_decoder(bb, "resnet18", x[:6], torch.from_numpy(masks[:6]), ST)
    tuned = finetuned_dice(seg, x[6:], masks[6:])
    everything = np.mean([2 * m.sum() / (m.sum() + m.size) for m in masks[6:]])  # ≈ 0.25
    assert tuned > 0.7 and tuned > everything + 0.4
    assert tuned >= frozen - 0.01
    # a backbone learning rate of ~0 is the frozen decoder, number for number
    still = finetune_decoder(bb, "resnet18", x[:6], torch.from_numpy(masks[:6]),
                             DownstreamSettings(**{**ST.__dict__, "finetune_lr": 1e-12}))
    assert finetuned_dice(still, x[6:], masks[6:]) == pytest.approx(frozen, abs=1e-6)


def test_finetuning_never_touches_the_cells_model(phantoms):
    bb, x, masks = phantoms
    bb.train()
    bb.conv1.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    try:
        finetune_decoder(bb, "resnet18", x[:4], torch.from_numpy(masks[:4]),
                         DownstreamSettings(**{**ST.__dict__, "finetune_lr": 1e-2,
                                               "finetune_steps": 3}))
        after = bb.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert bb.training and not bb.conv1.weight.requires_grad
    finally:
        bb.conv1.weight.requires_grad_(True)
        bb.eval()


def test_config_names_keys_and_plan():
    cfg = load_config(builtin_config_path("smoke"))
    assert plan_baselines(cfg, {}) == []  # downstream off: no baseline cell
    on = apply_overrides(cfg, ["downstream.enabled=true", "downstream.fewshot_k=[2, 3]"])
    assert downstream_metric_names(on) == [
        "probe_accuracy", "fewshot_dice", "fewshot_dice_k3", "finetune_dice",
        "finetune_dice_k3", "linear_probe_accuracy"]
    # the baseline switches never change a θ cell's key
    fewer = apply_overrides(on, ["downstream.baselines=[random-init]",
                                 "downstream.baseline_augment=reference"])
    assert stable_hash(cell_identity(on, {}, "fp", 90.0, 0)) == \
        stable_hash(cell_identity(fewer, {}, "fp", 90.0, 0))
    small = apply_overrides(on, ["data.datasets=[{kind: mri-lesion, max_eval: 3}]",
                                 "sweep.seeds=[0, 1]"])
    ds = load_datasets(small)
    cells = plan_baselines(small, ds)
    assert [(c.seed, c.baseline) for c in cells] == [
        (0, "random-init"), (0, "theta-free"), (1, "random-init"), (1, "theta-free")]
    assert all(np.isnan(c.theta) for c in cells) and len({c.key for c in cells}) == 4
    # saliency settings do not touch a baseline; the θ-free augmentation only θ-free's key
    other = apply_overrides(small, ["saliency.samples=7", "downstream.baseline_augment="
                                    "reference", "downstream.baselines=[theta-free, "
                                    "random-init]"])
    again = {c.baseline: c.key for c in plan_baselines(other, ds) if c.seed == 0}
    first = {c.baseline: c.key for c in cells if c.seed == 0}
    assert again["random-init"] == first["random-init"]
    assert again["theta-free"] != first["theta-free"]
    with pytest.raises(ValueError, match="repeat"):
        apply_overrides(on, ["downstream.baselines=[random-init, random-init]"])


def _planted(seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """θ = 90 is best (0.7); random-init far below; θ-free as good as the best θ; the pair
    probe's θ-free baseline beats the cells at θ = 90 only."""
    rng = np.random.default_rng(0)
    thetas = [0.0, 90.0, 180.0, 270.0]
    res, base = [], []
    for s in seeds:
        best = 0.7 + 0.01 * rng.standard_normal()
        for t in thetas:
            v = best if t == 90 else 0.5 + 0.01 * rng.standard_normal()
            for m in ("fewshot_dice", "probe_accuracy"):
                res.append({"dataset": "d", "theta": t, "seed": s, "image_id": "__dataset__",
                            "metric": m, "value": v})
        base += [{"dataset": "d", "theta": np.nan, "seed": s, "baseline": "random-init",
                  "metric": "fewshot_dice", "value": 0.3 + 0.01 * rng.standard_normal()},
                 {"dataset": "d", "theta": np.nan, "seed": s, "baseline": "theta-free",
                  "metric": "fewshot_dice", "value": best + 0.02 * rng.standard_normal()}]
        base += [{"dataset": "d", "theta": t, "seed": s, "baseline": "theta-free",
                  "metric": "probe_accuracy", "value": 0.9 if t == 90 else 0.2} for t in thetas]
    return pd.DataFrame(res), pd.DataFrame(base)


def test_verdict_says_whether_the_best_theta_beats_each_baseline():
    st = VerdictSettings()
    res, base = _planted(list(range(6)))
    table = baseline_verdict(res, base, ["fewshot_dice", "probe_accuracy"], st)
    assert list(table.columns) == VERDICT_COLUMNS
    v = table.set_index("test")
    r = v.loc["beats_baseline:random-init:fewshot_dice"]
    assert r.decision == "yes" and r.statistic == pytest.approx(0.4, abs=0.03)
    assert r.ci_low > 0.3 and r.n == 6 and r.p_adjusted < 0.01
    assert r.detail.startswith("best θ beats random-init on fewshot_dice: yes")
    assert "best θ = 90°" in r.detail and "×4 θ" in r.detail
    assert v.loc["beats_baseline:theta-free:fewshot_dice"].decision == "no"
    # the θ-dependent probe is compared at the best θ, where θ-free is better: no
    p = v.loc["beats_baseline:theta-free:probe_accuracy"]
    assert p.decision == "no" and p.statistic == pytest.approx(-0.2, abs=0.03)
    assert "beats_baseline:random-init:probe_accuracy" not in v.index  # not measured


def test_verdict_with_one_seed_says_too_few_seeds():
    res, base = _planted([0])
    v = baseline_verdict(res, base, ["fewshot_dice"], VerdictSettings())
    assert len(v) == 2 and (v.decision == "not estimable").all()
    assert v.detail.str.contains("too few seeds: 1 paired seed").all()
    assert v.statistic.notna().all()  # the difference is still shown
    assert baseline_verdict(res, base.iloc[:0], ["fewshot_dice"], VerdictSettings()).empty
