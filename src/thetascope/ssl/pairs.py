"""The positive pair of the rotation study: (x, rot_θ(x)), both circle-masked by default.

    a, b = make_pair(images, 30.0)      # same shape as images; no other augmentation

Only θ differs between the two views; any further augmentation must be named in the
config (none exists yet), so the network can only learn what rotation by θ leaves.
"""

from __future__ import annotations

import torch

from thetascope.geometry import apply_circle, rotate


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
