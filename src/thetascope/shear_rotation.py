"""Band-limited rotation by three Fourier shears: rotating does not blur.

    out = fourier_rotate(maps, 30.0)            # (..., H, W), counter-clockwise like rotate()
    back = fourier_rotate(out, -30.0)           # ≈ maps inside the inscribed circle

Bilinear rotation averages neighbouring pixels by an amount that depends on θ: none at
multiples of 90°, the most near 45°. A saliency map rotated back with it is smoothed at
some angles and not at others, and the binarised map's Dice inherits that 90°-periodic
pattern (docs/METHODS.md, "map rotation"). Rotation as three shears (Unser, Thévenaz &
Yaroslavsky 1995; Larkin, Oldfield & Klemm 1997), each shear a per-row sub-pixel shift done
exactly in the Fourier domain, moves every frequency without attenuating any: the map is
resampled as a band-limited function, so no angle smooths it more than another.

Why by hand: torchvision, scikit-image and scipy.ndimage rotate by spline or linear
interpolation, which attenuates high frequencies in an angle-dependent way; none offers a
shear-based Fourier rotation.

Angles are split into an exact quarter turn (``torch.rot90``) and a residual in [−45°, 45°],
where the shears are short; rotating by θ and then −θ restores the inscribed circle up to
the FFT's rounding (the shears of −θ undo those of θ in reverse order). Each shear runs
on a zero-padded canvas of odd size (no Nyquist bin, whose phase a real shift cannot
carry), so nothing wraps around. Ringing
appears near sharp edges, as for any band-limited resampling; values are not clipped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _shift_rows(img: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift row y of ``img`` (..., H, W) by ``shifts[y]`` pixels along x (positive: right)."""
    freq = torch.fft.fftfreq(img.shape[-1], dtype=torch.float64, device=img.device)
    ramp = torch.exp(-2j * math.pi * shifts[:, None] * freq[None, :])
    return torch.fft.ifft(torch.fft.fft(img, dim=-1) * ramp, dim=-1).real


def _shear_x(img: torch.Tensor, amount: float, centre_y: float) -> torch.Tensor:
    y = torch.arange(img.shape[-2], dtype=torch.float64, device=img.device) - centre_y
    return _shift_rows(img, amount * y)


def _shear_y(img: torch.Tensor, amount: float, centre_x: float) -> torch.Tensor:
    return _shear_x(img.transpose(-1, -2), amount, centre_x).transpose(-1, -2)


def fourier_rotate(images: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate square ``images`` (..., H, W) by ``theta`` degrees counter-clockwise on screen
    about the image centre (torchvision's convention), without interpolation blur.

    Multiples of 90° are exact pixel permutations. Output dtype = input dtype; the shears
    run in float64. Differentiable (FFTs and shifts are linear).
    """
    h, w = images.shape[-2:]
    if h != w:
        raise ValueError(f"fourier rotation needs square images, got {h}×{w}; crop them "
                         "square (data.crop) or use bilinear rotation")
    turns = round(float(theta) / 90.0)
    residual = float(theta) - 90.0 * turns

    def quarter(x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, turns % 4, dims=(-2, -1)) if turns % 4 else x

    # quarter turn after the shears for θ ≥ 0, before them for θ < 0: rotating by θ and
    # then by −θ undoes the shears in exactly the reverse order (the two discretisations of
    # a rotation do not commute with rot90 on a grid)
    out = images if theta >= 0 else quarter(images)
    if abs(residual) >= 1e-9:
        pad = h // 2
        odd = 1 if (h + 2 * pad) % 2 == 0 else 0  # an odd canvas has no Nyquist bin
        canvas = F.pad(out.to(torch.float64), (pad, pad + odd, pad, pad + odd))
        centre = pad + (h - 1) / 2
        phi = math.radians(residual)
        a, b = math.tan(phi / 2), -math.sin(phi)
        canvas = _shear_x(_shear_y(_shear_x(canvas, a, centre), b, centre), a, centre)
        out = canvas[..., pad:pad + h, pad:pad + w].to(images.dtype)
    if theta >= 0:
        out = quarter(out)
    return out.clone() if out is images else out
