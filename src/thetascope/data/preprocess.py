"""Turn a raw 2-D image and mask of any size into the network's square input.

    img, m = to_model_input(raw, raw_mask, size=64, channels=3, intensity="percentile")

Steps, in order (each a named config field, documented in docs/METHODS.md):
1. intensity scaling to [0, 1] per image: ``percentile`` (clip at the low/high
   percentiles, robust to hot pixels) or ``minmax`` (the reference code's choice);
2. centre crop to the largest square (never stretch anatomy);
3. resize to ``size`` × ``size``: bilinear with anti-aliasing for the image; the mask is
   area-averaged and kept where at least half of a target pixel is foreground;
4. grayscale replicated to ``channels``.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize


def scale_intensity(
    image: np.ndarray, rule: str = "percentile", low: float = 0.5, high: float = 99.5
) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.any():
        raise ValueError("image has no finite values")
    img = np.where(finite, img, np.nanmin(np.where(finite, img, np.inf)))
    if rule == "percentile":
        lo, hi = np.percentile(img, [low, high])
    elif rule == "minmax":
        lo, hi = img.min(), img.max()
    else:
        raise ValueError(f"unknown intensity rule {rule!r}: use 'percentile' or 'minmax'")
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.float32)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def center_square(array: np.ndarray) -> np.ndarray:
    h, w = array.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return array[..., top : top + s, left : left + s]


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape == (size, size):
        return image.astype(np.float32)
    out = resize(image, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return out.astype(np.float32)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape == (size, size):
        return mask.astype(bool)
    area = resize(mask.astype(np.float32), (size, size), order=1, anti_aliasing=True)
    return area >= 0.5


def to_model_input(
    image: np.ndarray,
    mask: np.ndarray | None,
    size: int,
    channels: int = 3,
    intensity: str = "percentile",
    low: float = 0.5,
    high: float = 99.5,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (float32 (channels, size, size) in [0, 1], bool (size, size) or None)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    if mask is not None and mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
    img = resize_image(center_square(scale_intensity(image, intensity, low, high)), size)
    img = np.clip(img, 0.0, 1.0)
    m = resize_mask(center_square(mask), size) if mask is not None else None
    return np.repeat(img[None], channels, axis=0), m
