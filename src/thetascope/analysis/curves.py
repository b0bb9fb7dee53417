"""Per-θ aggregation of per-image scores with 95% bootstrap confidence intervals.

Images and seeds are crossed random factors (every seed scores every image), so the
bootstrap resamples seeds and source groups independently and averages the crossed
sub-grid (a two-way "pigeonhole" bootstrap; a drawn group brings all its images, since
slices of one volume are not independent). scipy's ``bootstrap`` treats observations as
i.i.d., which would ignore that rows sharing a seed, an image or a volume are correlated;
hence by hand (``analysis/cube.py: bootstrap_curves``).

    table = aggregate(results_df, metric="dice", n_boot=2000)
    table.columns  # model, dataset, theta, metric, mean, ci_low, ci_high, n_images,
                   # n_groups, n_seeds, n
    trained_rows(results_df)   # only the trained models' rows (drops the references)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def trained_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of trained models (a frame without a ``model`` column is all trained)."""
    return df if "model" not in df else df[df["model"] == "trained"]


def crossed_bootstrap_ci(
    values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
    groups=None,
) -> tuple[float, float, float]:
    """(mean, low, high) of the grand mean of a (seeds × images) array; nan cells ignored;
    ``groups``: each image's source group (resampled as a block)."""
    from thetascope.analysis.cube import bootstrap_curves

    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected a (seeds, images) array, got shape {v.shape}")
    if np.all(np.isnan(v)):
        return float("nan"), float("nan"), float("nan")
    mean = float(np.nanmean(v))
    n_s, n_i = v.shape
    if n_s * n_i == 1:
        return mean, float("nan"), float("nan")
    boots = bootstrap_curves(v[:, :, None], n_boot, seed, groups=groups)[:, 0]
    boots = boots[np.isfinite(boots)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return mean, float(lo), float(hi)


AGG_COLUMNS = ["model", "dataset", "theta", "metric", "mean", "ci_low", "ci_high", "n_images",
               "n_groups", "n_seeds", "n"]


def aggregate(
    results: pd.DataFrame, metric: str = "dice", n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per (model, dataset, θ): mean over images and seeds with a 95% crossed-
    bootstrap CI (seeds × source groups)."""
    df = results[results["metric"] == metric]
    if "model" not in df:
        df = df.assign(model="trained")
    rows = []
    for (model, dataset, theta), g in df.groupby(["model", "dataset", "theta"], sort=True):
        wide = g.pivot_table(index="seed", columns="image_id", values="value", aggfunc="mean",
                             dropna=False)
        groups = None
        if "group" in g:
            by_id = g.drop_duplicates("image_id").set_index("image_id")["group"]
            groups = [str(x) if pd.notna(x := by_id.get(i)) else str(i) for i in wide.columns]
        mean, lo, hi = crossed_bootstrap_ci(wide.to_numpy(), n_boot=n_boot, seed=seed,
                                            groups=groups)
        rows.append({
            "model": model, "dataset": dataset, "theta": float(theta), "metric": metric,
            "mean": mean, "ci_low": lo, "ci_high": hi, "n_images": int(wide.shape[1]),
            "n_groups": len(set(groups)) if groups is not None else int(wide.shape[1]),
            "n_seeds": int(wide.shape[0]), "n": int(g["value"].notna().sum()),
        })
    out = pd.DataFrame(rows, columns=AGG_COLUMNS)
    order = {"trained": 0, "untrained": 1, "resample": 2, "chance": 3}
    return out.sort_values(["model", "dataset", "theta"], key=lambda c: c.map(order)
                           if c.name == "model" else c, kind="stable").reset_index(drop=True)


def seed_curves(results: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Mean over images for each (dataset, seed, θ) of the trained models: the seed curves."""
    df = trained_rows(results)
    df = df[df["metric"] == metric]
    return df.groupby(["dataset", "seed", "theta"], as_index=False)["value"].mean()
