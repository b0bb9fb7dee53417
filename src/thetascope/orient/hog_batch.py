"""HoG descriptors of a whole batch of grayscale images at once, equal to skimage's ``hog``.

skimage's ``hog`` takes one image per call and bins each cell in a Cython loop per
orientation; the HoG+SVM test needs descriptors of (images × angles) views. This is the
same arithmetic written with torch tensor ops over the whole batch (torch, not numpy,
because its element-wise kernels run on every core and ``scatter_add_`` builds all cell
histograms in one pass; numpy's ``arctan2``/``searchsorted``/``bincount`` were 4× slower,
see docs/PERFORMANCE.md):

- central differences in the input's float type, then float64 (as skimage);
- orientation ``rad2deg(arctan2(g_row, g_col)) % 180`` in float64 and hard binning with
  skimage's own float thresholds (pixel in bin i when ``per·i <= o < per·(i+1)``);
- cell means of the magnitudes, then skimage's block normalisations.

``tests/orient/test_orient_hog_batch.py`` pins equality with skimage to float32 rounding
(skimage sums each cell's votes in single precision; this sums in double).

    feats = hog_batch(gray, orientations=9, pixels_per_cell=16, cells_per_block=2)
    feats.shape            # (N, n_blocks_row · n_blocks_col · 2 · 2 · 9)
"""

from __future__ import annotations

import numpy as np
import torch

EPS = 1e-5
CHUNK_PIXELS = 2**17  # pixels per chunk of the per-pixel stage (≈ 1 MB per float64 map)


def _normalize(blocks: torch.Tensor, method: str) -> torch.Tensor:
    """Block normalisation over the last three axes (b_row, b_col, orientations)."""
    axes = (-3, -2, -1)
    if method == "L1":
        return blocks / (blocks.abs().sum(axes, keepdim=True) + EPS)
    if method == "L1-sqrt":
        return torch.sqrt(blocks / (blocks.abs().sum(axes, keepdim=True) + EPS))
    if method in ("L2", "L2-Hys"):
        out = blocks / torch.sqrt((blocks**2).sum(axes, keepdim=True) + EPS**2)
        if method == "L2-Hys":
            out = torch.clamp(out, max=0.2)
            out = out / torch.sqrt((out**2).sum(axes, keepdim=True) + EPS**2)
        return out
    raise ValueError(f"unknown block_norm {method!r}: L1, L1-sqrt, L2 or L2-Hys")


def _gradients(img: torch.Tensor, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """skimage's central differences (zero on the border), cropped to whole cells."""
    g_row = torch.zeros_like(img)
    g_col = torch.zeros_like(img)
    torch.sub(img[:, 2:, :], img[:, :-2, :], out=g_row[:, 1:-1, :])
    torch.sub(img[:, :, 2:], img[:, :, :-2], out=g_col[:, :, 1:-1])
    return (g_row[:, :rows, :cols].to(torch.float64),
            g_col[:, :rows, :cols].to(torch.float64))


def _orientation_bins(g_row: torch.Tensor, g_col: torch.Tensor,
                      orientations: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(bin index, in-range flag or None when all are) with skimage's float thresholds."""
    per = 180.0 / orientations
    ori = torch.atan2(g_row, g_col).rad2deg_().remainder_(180.0)
    if per.is_integer():
        # exact: for an integer width p, fl(o / p) < k whenever o < p·k (the spacing of
        # doubles near p·k is ≥ p/2 times that near k), so floor is skimage's comparison
        return ori.div_(per).floor_().to(torch.int64), None
    guess = torch.floor(ori / per)
    # one correction step puts the pixel exactly where skimage's comparisons put it:
    # per·b and per·(b+1) are the same float products skimage compares against
    below = ori < guess * per
    above = ori >= (guess + 1) * per
    bins = guess.sub_(below.to(ori.dtype)).add_(above.to(ori.dtype)).to(torch.int64)
    valid = (bins >= 0) & (bins < orientations)  # skimage drops o >= per·orientations
    return bins.clamp_(0, orientations - 1), valid


def _cells(a: torch.Tensor, ncr: int, ncc: int, c: int) -> torch.Tensor:
    """(N, ncr·c, ncc·c) -> (N, ncr, ncc, c·c): each cell's pixels on the last axis."""
    n = a.shape[0]
    return a.reshape(n, ncr, c, ncc, c).permute(0, 1, 3, 2, 4).reshape(n, ncr, ncc, c * c)


def hog_batch(gray: np.ndarray | torch.Tensor, orientations: int = 9, pixels_per_cell: int = 16,
              cells_per_block: int = 2, block_norm: str = "L2-Hys") -> np.ndarray:
    """(N, H, W) array or CPU tensor -> (N, F) descriptors, as ``skimage.feature.hog``
    gives for each image (in the input's float type)."""
    img = gray if isinstance(gray, torch.Tensor) else torch.from_numpy(np.asarray(gray))
    if img.dtype not in (torch.float32, torch.float64):
        img = img.to(torch.float64)
    img = img.contiguous()
    n, h, w = img.shape
    c, b = pixels_per_cell, cells_per_block
    ncr, ncc = h // c, w // c
    if ncr - b + 1 <= 0 or ncc - b + 1 <= 0:
        raise ValueError(f"images of {h}×{w} are too small for {c}px cells and {b}×{b} "
                         f"blocks: need at least {b * c}×{b * c}")
    hist = torch.zeros(n, ncr, ncc, orientations, dtype=torch.float64)
    # per-pixel work in chunks of ≈ CHUNK_PIXELS: the temporaries stay in cache (2.2× faster
    # than whole-batch tensors on a 64-px, 864-image batch)
    step = max(1, CHUNK_PIXELS // (h * w))
    for i in range(0, n, step):
        g_row, g_col = _gradients(img[i:i + step], ncr * c, ncc * c)
        mag = torch.hypot(g_col, g_row)
        bins, valid = _orientation_bins(g_row, g_col, orientations)
        if valid is not None:
            mag = mag.mul_(valid)
        hist[i:i + step].scatter_add_(-1, _cells(bins, ncr, ncc, c), _cells(mag, ncr, ncc, c))
    hist /= c * c
    blocks = hist.unfold(1, b, 1).unfold(2, b, 1)  # (N, nbr, nbc, o, b, b)
    blocks = blocks.permute(0, 1, 2, 4, 5, 3)  # (N, nbr, nbc, b, b, o)
    # skimage stores the normalised blocks in the input's float type
    return _normalize(blocks, block_norm).reshape(n, -1).to(img.dtype).numpy()
