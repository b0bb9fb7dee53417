"""Per-θ aggregation of per-image scores with 95% bootstrap confidence intervals.

Images and seeds are crossed random factors (every seed scores every image), so the
bootstrap resamples seeds and images independently and averages the crossed sub-grid
(a two-way "pigeonhole" bootstrap). scipy's ``bootstrap`` treats observations as i.i.d.,
which would ignore that rows sharing a seed or an image are correlated; hence by hand.

    table = aggregate(results_df, metric="dice", n_boot=2000)
    table.columns  # dataset, theta, metric, mean, ci_low, ci_high, n_images, n_seeds
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def crossed_bootstrap_ci(
    values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high) of the grand mean of a (seeds × images) array; nan cells ignored."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected a (seeds, images) array, got shape {v.shape}")
    if np.all(np.isnan(v)):
        return float("nan"), float("nan"), float("nan")
    mean = float(np.nanmean(v))
    n_s, n_i = v.shape
    if n_s * n_i == 1:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    si = rng.integers(0, n_s, size=(n_boot, n_s)) if n_s > 1 else np.zeros((n_boot, 1), int)
    ii = rng.integers(0, n_i, size=(n_boot, n_i)) if n_i > 1 else np.zeros((n_boot, 1), int)
    grid = v[si[:, :, None], ii[:, None, :]]  # (B, S, I)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan resamples -> nan, dropped
        boots = np.nanmean(grid.reshape(n_boot, -1), axis=1)
    boots = boots[np.isfinite(boots)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return mean, float(lo), float(hi)


def aggregate(
    results: pd.DataFrame, metric: str = "dice", n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per (dataset, θ): mean over images and seeds with a 95% crossed-bootstrap CI."""
    df = results[results["metric"] == metric]
    rows = []
    for (dataset, theta), g in df.groupby(["dataset", "theta"], sort=True):
        wide = g.pivot_table(index="seed", columns="image_id", values="value", aggfunc="mean",
                             dropna=False)
        mean, lo, hi = crossed_bootstrap_ci(wide.to_numpy(), n_boot=n_boot, seed=seed)
        rows.append({
            "dataset": dataset, "theta": float(theta), "metric": metric, "mean": mean,
            "ci_low": lo, "ci_high": hi, "n_images": int(wide.shape[1]),
            "n_seeds": int(wide.shape[0]), "n": int(g["value"].notna().sum()),
        })
    cols = ["dataset", "theta", "metric", "mean", "ci_low", "ci_high", "n_images", "n_seeds",
            "n"]
    return pd.DataFrame(rows, columns=cols)


def seed_curves(results: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Mean over images for each (dataset, seed, θ): the raw seed curves."""
    df = results[results["metric"] == metric]
    return df.groupby(["dataset", "seed", "theta"], as_index=False)["value"].mean()
