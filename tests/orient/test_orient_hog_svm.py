"""The HoG + SVM rotation-detection test: presets, grouped CV, and a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from thetascope.orient.hog_svm import (
    HOG_PRESETS,
    TRAIN_ANGLES,
    hog_features,
    hog_glyphs,
    hog_preset,
    hog_svm_test,
    split_sizes,
    training_set,
)


def _gratings(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Horizontal stripes (random frequency and phase): 2-fold rotational symmetry."""
    rows = np.mgrid[:size, :size][0] / size
    return np.stack([0.5 + 0.4 * np.sin(2 * np.pi * rng.uniform(4, 8) * rows
                                        + rng.uniform(0, 2 * np.pi))
                     + 0.05 * rng.standard_normal((size, size))
                     for _ in range(n)]).astype(np.float32)


def test_presets_are_the_papers():
    p = HOG_PRESETS["paper"]
    assert (p.orientations, p.pixels_per_cell, p.cells_per_block, p.block_norm) == (
        9, 16, 2, "L2-Hys")
    assert HOG_PRESETS["followup"].pixels_per_cell == 64
    assert hog_preset("paper", orientations=12, pixels_per_cell=None).orientations == 12
    with pytest.raises(ValueError, match="unknown HoG preset"):
        hog_preset("nope")
    with pytest.raises(ValueError, match="at least 32px"):
        hog_features(np.zeros((1, 24, 24)), hog_preset("paper"))
    # 64 px, 16 px cells, 2×2 blocks: 3×3 blocks × 4 cells × 9 bins
    assert hog_features(np.zeros((2, 64, 64)), hog_preset("paper")).shape == (2, 324)
    assert hog_glyphs(np.random.default_rng(0).random((64, 64)), hog_preset("paper")).shape \
        == (64, 64)


def test_training_views_are_grouped_and_folds_keep_pairs_together(rng):
    imgs = _gratings(10, 32, rng)
    views, y, groups, angles = training_set(imgs, rng)
    assert views.shape == (20, 32, 32)
    assert np.all((angles >= TRAIN_ANGLES[0]) & (angles < TRAIN_ANGLES[1]))
    for g in range(10):
        assert sorted(y[groups == g]) == [0, 1]
    for train, test in GroupKFold(n_splits=3).split(views, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_split_sizes():
    assert split_sizes(200, 75, 75) == (75, 75)
    assert split_sizes(48, 75, 75) == (24, 24)
    assert split_sizes(10, 8, 2) == (8, 2)
    with pytest.raises(ValueError, match="at least 4"):
        split_sizes(3, 2, 2)


def test_known_answer_two_fold_gratings():
    """Stripes look the same after 180° (HoG is unsigned), so the SVM detects rotation at
    90° but is at chance at 0° and 180°."""
    imgs = _gratings(40, 64, np.random.default_rng(0))
    res = hog_svm_test(imgs, [0.0, 90.0, 180.0], n_train=20, n_test=20, cv_folds=3,
                       c_grid=(1, 10), gamma_grid=(0.01, 0.1, 1.0))
    assert res.n_train == 20 and res.n_test == 20
    assert res.accuracy[0] == pytest.approx(0.5, abs=0.05)  # identical halves by design
    assert res.accuracy[1] >= 0.9
    assert res.accuracy[2] <= 0.65
    assert res.cv_accuracy > 0.8 and set(res.best_params) == {"C", "gamma"}
