"""Are the θ curves of different seeds alike? Split-half correlation of seed groups.

    sh = split_half(cube.values)            # SplitHalf(r, spearman_brown, n_splits, note)

The seeds are split into two halves (every split when there are few, else ``max_splits``
random ones); each half's per-θ mean over its seeds and all images gives a curve; ``r`` is
the mean Pearson correlation of the two curves over splits and ``spearman_brown`` the
reliability of the full set, 2r / (1 + r). With fewer than 2 seeds (or fewer than 3 θ)
the result is nan with the reason in ``note``.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class SplitHalf:
    r: float
    spearman_brown: float
    n_splits: int
    note: str = ""


def _halves(n: int, max_splits: int, rng: np.random.Generator) -> list[np.ndarray]:
    size = n // 2
    combos = list(itertools.combinations(range(n), size)) if n <= 12 else []
    if combos:
        if 2 * size == n:  # {A, B} and {B, A} are the same split
            combos = [c for c in combos if 0 in c]
        if len(combos) > max_splits:
            pick = rng.choice(len(combos), max_splits, replace=False)
            combos = [combos[i] for i in pick]
        return [np.array(c) for c in combos]
    return [np.sort(rng.permutation(n)[:size]) for _ in range(max_splits)]


def split_half(values: np.ndarray, max_splits: int = 100, seed: int = 0) -> SplitHalf:
    """Split-half reliability of the per-θ mean curve across seeds of a (S, I, T) cube."""
    v = np.asarray(values, dtype=np.float64)
    n_s, _, n_t = v.shape
    if n_s < 2:
        return SplitHalf(float("nan"), float("nan"), 0, f"{n_s} seed: needs at least 2")
    if n_t < 3:
        return SplitHalf(float("nan"), float("nan"), 0, f"{n_t} θ: needs at least 3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        seed_curves = np.nanmean(v, axis=1)  # (S, T)
        rs = []
        for a in _halves(n_s, max_splits, np.random.default_rng(seed)):
            b = np.setdiff1d(np.arange(n_s), a)
            ca, cb = np.nanmean(seed_curves[a], 0), np.nanmean(seed_curves[b], 0)
            ok = np.isfinite(ca) & np.isfinite(cb)
            if ok.sum() >= 3 and np.std(ca[ok]) > 0 and np.std(cb[ok]) > 0:
                rs.append(np.corrcoef(ca[ok], cb[ok])[0, 1])
    if not rs:
        return SplitHalf(float("nan"), float("nan"), 0, "half curves constant or incomplete")
    r = float(np.mean(rs))
    sb = 2 * r / (1 + r) if r > -1 else float("nan")
    note = "2 seeds: a single split" if n_s == 2 else ""
    return SplitHalf(r, float(sb), len(rs), note)
