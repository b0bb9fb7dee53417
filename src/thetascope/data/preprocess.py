"""Turn a raw image and mask of any size into the network's square input.

    img, m = to_model_input(raw, raw_mask, size=64, channels=3, intensity="percentile")
    img, m = to_model_input(raw, raw_mask, size=64, crop="inscribed", resize="nearest")

Steps, in order (each a named config field, documented in docs/METHODS.md):
1. intensity scaling to [0, 1] per image (``data.intensity``): ``percentile`` (clip at the
   low/high percentiles, robust to hot pixels) or ``minmax`` (the reference code's choice);
   skipped when the loader already scaled the image (``prescaled``, BraTS per volume). A
   colour (C, H, W) image is scaled jointly over its channels (colour balance is kept);
2. centre crop (``data.crop``): ``square`` = the largest centred square (never stretch
   anatomy), ``inscribed`` = the square inscribed in the largest centred circle, side
   ⌊min(H, W)/√2⌋ (the paper's 362 of 512: content that stays in frame under any rotation),
   ``none`` = keep the frame (a non-square frame is stretched by the resize);
3. resize to ``size`` × ``size`` (``data.resize``): ``antialias`` = bilinear with
   anti-aliasing for the image, the mask area-averaged and kept where at least half of a
   target pixel is foreground; ``bilinear`` = bilinear without anti-aliasing, mask nearest;
   ``nearest`` = nearest neighbour for both;
4. grayscale replicated to ``channels``; a (C, H, W) image must already have C == channels.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.transform import resize as _sk_resize

CROPS = ("square", "inscribed", "none")
RESIZES = ("antialias", "bilinear", "nearest")


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


def inscribed_square(array: np.ndarray) -> np.ndarray:
    """Centred square of side ⌊min(H, W)/√2⌋: 512 → 362 at offset 75, as in the paper."""
    h, w = array.shape[-2:]
    s = max(1, int(min(h, w) / math.sqrt(2)))
    top, left = (h - s) // 2, (w - s) // 2
    return array[..., top : top + s, left : left + s]


def crop(array: np.ndarray, rule: str = "square") -> np.ndarray:
    if rule == "square":
        return center_square(array)
    if rule == "inscribed":
        return inscribed_square(array)
    if rule == "none":
        return array
    raise ValueError(f"unknown crop {rule!r}: use one of {CROPS}")


def resize_image(image: np.ndarray, size: int, rule: str = "antialias") -> np.ndarray:
    """Resize (H, W) or (C, H, W) to size × size, channel by channel."""
    if image.ndim == 3:
        return np.stack([resize_image(c, size, rule) for c in image])
    if image.shape == (size, size):
        return image.astype(np.float32)
    if rule not in RESIZES:
        raise ValueError(f"unknown resize {rule!r}: use one of {RESIZES}")
    order = 0 if rule == "nearest" else 1
    out = _sk_resize(image, (size, size), order=order, anti_aliasing=rule == "antialias",
                     preserve_range=True)
    return out.astype(np.float32)


def resize_mask(mask: np.ndarray, size: int, rule: str = "antialias") -> np.ndarray:
    if mask.shape == (size, size):
        return mask.astype(bool)
    if rule == "antialias":
        area = _sk_resize(mask.astype(np.float32), (size, size), order=1, anti_aliasing=True)
        return area >= 0.5
    if rule not in RESIZES:
        raise ValueError(f"unknown resize {rule!r}: use one of {RESIZES}")
    return _sk_resize(mask, (size, size), order=0, anti_aliasing=False,
                      preserve_range=True).astype(bool)


def to_model_input(
    image: np.ndarray,
    mask: np.ndarray | None,
    size: int,
    channels: int = 3,
    intensity: str = "percentile",
    low: float = 0.5,
    high: float = 99.5,
    crop_rule: str = "square",
    resize_rule: str = "antialias",
    prescaled: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (float32 (channels, size, size) in [0, 1], bool (size, size) or None)."""
    if image.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D image or (C, H, W) channels, got shape {image.shape}")
    if image.ndim == 3 and image.shape[0] not in (1, channels):
        raise ValueError(
            f"image has {image.shape[0]} channels but data.channels is {channels}; set "
            f"data.channels={image.shape[0]} or use data.color=luma"
        )
    if mask is not None and mask.shape != image.shape[-2:]:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
    scaled = np.asarray(image, np.float32) if prescaled else scale_intensity(
        image, intensity, low, high)
    img = np.clip(resize_image(crop(scaled, crop_rule), size, resize_rule), 0.0, 1.0)
    m = resize_mask(crop(mask, crop_rule), size, resize_rule) if mask is not None else None
    if img.ndim == 2:
        img = img[None]
    if img.shape[0] != channels:
        img = np.repeat(img, channels, axis=0)
    return img.astype(np.float32), m
