import numpy as np
import pandas as pd
import pytest

from thetascope.analysis.curves import aggregate, crossed_bootstrap_ci, seed_curves


def test_constant_values_give_degenerate_ci():
    m, lo, hi = crossed_bootstrap_ci(np.full((2, 5), 0.3))
    assert m == pytest.approx(0.3) and lo == pytest.approx(0.3) and hi == pytest.approx(0.3)


def test_ci_contains_mean_and_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    small = rng.normal(0.5, 0.1, size=(2, 5))
    big = rng.normal(0.5, 0.1, size=(2, 200))
    m1, lo1, hi1 = crossed_bootstrap_ci(small)
    m2, lo2, hi2 = crossed_bootstrap_ci(big)
    assert lo1 <= m1 <= hi1 and lo2 <= m2 <= hi2
    assert (hi2 - lo2) < (hi1 - lo1)


def test_nan_cells_ignored_and_all_nan():
    v = np.array([[0.2, np.nan], [0.4, np.nan]])
    m, lo, hi = crossed_bootstrap_ci(v)
    assert m == pytest.approx(0.3)
    assert np.isnan(crossed_bootstrap_ci(np.full((1, 3), np.nan))[0])


def test_aggregate_table():
    rows = []
    for theta in (0.0, 90.0):
        for seed in (0, 1):
            for img in ("a", "b"):
                rows.append({"dataset": "d", "theta": theta, "seed": seed, "image_id": img,
                             "metric": "dice", "value": theta / 180 + seed * 0.1})
    df = pd.DataFrame(rows)
    agg = aggregate(df, "dice", n_boot=200)
    assert list(agg.theta) == [0.0, 90.0]
    assert agg["mean"].tolist() == pytest.approx([0.05, 0.55])
    assert (agg.n_images == 2).all() and (agg.n_seeds == 2).all() and (agg.n == 4).all()
    sc = seed_curves(df, "dice")
    assert len(sc) == 4
