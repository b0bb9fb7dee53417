"""Chance level of each overlap metric: what a map that knows nothing about the image scores.

    chance_scores(gt, valid, "otsu", ["dice", "pointing_game"], draws=16, seed=0)
    # {"dice": 0.06, "pointing_game": 0.031}   (mask covering 3.1 % of the valid region)

- Dice, IoU, ``dice_paper``: the mean over ``draws`` maps of independent uniform noise,
  binarised by the same rule (``otsu`` keeps about half the valid region, ``topk`` the
  mask's area, ``fixed:<t>`` a share 1 − t).
- pointing game: the mask's share of the valid region, exactly: the maximum of a noise map
  is equally likely to be any valid pixel.
- mass in mask: the mask's share of the valid region (the expected share of the mass of
  any map whose values do not depend on the pixel).

An empty mask gives ``nan`` for every metric, as in ``metrics/overlap.py``.
"""

from __future__ import annotations

import numpy as np

from thetascope.metrics.overlap import binarize, dice, dice_paper, iou

_BINARY = {"dice": dice, "dice_paper": dice_paper, "iou": iou}


def chance_scores(gt: np.ndarray, valid: np.ndarray, rule: str, names: list[str],
                  draws: int = 16, seed: int = 0) -> dict[str, float]:
    """Expected value of each metric in ``names`` for a map of uniform noise."""
    gt = np.asarray(gt, bool) & np.asarray(valid, bool)
    n_valid = int(np.asarray(valid, bool).sum())
    if not gt.any() or n_valid == 0:
        return {name: float("nan") for name in names}
    share = float(gt.sum() / n_valid)
    out: dict[str, float] = {}
    binary = [n for n in names if n in _BINARY]
    if binary:
        rng = np.random.default_rng(seed)
        sums = dict.fromkeys(binary, 0.0)
        for _ in range(draws):
            pred = binarize(rng.random(gt.shape), valid, rule, gt)
            for n in binary:
                sums[n] += _BINARY[n](pred, gt)
        out.update({n: sums[n] / draws for n in binary})
    for n in names:
        if n in ("pointing_game", "mass_in_mask"):
            out[n] = share
        elif n not in out:
            raise ValueError(f"no chance level for metric {n!r}")
    return out
