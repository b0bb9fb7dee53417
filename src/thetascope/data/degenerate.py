"""Which preprocessed samples can be scored, and why the others cannot.

    rules = ScoreRules.from_config(DataConfig(), circle=True)
    reason, ssp = screen(sample, had_foreground=True, rules=rules)
    # (None, True): scored; ("empty mask", True): SSP only; ("no contrast: ...", False): dropped

A score computed on a degenerate image means nothing, so such an image never reaches one.
The rules (docs/METHODS.md, data rows) look at the preprocessed sample inside the *valid
region*: the inscribed circle when ``geometry.circle_mask`` (the default; the same pixels as
``geometry.circle_mask``), else the whole frame.

- **no contrast**: the intensities' standard deviation there is below ``data.min_contrast``
  (images are scaled to [0, 1]; an all-black PNG, a volume of one value): the image is left
  out of the evaluation set *and* of the SSP pool (its two views are identical at every θ);
- **degenerate mask, covers the valid region**: the mask covers at least
  ``data.max_mask_coverage`` of it; mass in mask and the pointing game are then ≈ 1 for any
  map. Left out of the evaluation set, kept for SSP (its pixels are real content);
- **degenerate mask, outside the valid region**: no foreground pixel inside it (all of it
  in the corners the circle cuts away): every score would be that of an empty mask. Left
  out of the evaluation set, kept for SSP.

The empty-mask reasons are told apart: the centre crop removed the foreground ("mask outside
the crop"), resizing lost it ("mask lost in resize"), or the file had none ("empty mask").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thetascope.data.sample import Sample

# category of a reason (the part before ':') that marks a degenerate evaluation image
DEGENERATE_CATEGORIES = ("no contrast", "degenerate mask")


def valid_disc(height: int, width: int) -> np.ndarray:
    """The inscribed circle as ``geometry.circle_mask`` draws it (radius min/2 − 0.5)."""
    ys = np.arange(height, dtype=np.float32) - (height - 1) / 2
    xs = np.arange(width, dtype=np.float32) - (width - 1) / 2
    r = min(height, width) / 2 - 0.5
    return (ys[:, None] ** 2 + xs[None, :] ** 2) <= r * r


@dataclass(frozen=True)
class ScoreRules:
    """What ``screen`` needs from the config (kept small: no config blob)."""

    image_size: int = 64
    crop: str = "square"
    max_mask_coverage: float = 0.95
    min_contrast: float = 0.01
    circle: bool = True

    @classmethod
    def from_config(cls, data, circle: bool = True, crop: str | None = None) -> ScoreRules:
        """``data``: a ``DataConfig``; ``circle``: ``geometry.circle_mask``; ``crop``: the
        dataset's own crop, if it sets one."""
        return cls(data.image_size, crop or data.crop, data.max_mask_coverage,
                   data.min_contrast, circle)

    @property
    def region(self) -> str:
        return "inscribed circle" if self.circle else "frame"


def _region(shape: tuple[int, ...], circle: bool) -> np.ndarray:
    h, w = shape[-2:]
    return valid_disc(h, w) if circle else np.ones((h, w), bool)


def contrast_reason(image: np.ndarray, rules: ScoreRules) -> str | None:
    """'no contrast: ...' when the image is flat inside the valid region, else None."""
    region = _region(image.shape, rules.circle)
    values = np.asarray(image, np.float32)[..., region]
    std = float(values.std()) if values.size else 0.0
    if std < rules.min_contrast or not np.isfinite(std):
        return (f"no contrast: intensity std {std:.4f} inside the {rules.region}, under "
                f"data.min_contrast={rules.min_contrast:g}")
    return None


def mask_reason(mask: np.ndarray, rules: ScoreRules) -> str | None:
    """'degenerate mask: ...' for a mask that covers the valid region or misses it."""
    region = _region(mask.shape, rules.circle)
    inside = int((mask & region).sum())
    if inside == 0:
        return (f"degenerate mask: no foreground inside the {rules.region} (it all lies in "
                "the corners that are never scored)")
    share = inside / int(region.sum())
    if share >= rules.max_mask_coverage:
        return (f"degenerate mask: covers {share:.0%} of the {rules.region} (data."
                f"max_mask_coverage={rules.max_mask_coverage:g}); any map scores ≈ 1 on "
                "mass in mask and the pointing game")
    return None


def screen(sample: Sample, had_foreground: bool, rules: ScoreRules) -> tuple[str | None, bool]:
    """(why the sample is not scored, or None; whether it stays in the SSP pool)."""
    if (why := contrast_reason(sample.image, rules)) is not None:
        return why, False
    m, meta = sample.mask, sample.meta
    if m is None:
        return meta.get("no_mask_reason", "no mask"), True
    if not m.any():
        if meta.get("mask_outside_crop"):
            return (f"mask outside the crop: the centre crop (data.crop={rules.crop}) cut "
                    "away all of the mask's foreground; use data.crop=none or a per-dataset "
                    "crop"), True
        if had_foreground:  # a lesion under half a pixel at the target size vanishes
            return (f"mask lost in resize: under half a pixel at {rules.image_size} px"), True
        return "empty mask", True
    return mask_reason(m, rules), True


def is_degenerate(reason: str | None) -> bool:
    return reason is not None and reason.split(":", 1)[0] in DEGENERATE_CATEGORIES
