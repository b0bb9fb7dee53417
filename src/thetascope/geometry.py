"""Batched rotation of image tensors, its inverse, and the inscribed-circle mask.

Rotating a square image by θ brings in corners from outside the image (filled with
``fill``): a network can learn that shortcut instead of the content. The inscribed circle
is the only region that stays inside the image at every angle, so by default both views
are multiplied by ``circle_mask`` and every score is computed inside it.

    x = torch.rand(8, 3, 64, 64)
    r = rotate(x, 30.0)                      # counter-clockwise, bilinear, zero fill
    back = rotate(r, -30.0)                  # ≈ x inside the inscribed circle
    m = circle_mask(64, 64)                  # bool (64, 64)

Angles are in degrees, counter-clockwise on screen, about the image centre; any real θ.
Interpolation: ``bilinear`` (default for images), ``nearest``, or ``fourier``: a
band-limited rotation by three Fourier shears that blurs no angle more than another
(``shear_rotation.py``; square images only), the default for rotating saliency maps back.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torchvision.transforms.v2 import functional as TF

Interpolation = Literal["bilinear", "nearest", "fourier"]
_MODES = {
    "bilinear": TF.InterpolationMode.BILINEAR,
    "nearest": TF.InterpolationMode.NEAREST,
}


def rotate(
    images: torch.Tensor,
    theta: float,
    interpolation: Interpolation = "bilinear",
    fill: float = 0.0,
) -> torch.Tensor:
    """Rotate ``images`` (..., H, W) by ``theta`` degrees counter-clockwise.

    Differentiable (torchvision's grid-sample path), so saliency can flow through it.
    Multiples of 360° return the input unchanged (no resampling blur).
    """
    if interpolation not in (*_MODES, "fourier"):
        raise ValueError(f"interpolation must be one of {[*_MODES, 'fourier']}, got "
                         f"{interpolation!r}")
    if float(theta) % 360.0 == 0.0:
        return images
    if interpolation == "fourier":
        from thetascope.shear_rotation import fourier_rotate

        out = fourier_rotate(images, theta)
        return out if fill == 0.0 else torch.where(_inside(images, theta), out, fill)
    return TF.rotate(images, float(theta), interpolation=_MODES[interpolation], fill=[fill])


def _inside(images: torch.Tensor, theta: float) -> torch.Tensor:
    """Pixels of the rotated frame that come from inside the source frame (for ``fill``)."""
    ones = torch.ones(images.shape[-2:], dtype=images.dtype, device=images.device)
    return TF.rotate(ones[None], float(theta), interpolation=_MODES["nearest"])[0] > 0.5


def circle_mask(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean mask of pixels whose centre lies within the inscribed circle.

    The radius is ``min(H, W) / 2 - 0.5`` so that bilinear sampling of a pixel inside the
    circle never reads a pixel from outside the image at any angle.
    """
    ys = torch.arange(height, device=device, dtype=torch.float32) - (height - 1) / 2
    xs = torch.arange(width, device=device, dtype=torch.float32) - (width - 1) / 2
    r = min(height, width) / 2 - 0.5
    return (ys[:, None] ** 2 + xs[None, :] ** 2) <= r * r


def apply_circle(images: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Set pixels outside the inscribed circle to ``fill`` (shape-preserving)."""
    m = circle_mask(images.shape[-2], images.shape[-1], images.device)
    return torch.where(m, images, torch.as_tensor(fill, dtype=images.dtype, device=images.device))


def valid_region(height: int, width: int, theta: float, circle: bool) -> torch.Tensor:
    """Pixels that carry image content in both the original and the back-rotated view.

    With the circle mask on this is the inscribed circle. Without it, it is the set of
    pixels whose rotation by θ stays inside the frame (computed by rotating a ones image
    with nearest interpolation), so that scores never count rotated-in fill.
    """
    if circle:
        return circle_mask(height, width)
    ones = torch.ones(1, 1, height, width)
    back = rotate(rotate(ones, theta, "nearest"), -theta, "nearest")
    return back[0, 0] > 0.5


def rotation_is_exact(theta: float) -> bool:
    """True for multiples of 90°, where rotation only permutes pixels on square images."""
    return math.isclose(float(theta) % 90.0, 0.0, abs_tol=1e-9)
