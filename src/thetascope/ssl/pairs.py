"""The positive pairs of the two protocols, both circle-masked by default.

    a, b = make_pair(images, 30.0)          # fixed-θ: (x, rot_θ(x)); nothing else differs
    pair = pair_builder("fixed-theta", theta=30.0, augment="none", size=64)
    a, b = pair(batch)                      # what the training loop calls per batch
    pair = pair_builder("probe", theta=0.0, augment="reference", size=64)
    a, b = pair(batch)                      # two independently augmented views, no θ

In the fixed-θ protocol a named augmentation (off by default) is drawn independently for
each view before the rotation: (aug(x), rot_θ(aug'(x))).

``crop=True`` (``geometry.rotate_then_crop``, the reference notebook's geometry) rotates
the whole image and then cuts both views to the centred inscribed square, side
``inscribed_side(S)`` (512 → 362 at offset 75): every pixel of that square stays inside
the frame at every angle, so neither view holds a rotated-in corner even without the
circle mask. Load such data uncropped (``data.crop: square``).

    a, b = make_pair(images, 30.0, circle=False, crop=True)   # (N, C, s, s) each
    masks = inscribed_crop(masks)                              # the same cut for scoring
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

from thetascope.geometry import apply_circle, rotate
from thetascope.ssl.augment import create_augment

T = TypeVar("T", torch.Tensor, np.ndarray)
PairFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def inscribed_side(size: int) -> int:
    """Side of the centred square whose pixels stay inside a ``size`` frame under any
    rotation: ⌊size/√2⌋, less one when that would leave the square half a pixel off centre
    (the corner pixel would then sample the frame's edge from outside)."""
    s = int(size / math.sqrt(2))
    return max(1, s - (size - s) % 2)


def inscribed_crop(x: T) -> T:
    """The centred ``inscribed_side`` square of (..., S, S) tensors or arrays."""
    h, w = x.shape[-2:]
    s = inscribed_side(min(h, w))
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def make_pair(
    images: torch.Tensor,
    theta: float,
    interpolation: str = "bilinear",
    fill: float = 0.0,
    circle: bool = True,
    crop: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    view_b = rotate(images, theta, interpolation, fill)  # type: ignore[arg-type]
    if crop:
        images, view_b = inscribed_crop(images), inscribed_crop(view_b)
    if circle:
        return apply_circle(images, fill), apply_circle(view_b, fill)
    return images, view_b


def pair_builder(
    protocol: str,
    theta: float,
    augment: str = "none",
    size: int = 64,
    interpolation: str = "bilinear",
    fill: float = 0.0,
    circle: bool = True,
    crop: bool = False,
) -> PairFn:
    aug = create_augment(augment, size)
    if protocol == "probe":
        def probe_pair(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a, b = aug(batch), aug(batch)
            if crop:  # the recipe's random rotation and affine act on the whole image
                a, b = inscribed_crop(a), inscribed_crop(b)
            return (apply_circle(a, fill), apply_circle(b, fill)) if circle else (a, b)
        return probe_pair
    if protocol != "fixed-theta":
        raise ValueError(f"unknown protocol {protocol!r}; use 'fixed-theta' or 'probe'")

    def theta_pair(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if augment == "none":
            return make_pair(batch, theta, interpolation, fill, circle, crop)
        a, _ = make_pair(aug(batch), 0.0, interpolation, fill, circle, crop)
        _, b = make_pair(aug(batch), theta, interpolation, fill, circle, crop)
        return a, b
    # without augmentation a view depends on the image alone: the loop may compute all views
    # once instead of per batch (same numbers, less work)
    theta_pair.deterministic = augment == "none"  # type: ignore[attr-defined]
    return theta_pair
