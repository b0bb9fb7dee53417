"""Signed gradient-orientation histograms (0–360°) and the rotational self-overlap S(θ).

    h = orientation_histograms(images, bin_width=5.0)       # (N, 72), rows sum to 1
    d = dataset_histogram(h)                                # (72,), each image weighs 1/N
    thetas = np.arange(0, 360, 1.0)
    S_img = self_overlap(h, thetas, 5.0, "intersection")    # (N, 360)
    S_set = self_overlap(d, thetas, 5.0)                    # (360,)

Sign convention (pinned by a test): orientations are measured counter-clockwise on screen,
with the y axis pointing *up* (the row index, which grows downwards, is negated). Rotating
an image counter-clockwise by θ (``geometry.rotate``) therefore maps a gradient at φ to
φ + θ, and the rotated image's histogram is h(φ − θ): ``shift_histograms(h, θ)``.

Gradients are Gaussian derivatives (σ = ``sigma`` px, kernel radius ⌈3σ⌉), which are
steerable and so far less orientation-biased than 3×3 finite differences. Only pixels
whose whole derivative kernel lies inside the inscribed circle (``geometry.circle_mask``,
eroded by the kernel radius) vote, so the frame's border and rotated-in corners never
enter a histogram and a rotated image sees exactly the same disc as the original.
Votes are magnitude-weighted and split linearly between the two nearest bins (bins are
centred on multiples of the bin width); skimage ``hog`` is not used because it folds
orientations to 0–180°.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter

from thetascope.geometry import circle_mask

Similarity = Literal["intersection", "cosine", "bhattacharyya"]
SIMILARITIES: tuple[str, ...] = ("intersection", "cosine", "bhattacharyya")
TRUNCATE = 3.0  # Gaussian kernel radius in σ


def n_bins(bin_width: float) -> int:
    """Number of bins of ``bin_width`` degrees on 0–360°; the width must divide 360."""
    k = 360.0 / float(bin_width)
    if bin_width <= 0 or not math.isclose(k, round(k), abs_tol=1e-9):
        raise ValueError(f"bin_width must divide 360 (e.g. 5, 10, 15), got {bin_width}")
    return int(round(k))


def bin_centres(bin_width: float) -> np.ndarray:
    return np.arange(n_bins(bin_width)) * float(bin_width)


def to_gray(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) or (H, W) -> (N, H, W) float64 (mean over channels)."""
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 4:
        return a.mean(axis=1)
    if a.ndim == 3:
        return a
    raise ValueError(f"expected (N, C, H, W), (N, H, W) or (H, W) images, got {a.shape}")


def analysis_region(height: int, width: int, sigma: float) -> np.ndarray:
    """Pixels whose derivative kernel lies inside the inscribed circle (bool H×W)."""
    disc = circle_mask(height, width).numpy()
    radius = int(TRUNCATE * sigma + 0.5)
    if radius == 0:
        return disc
    return binary_erosion(disc, structure=np.ones((3, 3), bool), iterations=radius)


def gradient_field(image: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(orientation in degrees [0, 360), magnitude) of a 2-D image, y axis pointing up."""
    img = np.asarray(image, dtype=np.float64)
    d_row = gaussian_filter(img, sigma, order=(1, 0), truncate=TRUNCATE)
    d_col = gaussian_filter(img, sigma, order=(0, 1), truncate=TRUNCATE)
    angle = np.degrees(np.arctan2(-d_row, d_col)) % 360.0
    return angle, np.hypot(d_row, d_col)


def orientation_histograms(
    images: np.ndarray, bin_width: float = 5.0, sigma: float = 1.0, circle: bool = True
) -> np.ndarray:
    """Magnitude-weighted signed orientation histogram of each image, normalised to sum 1.

    A flat image (no gradient inside the region) gets the uniform histogram: it has no
    preferred orientation, so its self-overlap is 1 at every θ.
    """
    gray = to_gray(images)
    k = n_bins(bin_width)
    n, h, w = gray.shape
    region = analysis_region(h, w, sigma) if circle else np.ones((h, w), bool)
    # np.histogram has no linear (soft) voting and works on one image at a time; one
    # bincount over offset bin indices does all images with soft votes.
    angles, mags = zip(*(gradient_field(g, sigma) for g in gray), strict=True)
    a = np.stack(angles)[:, region] / float(bin_width)  # (N, P) in bin units
    m = np.stack(mags)[:, region]
    lo = np.floor(a)
    frac = a - lo
    lo = lo.astype(np.int64) % k
    offset = (np.arange(n) * k)[:, None]
    hist = np.bincount((lo + offset).ravel(), ((1 - frac) * m).ravel(), minlength=n * k)
    hist += np.bincount(((lo + 1) % k + offset).ravel(), (frac * m).ravel(), minlength=n * k)
    hist = hist.reshape(n, k)
    total = hist.sum(axis=1, keepdims=True)
    flat = total[:, 0] <= 1e-12
    hist[flat] = 1.0
    total[flat] = k
    return hist / total


def dataset_histogram(hists: np.ndarray) -> np.ndarray:
    """Mean of per-image histograms: every image weighs the same, whatever its contrast."""
    return np.asarray(hists, dtype=np.float64).mean(axis=0)


def shift_histograms(hists: np.ndarray, thetas, bin_width: float) -> np.ndarray:
    """The histograms of the images rotated by each θ: h(φ − θ), circular, linearly
    interpolated between bins. (..., K) -> (..., T, K); exact at multiples of the width."""
    h = np.asarray(hists, dtype=np.float64)
    k = h.shape[-1]
    if k != n_bins(bin_width):
        raise ValueError(f"histograms have {k} bins, bin_width {bin_width} gives "
                         f"{n_bins(bin_width)}")
    s = np.asarray(thetas, dtype=np.float64).reshape(-1) / float(bin_width)
    whole = np.floor(s)
    frac = (s - whole)[:, None]
    idx = (np.arange(k)[None, :] - whole.astype(np.int64)[:, None]) % k  # (T, K): k - i
    return (1 - frac) * h[..., idx] + frac * h[..., (idx - 1) % k]


def similarity(p: np.ndarray, q: np.ndarray, name: Similarity = "intersection") -> np.ndarray:
    """Similarity of histograms along the last axis; 1 for identical normalised histograms.

    ``intersection`` Σ min(p, q); ``cosine`` p·q / (‖p‖‖q‖); ``bhattacharyya`` Σ √(p q)
    (the Bhattacharyya coefficient).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if name == "intersection":
        return np.minimum(p, q).sum(axis=-1)
    if name == "cosine":
        den = np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1)
        return (p * q).sum(axis=-1) / np.where(den > 0, den, 1.0)
    if name == "bhattacharyya":
        return np.sqrt(np.clip(p, 0, None) * np.clip(q, 0, None)).sum(axis=-1)
    raise ValueError(f"unknown similarity {name!r}; choose one of {list(SIMILARITIES)}")


def self_overlap(
    hists: np.ndarray, thetas, bin_width: float, name: Similarity = "intersection"
) -> np.ndarray:
    """S(θ): similarity of each histogram with itself rotated by θ. (..., K) -> (..., T)."""
    h = np.asarray(hists, dtype=np.float64)
    return similarity(h[..., None, :], shift_histograms(h, thetas, bin_width), name)
