"""The calibration harness (analysis/calibration.py, benchmarks/calibration.py): designs,
simulated cubes with the stated noise structure, and counts through the real verdict."""

from __future__ import annotations

import numpy as np

from thetascope.analysis.calibration import (
    QUESTIONS,
    Design,
    binomial_ci,
    calibrate,
    default_designs,
    simulate,
)
from thetascope.analysis.cube import difference_cube


def test_designs_cover_the_issue():
    names = [d.name for d in default_designs()]
    for part in ("independent", "smooth30", "smooth60", "theta0-offset", "generic-both",
                 "ramp-trained", "effect 0.5SD p90", "effect 1SD p180", "2s×8i/2g",
                 "5s×32i/8g"):
        assert any(part in n for n in names), part
    assert len(names) == 44
    assert all("wrong_period" in d.null for d in default_designs())


def test_simulated_difference_has_unit_sd_and_the_planted_effect():
    d = Design("x", 40, 32, 8, "smooth60", effect=1.0, period=90.0,
               thetas=tuple(float(t) for t in range(0, 360, 30)))
    t, u = simulate(d, np.random.default_rng(0))
    diff = difference_cube(t, u)
    assert t.values.shape == (40, 32, 12) and len(set(t.groups)) == 8
    resid = diff.values - diff.values.mean(axis=(0, 1), keepdims=True)
    assert 0.8 < resid.std() < 1.2  # one SD of a trained − untrained value
    curve = diff.mean_curve
    assert np.corrcoef(curve, np.cos(np.radians(4 * diff.thetas)))[0, 1] > 0.95


def test_calibrate_counts_through_the_verdict():
    """With predictors the simulated verdicts run the predictor tests (a verdict without
    them raises), on a grid where the curve-level test has degrees of freedom."""
    fine = np.arange(360.0)
    s_img = {"thetas": fine, "curves": 0.7 + 0.2 * np.cos(np.radians(
        fine[None, :] * np.arange(1, 9)[:, None] / 2))}
    grid = tuple(float(t) for t in range(0, 360, 15))
    rows = calibrate([Design("null", 3, 8, 4, thetas=grid)], n_sim=2, seed=0, s_images=s_img)
    assert {r["question"] for r in rows} == set(QUESTIONS)
    rows = calibrate([Design("null", 3, 8, 4)], n_sim=3, seed=0)
    assert [r["question"] for r in rows] == list(QUESTIONS)
    assert all(r["n"] == 3 and 0 <= r["yes"] <= 3 and r["null"] for r in rows)
    lo, hi = binomial_ci(50, 1000)
    assert lo < 0.05 < hi and hi < 0.07
