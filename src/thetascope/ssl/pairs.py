"""The positive pairs of the two protocols, both circle-masked by default.

    a, b = make_pair(images, 30.0)          # fixed-θ: (x, rot_θ(x)); nothing else differs
    pair = pair_builder("fixed-theta", theta=30.0, augment="none", size=64)
    a, b = pair(batch)                      # what the training loop calls per batch
    pair = pair_builder("probe", theta=0.0, augment="reference", size=64)
    a, b = pair(batch)                      # two independently augmented views, no θ

In the fixed-θ protocol a named augmentation (off by default) is drawn independently for
each view before the rotation: (aug(x), rot_θ(aug'(x))).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from thetascope.geometry import apply_circle, rotate
from thetascope.ssl.augment import create_augment

PairFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def make_pair(
    images: torch.Tensor,
    theta: float,
    interpolation: str = "bilinear",
    fill: float = 0.0,
    circle: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    view_b = rotate(images, theta, interpolation, fill)  # type: ignore[arg-type]
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
) -> PairFn:
    aug = create_augment(augment, size)
    if protocol == "probe":
        def probe_pair(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a, b = aug(batch), aug(batch)
            return (apply_circle(a, fill), apply_circle(b, fill)) if circle else (a, b)
        return probe_pair
    if protocol != "fixed-theta":
        raise ValueError(f"unknown protocol {protocol!r}; use 'fixed-theta' or 'probe'")

    def theta_pair(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if augment == "none":
            return make_pair(batch, theta, interpolation, fill, circle)
        a, _ = make_pair(aug(batch), 0.0, interpolation, fill, circle)
        _, b = make_pair(aug(batch), theta, interpolation, fill, circle)
        return a, b
    # without augmentation a view depends on the image alone: the loop may compute all views
    # once instead of per batch (same numbers, less work)
    theta_pair.deterministic = augment == "none"  # type: ignore[attr-defined]
    return theta_pair
