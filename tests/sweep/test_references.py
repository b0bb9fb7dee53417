"""The reference cells (sweep/references.py): every kind at every θ, through exactly the
pipeline of a trained cell, keyed apart from training, grouped by source volume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from thetascope.config import load_config
from thetascope.data.registry import create_dataset
from thetascope.sweep.cell import build_model, run_cell
from thetascope.sweep.plan import Cell, plan_cells
from thetascope.sweep.references import plan_references, reference_identity, run_reference

OVERRIDES = ["data.datasets=[{kind: mri-lesion, max_eval: 3}]", "data.image_size=32",
             "saliency.samples=2", "saliency.gallery_images=2", "sweep.thetas=[0, 45, 90]",
             "sweep.seeds=[0]", "ssl.batch_size=8", "ssl.steps=2"]


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    cfg = load_config(None, OVERRIDES)
    ds = create_dataset(cfg.data.datasets[0], cfg.data)
    cell = plan_references(cfg, {ds.name: ds})[0]
    return cfg, ds, cell, run_reference(cell, ds, cfg)


def test_every_kind_at_every_theta(setup):
    cfg, ds, cell, out = setup
    rows = out.rows
    assert set(rows.model) == {"untrained", "resample", "chance"}
    for model, g in rows.groupby("model"):
        assert sorted(g.theta.unique()) == [0.0, 45.0, 90.0], model
        assert set(g.image_id) == {s.id for s in ds.eval}
        assert set(g.metric) >= {"dice", "iou", "pointing_game", "mass_in_mask"}
    # slices of one volume share a group; the group column is the volume
    assert set(rows.group) == {s.meta["volume"] for s in ds.eval}
    assert out.maps["untrained"].shape[:2] == (3, 2)  # (θ, gallery images)


def test_untrained_rows_are_a_cell_without_training(setup):
    """The untrained reference at θ equals a cell that loads the seed's initial weights and
    skips training (the probe path): the same pair, SmoothGrad, rotate-back and scoring."""
    cfg, ds, _, out = setup
    init = build_model(cfg, len(ds.ssp), 0).state_dict()
    cell = next(c for c in plan_cells(cfg, {ds.name: ds}) if c.theta == 45.0)
    trained_path = run_cell(cell, ds, cfg, pretrained=(init, []))
    a = trained_path.rows.set_index(["image_id", "metric"])["value"]
    u = out.rows[(out.rows.model == "untrained") & (out.rows.theta == 45.0)]
    b = u.set_index(["image_id", "metric"])["value"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_names=False)


def test_resample_at_zero_equals_untrained_and_chance_is_the_mask_share(setup):
    _, ds, _, out = setup
    r = out.rows

    def at(model, theta, metric):
        d = r[(r.model == model) & (r.theta == theta) & (r.metric == metric)]
        return d.set_index("image_id")["value"].sort_index()

    pd.testing.assert_series_equal(at("resample", 0.0, "dice"), at("untrained", 0.0, "dice"))
    from thetascope.geometry import circle_mask

    valid = circle_mask(32, 32).numpy()
    share = {s.id: (s.mask & valid).sum() / valid.sum() for s in ds.eval}
    got = at("chance", 45.0, "mass_in_mask")
    np.testing.assert_allclose(got.to_numpy(), [share[i] for i in got.index])


def test_keys_ignore_training_and_follow_the_grid():
    cfg = load_config(None, OVERRIDES)
    ds = create_dataset(cfg.data.datasets[0], cfg.data)
    spec = cfg.data.datasets[0].model_dump(mode="json")
    key = reference_identity(cfg, spec, ds.fingerprint(), 0)
    longer = load_config(None, [*OVERRIDES, "ssl.steps=50", "ssl.lr=0.1"])
    assert reference_identity(longer, spec, ds.fingerprint(), 0) == key
    other = load_config(None, [*OVERRIDES, "sweep.thetas=[0, 30]"])
    assert reference_identity(other, spec, ds.fingerprint(), 0) != key
    none = load_config(None, [*OVERRIDES, "sweep.references=[]"])
    assert plan_references(none, {ds.name: ds}) == []
    assert isinstance(plan_references(cfg, {ds.name: ds})[0], Cell)


def test_grouped_bootstrap_is_wider_when_volumes_share_noise():
    """Two volumes of four slices whose slices share their volume's offset: resampling
    volumes gives a wider interval than resampling slices as if independent."""
    from thetascope.analysis.curves import crossed_bootstrap_ci

    rng = np.random.default_rng(0)
    vol = np.repeat(rng.normal(0, 1, 2), 4)
    v = vol[None, :] + 0.05 * rng.standard_normal((3, 8))
    _, lo_i, hi_i = crossed_bootstrap_ci(v)
    _, lo_g, hi_g = crossed_bootstrap_ci(v, groups=list("aaaabbbb"))
    assert (hi_g - lo_g) > 1.5 * (hi_i - lo_i)


def test_fewshot_split_is_grouped():
    from thetascope.downstream.fewshot import fewshot_splits
    from thetascope.downstream.settings import DownstreamSettings

    groups = ["a", "a", "a", "b", "b", "c", "c", "c"]
    st = DownstreamSettings.from_config(load_config(None, ["downstream.fewshot_k=[2, 4]"]))
    for _k, _name, tr, te, note in fewshot_splits(len(groups), st, groups=groups):
        assert not note
        assert not {groups[i] for i in tr} & {groups[i] for i in te}
    one = fewshot_splits(3, st, groups=["a", "a", "a"])
    assert all(tr is None and "no held-out group" in note for _k, _n, tr, _te, note in one)
