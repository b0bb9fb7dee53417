"""Periodicity: what each θ grid can estimate, known spectra, peaks with CIs, the dominant
period's test (level and power)."""

from __future__ import annotations

import numpy as np
import pytest

from thetascope.analysis.periodicity import (
    curve_peaks,
    grid_kind,
    harmonic_spectrum,
    observable_periods,
    periodicity,
    sinusoid_basis,
)

FULL = np.arange(0.0, 360.0, 10.0)
HALF = np.arange(0.0, 181.0, 30.0)


def test_grid_kinds_and_observable_periods():
    assert grid_kind(FULL) == "full_circle"
    assert grid_kind(np.arange(0.0, 360.0, 1.0)) == "full_circle"
    assert grid_kind(HALF) == "partial"
    assert grid_kind([0.0, 90.0, 180.0, 360.0]) == "partial"  # 0 and 360 coincide
    periods, note = observable_periods(HALF)
    np.testing.assert_allclose(periods, [180.0, 120.0, 90.0, 72.0, 60.0])
    assert 360.0 not in periods and "span 180" in note
    none, why = observable_periods([0.0, 90.0, 180.0])
    assert len(none) == 0 and "at least 5" in why
    spec = harmonic_spectrum([0.0, 90.0, 180.0], np.array([1.0, 0.0, 1.0]))
    assert spec.kind == "none" and spec.share.shape == (0,)


def test_full_circle_spectrum_is_a_variance_decomposition():
    y = 2 * np.cos(np.radians(4 * FULL)) + np.sin(np.radians(FULL))
    spec = harmonic_spectrum(FULL, y)
    assert spec.kind == "full_circle" and spec.share.sum() == pytest.approx(1.0)
    share = dict(zip(spec.periods, spec.share, strict=True))
    assert share[90.0] == pytest.approx(0.8) and share[360.0] == pytest.approx(0.2)
    # vectorised over curves, and the Nyquist harmonic (period 20°) counted once
    both = harmonic_spectrum(FULL, np.stack([y, np.cos(np.radians(18 * FULL))]))
    assert both.share.shape == (2, 18) and both.share[1, -1] == pytest.approx(1.0)


def test_partial_grid_least_squares_and_non_uniform_grid():
    y = np.cos(np.radians(4 * HALF) + 0.3)
    spec = harmonic_spectrum(HALF, y)
    assert spec.kind == "partial"
    assert spec.periods[np.argmax(spec.share)] == 90.0 and spec.share.max() == pytest.approx(1)
    odd = np.array([0.0, 20.0, 45.0, 90.0, 100.0, 150.0, 170.0, 200.0, 260.0])
    s2 = harmonic_spectrum(odd, np.cos(np.radians(3 * odd)))
    assert s2.periods[np.argmax(s2.share)] == pytest.approx(120.0)
    assert sinusoid_basis(HALF, 90.0).shape == (7, 2)


def _cube(rng, thetas, amp, seeds=3, images=8):
    t = len(thetas)
    return (0.3 + amp * np.cos(np.radians(4 * thetas))
            + 0.02 * rng.standard_normal((seeds, 1, t))
            + 0.02 * rng.standard_normal((1, images, t))
            + 0.03 * rng.standard_normal((seeds, images, t)))


def test_planted_period_and_peaks():
    rng = np.random.default_rng(0)
    res = periodicity(_cube(rng, FULL, 0.08, seeds=5), FULL, n_boot=300, n_perm=200)
    assert res.kind == "full_circle" and res.best_period == 90.0
    assert res.p_value < 0.01 and res.stability > 0.9
    # it fits better than the runner-up, every bootstrap replicate agreeing
    assert res.margin > 0.5 and res.margin_ci[0] > 0 and res.margin_p < 0.01
    assert res.share_ci[0] < res.share  # a max-share bootstrap is biased: no upper check
    assert len(res.peaks) == 4
    for r, true in zip(res.peaks.itertuples(), (0.0, 90.0, 180.0, 270.0), strict=True):
        assert abs(r.theta - true) <= 10.0  # noise may move a peak by one grid step
        assert r.theta_ci_low <= r.theta <= r.theta_ci_high
        assert r.theta_ci_low <= true <= r.theta_ci_high  # the CI covers the planted peak
    half = periodicity(_cube(rng, HALF, 0.08), HALF, n_boot=300)
    assert half.dominant_period == 90.0 and "partial grid" in half.note


def test_dominant_period_test_level_and_power():
    """No θ effect, seed × θ and image × θ noise: the best period is 'significant' in
    ≤ 7% of 200 trials (Bonferroni over periods; min F′ with Greenhouse–Geisser and the
    smaller df); a 4-fold effect of amplitude 0.04 is found, at 90°, in ≥ 80% of trials
    with 5 seeds (3 seeds: ≈ 13%, the price of df = min(d1, d2))."""
    rng = np.random.default_rng(1)
    null = [periodicity(_cube(rng, FULL, 0.0), FULL, n_boot=100).p_value for _ in range(200)]
    assert np.mean(np.asarray(null) <= 0.05) <= 0.07
    hits = [periodicity(_cube(rng, FULL, 0.04, seeds=5), FULL, n_boot=100) for _ in range(60)]
    assert np.mean([h.p_value <= 0.05 and h.best_period == 90.0 for h in hits]) >= 0.8


def test_peak_prominence_is_relative_to_the_ci():
    th = np.arange(0.0, 360.0, 30.0)
    mean = np.cos(np.radians(2 * th)) + 0.01 * np.cos(np.radians(6 * th))
    boots = mean[None] + 0.05 * np.random.default_rng(2).standard_normal((200, len(th)))
    lo, hi = np.quantile(boots, [0.025, 0.975], axis=0)
    peaks = curve_peaks(th, mean, lo, hi, boots, prominence=1.0)
    assert list(peaks.theta) == [0.0, 180.0]  # the 0.01 ripple is far below the CI width
    flat = curve_peaks(th, 0.001 * mean, lo, hi, boots, prominence=1.0)
    assert flat.empty
    one_seed = periodicity(_cube(np.random.default_rng(3), FULL, 0.05, seeds=1), FULL,
                           n_boot=100, n_perm=100)
    assert np.isnan(one_seed.p_value) and "≥ 2 seeds" in one_seed.note
    assert np.isnan(one_seed.margin_p) and "needs ≥ 3" in one_seed.margin_note
    perm = periodicity(_cube(np.random.default_rng(3), FULL, 0.05, seeds=1), FULL,
                       n_boot=100, n_perm=100, test="permutation")
    assert np.isfinite(perm.p_value) and "permutation" in perm.note


def test_a_grid_round_the_circle_without_zero_keeps_its_periods():
    """θ = 0 left out of 0..330 step 30: still every period with two samples per cycle
    (11 θ: harmonics up to 5, i.e. 360° … 72°)."""
    periods, note = observable_periods(np.arange(30.0, 331.0, 30.0))
    np.testing.assert_allclose(periods, [360.0, 180.0, 120.0, 90.0, 72.0])
    assert "round the circle" in note
