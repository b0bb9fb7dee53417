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
- a registered metric: the mean over ``draws`` noise maps (``chance="noise"``, the default)
  or the mask's share (``chance="share"``).

An empty mask gives ``nan`` for every metric, as in ``metrics/overlap.py``.
"""

from __future__ import annotations

import numpy as np

from thetascope.metrics.overlap import binarize


def chance_scores(gt: np.ndarray, valid: np.ndarray, rule: str, names: list[str],
                  draws: int = 16, seed: int = 0) -> dict[str, float]:
    """Expected value of each metric in ``names`` for a map of uniform noise; a metric of
    the registry (``metrics/registry.py``) with ``chance="share"`` gets the mask's share,
    every other one the mean over ``draws`` noise maps."""
    from thetascope.metrics.registry import get_metric

    gt = np.asarray(gt, bool) & np.asarray(valid, bool)
    n_valid = int(np.asarray(valid, bool).sum())
    specs = []
    for n in names:
        try:
            specs.append(get_metric(n))
        except ValueError as exc:
            raise ValueError(f"no chance level for metric {n!r}: {exc}") from None
    if not gt.any() or n_valid == 0:
        return {name: float("nan") for name in names}
    share = float(gt.sum() / n_valid)
    out: dict[str, float] = {}
    noisy = [s for s in specs if s.chance == "noise"]
    if noisy:
        rng = np.random.default_rng(seed)
        sums = {s.name: 0.0 for s in noisy}
        binary = any(s.binarized for s in noisy)
        for _ in range(draws):
            noise = rng.random(gt.shape)
            pred = binarize(noise, valid, rule, gt) if binary else None
            for s in noisy:
                sums[s.name] += s(noise, pred, gt, valid)
        out.update({n: v / draws for n, v in sums.items()})
    for s in specs:
        if s.chance == "share":
            out[s.name] = share
    return {n: out[n] for n in names}
