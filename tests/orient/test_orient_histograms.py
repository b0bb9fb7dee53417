"""Signed orientation histograms and S(θ): sign convention, agreement with real rotation,
and known answers on gratings (4-fold), isotropic blobs (flat) and one orientation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import find_peaks

from thetascope.data.phantoms import generate
from thetascope.geometry import rotate
from thetascope.orient.histograms import (
    dataset_histogram,
    n_bins,
    orientation_histograms,
    self_overlap,
    shift_histograms,
    similarity,
)

THETAS = np.arange(0.0, 360.0, 5.0)


def _grid(size):
    return np.mgrid[:size, :size].astype(np.float64) - (size - 1) / 2  # rows, cols


def _rot(images: np.ndarray, theta: float) -> np.ndarray:
    return rotate(torch.from_numpy(images.astype(np.float32))[:, None], theta)[:, 0].numpy()


def _circular_peaks(curve: np.ndarray, prominence: float) -> np.ndarray:
    n = len(curve)
    idx, _ = find_peaks(np.concatenate([curve, curve, curve]), prominence=prominence)
    return np.sort(idx[(idx >= n) & (idx < 2 * n)] - n)


def test_sign_convention_ccw_rotation_adds_theta():
    """A ramp brightening to the right has gradients at 0°; rotated counter-clockwise by 90°
    with geometry.rotate it brightens upwards on screen: 90° (y axis up)."""
    rows, cols = _grid(64)
    ramp = (cols / 64.0)[None]
    h = orientation_histograms(ramp, 5.0)
    assert np.argmax(h[0]) * 5.0 == 0.0
    for theta in (30.0, 90.0, 135.0):
        hr = orientation_histograms(_rot(ramp, theta), 5.0)
        assert np.argmax(hr[0]) * 5.0 == pytest.approx(theta)
        # and shift_histograms predicts the same direction (not −θ)
        assert np.argmax(shift_histograms(h, [theta], 5.0)[0, 0]) * 5.0 == pytest.approx(theta)
    up = (-rows / 64.0)[None]  # brighter towards the top of the screen
    assert np.argmax(orientation_histograms(up, 5.0)[0]) * 5.0 == 90.0


@pytest.mark.parametrize(("size", "tol"), [(64, 0.03), (128, 0.012)])
def test_self_overlap_agrees_with_rotating_the_images(size, tol):
    """S(θ) from one histogram vs. rotating (bilinear) and recomputing, at multiples of the
    bin width. Tolerance: |ΔS| ≤ 0.03 at 64 px, ≤ 0.012 at 128 px (resampling blur)."""
    imgs = np.concatenate([generate("phantom-cxr", 4, size, 0)[0],
                           generate("phantom-polyp", 4, size, 0)[0]])
    h = orientation_histograms(imgs, 5.0)
    for theta in (5.0, 30.0, 45.0, 135.0, 200.0, 315.0):
        actual = orientation_histograms(_rot(imgs, theta), 5.0)
        predicted = self_overlap(h, [theta], 5.0)[:, 0]
        np.testing.assert_allclose(predicted, similarity(h, actual), atol=tol)
        l1 = np.abs(shift_histograms(h, [theta], 5.0)[:, 0] - actual).sum(axis=1)
        assert l1.max() < 6 * tol


def test_four_fold_grating_peaks_at_90_180_270():
    """Crossed square-wave gratings (checkerboards): edges at 0°/90°/180°/270° (blurred
    corners add weak diagonal lobes), so the highest peaks of each image's S(θ) and of the
    dataset's are 0°, 90°, 180°, 270°, with S(90°) ≈ 1 and S(45°) far below."""
    rows, cols = _grid(96)
    rng = np.random.default_rng(0)
    imgs = np.stack([gaussian_filter(((np.sin(2 * np.pi * (cols / p + rng.random())) > 0)
                                      ^ (np.sin(2 * np.pi * (rows / p + rng.random())) > 0))
                                     .astype(float), 1.0) for p in (10.0, 14.0, 18.0)])
    h = orientation_histograms(imgs, 5.0)
    for name in ("intersection", "cosine", "bhattacharyya"):
        for s in (*self_overlap(h, THETAS, 5.0, name),
                  self_overlap(dataset_histogram(h), THETAS, 5.0, name)):
            idx = _circular_peaks(s, 0.01)
            top4 = THETAS[idx[np.argsort(-s[idx])][:4]]  # the four highest local maxima
            assert set(top4) == {0.0, 90.0, 180.0, 270.0}, (name, THETAS[idx])
            assert s[THETAS == 90.0][0] > 0.97
            assert s[THETAS == 45.0][0] < s[THETAS == 90.0][0] - 0.2


def test_isotropic_blobs_give_a_flat_curve():
    """One Gaussian blob per image (random centre and width): no preferred orientation, so
    S(θ) ≥ 0.98 for the dataset and ≥ 0.93 for each image (pixel-grid anisotropy)."""
    rows, cols = _grid(128)
    rng = np.random.default_rng(1)
    imgs = []
    for _ in range(8):
        cy, cx = rng.uniform(-20, 20, 2)
        imgs.append(np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * rng.uniform(6, 12)**2)))
    h = orientation_histograms(np.stack(imgs), 5.0)
    assert self_overlap(dataset_histogram(h), THETAS, 5.0).min() > 0.98
    assert self_overlap(h, THETAS, 5.0).min() > 0.93


def test_one_dominant_orientation_peaks_only_at_zero():
    rows, cols = _grid(96)
    rng = np.random.default_rng(2)
    # a soft step edge (gradients at 0°) plus weak noise
    imgs = np.stack([np.tanh((cols - rng.uniform(-10, 10)) / 3.0)
                     + 0.01 * rng.standard_normal((96, 96)) for _ in range(4)])
    s = self_overlap(dataset_histogram(orientation_histograms(imgs, 5.0)), THETAS, 5.0)
    assert list(THETAS[_circular_peaks(s, 0.02)]) == [0.0]
    assert s[THETAS == 180.0][0] < 0.3 and s[THETAS == 90.0][0] < 0.3


def test_similarities_and_shift_interpolation():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.0, 0.5, 0.5, 0.0])
    assert similarity(p, p, "intersection") == pytest.approx(1.0)
    assert similarity(p, q, "intersection") == pytest.approx(0.5)
    assert similarity(p, q, "cosine") == pytest.approx(0.5)
    assert similarity(p, q, "bhattacharyya") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown similarity"):
        similarity(p, q, "euclid")  # type: ignore[arg-type]
    # shifting by 1.5 bins is the average of the 1- and 2-bin circular shifts
    h = np.array([0.1, 0.2, 0.3, 0.4])
    half = shift_histograms(h, [135.0], 90.0)[0]
    np.testing.assert_allclose(half, (np.roll(h, 1) + np.roll(h, 2)) / 2)
    np.testing.assert_allclose(shift_histograms(h, [360.0], 90.0)[0], h)


def test_bin_width_and_flat_images():
    with pytest.raises(ValueError, match="divide 360"):
        n_bins(7.0)
    h = orientation_histograms(np.zeros((2, 32, 32)), 10.0)
    np.testing.assert_allclose(h, 1 / 36)
    np.testing.assert_allclose(h.sum(axis=1), 1.0)
    # channels are averaged: a (N, 3, H, W) stack gives the same as its grayscale
    x = generate("phantom-polyp", 1, 64, 3)[0]
    np.testing.assert_allclose(orientation_histograms(np.repeat(x[:, None], 3, axis=1)),
                               orientation_histograms(x))
