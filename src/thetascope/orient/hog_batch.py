"""HoG descriptors of a whole batch of grayscale images at once, equal to skimage's ``hog``.

skimage's ``hog`` takes one image per call and bins each cell in a Python-level loop over
orientations; the HoG+SVM test needs descriptors of (images × angles) views, so this
re-implements the same arithmetic vectorised over the batch with numpy: the same central
differences (computed in the input's dtype, then float64), the same ``arctan2 % 180``
orientations and hard binning with the same float thresholds, the same cell means and
block normalisations. ``tests/test_orient_hog_batch.py`` pins equality with skimage to
float32 rounding (skimage sums each cell's votes in single precision; this sums in double).

    feats = hog_batch(gray, orientations=9, pixels_per_cell=16, cells_per_block=2)
    feats.shape            # (N, n_blocks_row · n_blocks_col · 2 · 2 · 9)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

EPS = 1e-5


def _normalize(blocks: np.ndarray, method: str) -> np.ndarray:
    """Block normalisation over the last three axes (b_row, b_col, orientations)."""
    axes = (-3, -2, -1)
    if method == "L1":
        return blocks / (np.abs(blocks).sum(axes, keepdims=True) + EPS)
    if method == "L1-sqrt":
        return np.sqrt(blocks / (np.abs(blocks).sum(axes, keepdims=True) + EPS))
    if method in ("L2", "L2-Hys"):
        out = blocks / np.sqrt((blocks**2).sum(axes, keepdims=True) + EPS**2)
        if method == "L2-Hys":
            out = np.minimum(out, 0.2)
            out = out / np.sqrt((out**2).sum(axes, keepdims=True) + EPS**2)
        return out
    raise ValueError(f"unknown block_norm {method!r}: L1, L1-sqrt, L2 or L2-Hys")


def hog_batch(gray: np.ndarray, orientations: int = 9, pixels_per_cell: int = 16,
              cells_per_block: int = 2, block_norm: str = "L2-Hys") -> np.ndarray:
    """(N, H, W) -> (N, F) descriptors, as ``skimage.feature.hog`` gives for each image."""
    img = np.asarray(gray)
    if img.dtype not in (np.float32, np.float64):
        img = img.astype(np.float64)
    n, h, w = img.shape
    c, b = pixels_per_cell, cells_per_block
    ncr, ncc = h // c, w // c
    if ncr - b + 1 <= 0 or ncc - b + 1 <= 0:
        raise ValueError(f"images of {h}×{w} are too small for {c}px cells and {b}×{b} "
                         f"blocks: need at least {b * c}×{b * c}")
    g_row = np.zeros_like(img)
    g_col = np.zeros_like(img)
    g_row[:, 1:-1, :] = img[:, 2:, :] - img[:, :-2, :]
    g_col[:, :, 1:-1] = img[:, :, 2:] - img[:, :, :-2]
    g_row, g_col = g_row.astype(np.float64), g_col.astype(np.float64)
    mag = np.hypot(g_col, g_row)[:, : ncr * c, : ncc * c]
    ori = (np.rad2deg(np.arctan2(g_row, g_col)) % 180)[:, : ncr * c, : ncc * c]
    per = 180.0 / orientations
    # skimage puts a pixel in bin i when per*i <= o < per*(i+1), with these exact floats
    thresholds = np.array([per * (i + 1) for i in range(orientations)])
    bins = np.searchsorted(thresholds, ori, side="right")
    rows = np.arange(ncr * c) // c
    cols = np.arange(ncc * c) // c
    cell = rows[:, None] * ncc + cols[None, :]  # (H', W') cell index
    index = ((np.arange(n)[:, None, None] * (ncr * ncc) + cell) * orientations + bins)
    hist = np.bincount(index.ravel(), mag.ravel(), minlength=n * ncr * ncc * orientations)
    hist = hist.reshape(n, ncr, ncc, orientations) / (c * c)
    blocks = sliding_window_view(hist, (b, b), axis=(1, 2))  # (N, nbr, nbc, o, b, b)
    blocks = np.moveaxis(blocks, 3, -1)  # (N, nbr, nbc, b, b, o)
    # skimage stores the normalised blocks in the input's float type
    return _normalize(blocks, block_norm).reshape(n, -1).astype(img.dtype)
