"""The score cube of one dataset, (seeds × images × θ), and crossed-bootstrap curve replicates.

    cube = score_cube(results_df, "mri-lesion", metric="dice")
    cube.values.shape                      # (n_seeds, n_images, n_thetas), nan where missing
    boots = bootstrap_curves(cube.values, n_boot=1000, seed=0)   # (1000, n_thetas)

Every test in ``analysis/`` works on this cube. The bootstrap is the one of
``analysis/curves.py`` (seeds and images resampled independently, the crossed sub-grid
averaged) but keeps one resample for all θ, so each replicate is a coherent curve: peak
locations, spectra and correlations can then be recomputed per replicate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Cube:
    values: np.ndarray  # (S, I, T) float64
    seeds: list[int]
    image_ids: list[str]
    thetas: np.ndarray  # (T,) sorted

    @property
    def mean_curve(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values, axis=(0, 1))

    @property
    def image_curves(self) -> np.ndarray:
        """(I, T): each image's curve, averaged over seeds."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values, axis=0)


def score_cube(results: pd.DataFrame, dataset: str, metric: str = "dice") -> Cube:
    """Pivot the long results of one dataset and metric into a (seed, image, θ) cube."""
    df = results[(results["dataset"] == dataset) & (results["metric"] == metric)]
    if df.empty:
        raise ValueError(f"no rows for dataset {dataset!r} and metric {metric!r}")
    seeds = sorted(int(s) for s in df["seed"].unique())
    ids = sorted(str(i) for i in df["image_id"].unique())
    thetas = np.array(sorted(float(t) for t in df["theta"].unique()))
    cube = np.full((len(seeds), len(ids), len(thetas)), np.nan)
    s_idx = {s: k for k, s in enumerate(seeds)}
    i_idx = {s: k for k, s in enumerate(ids)}
    t_idx = {t: k for k, t in enumerate(thetas)}
    g = df.groupby(["seed", "image_id", "theta"], sort=False)["value"].mean()
    for (s, i, t), v in g.items():
        cube[s_idx[int(s)], i_idx[str(i)], t_idx[float(t)]] = v
    return Cube(cube, seeds, ids, thetas)


def bootstrap_curves(values: np.ndarray, n_boot: int = 1000, seed: int = 0,
                     chunk: int = 200) -> np.ndarray:
    """(B, T) per-θ means of crossed resamples of seeds and images (one resample per curve)."""
    v = np.asarray(values, dtype=np.float64)
    n_s, n_i, n_t = v.shape
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, n_t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            si = rng.integers(0, n_s, size=(b, n_s))
            ii = rng.integers(0, n_i, size=(b, n_i))
            grid = v[si[:, :, None], ii[:, None, :]]  # (b, S, I, T)
            out[start:start + b] = np.nanmean(grid.reshape(b, -1, n_t), axis=1)
    return out


def percentile_ci(boots: np.ndarray, level: float = 0.95, axis: int = 0):
    """Percentile interval along ``axis`` ignoring non-finite replicates."""
    a = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b = np.where(np.isfinite(boots), boots, np.nan)
        return np.nanquantile(b, a, axis=axis), np.nanquantile(b, 1 - a, axis=axis)
