"""The score cube of one dataset, (seeds × images × θ), and crossed-bootstrap curve replicates.

    cube = score_cube(results_df, "mri-lesion", metric="dice")          # trained models
    ref = score_cube(results_df, "mri-lesion", "dice", model="untrained")
    diff = difference_cube(cube, ref)        # trained − untrained, paired by (seed, image, θ)
    cube.values.shape                        # (n_seeds, n_images, n_thetas), nan where missing
    cube.groups                              # each image's source group (volume, case, ...)
    boots = bootstrap_curves(cube.values, n_boot=1000, seed=0, groups=cube.groups)

Every test in ``analysis/`` works on this cube. The bootstrap resamples seeds and source
groups independently (crossed design; the images of a drawn group come along together, so
slices of one volume count once) and keeps one resample for all θ, so each replicate is a
coherent curve: peak locations, spectra and correlations can be recomputed per replicate.
With every image its own group it is the plain crossed seeds × images bootstrap.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Cube:
    values: np.ndarray  # (S, I, T) float64
    seeds: list[int]
    image_ids: list[str]
    thetas: np.ndarray  # (T,) sorted
    groups: list[str] = field(default_factory=list)  # (I,) source group of each image

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups = list(self.image_ids)

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

    @property
    def n_groups(self) -> int:
        return len(set(self.groups))

    def select_thetas(self, keep: np.ndarray) -> Cube:
        """The cube restricted to the θ where ``keep`` (bool, (T,)) is true."""
        keep = np.asarray(keep, bool)
        return Cube(self.values[..., keep], self.seeds, self.image_ids, self.thetas[keep],
                    self.groups)

    def without_zero(self) -> Cube:
        """The cube without θ ≡ 0 (mod 360): identical views, a different task."""
        return self.select_thetas(~is_zero(self.thetas))


def is_zero(thetas) -> np.ndarray:
    """True where θ is a multiple of 360°."""
    t = np.asarray(thetas, dtype=np.float64) % 360.0
    return np.isclose(t, 0.0) | np.isclose(t, 360.0)


def score_cube(results: pd.DataFrame, dataset: str, metric: str = "dice",
               model: str = "trained") -> Cube:
    """Pivot the long results of one dataset, metric and ``model`` (trained, untrained,
    resample, chance; rows without a ``model`` column are trained) into a cube."""
    df = results[(results["dataset"] == dataset) & (results["metric"] == metric)]
    if "model" in df:
        df = df[df["model"] == model]
    elif model != "trained":
        df = df.iloc[:0]
    if df.empty:
        raise ValueError(f"no rows for dataset {dataset!r}, metric {metric!r}, model {model!r}")
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
    groups = list(ids)
    if "group" in df:
        by_id = df.drop_duplicates("image_id").set_index("image_id")["group"]
        groups = [str(g) if pd.notna(g := by_id.get(i)) else i for i in ids]
    return Cube(cube, seeds, ids, thetas, groups)


def difference_cube(a: Cube, b: Cube) -> Cube:
    """a − b on the (seed, image, θ) both share: the paired difference."""
    seeds = [s for s in a.seeds if s in b.seeds]
    ids = [i for i in a.image_ids if i in b.image_ids]
    thetas = np.array([t for t in a.thetas if np.isclose(b.thetas, t).any()])
    if not seeds or not ids or not len(thetas):
        raise ValueError("the two cubes share no (seed, image, θ)")

    def take(c: Cube) -> np.ndarray:
        si = [c.seeds.index(s) for s in seeds]
        ii = [c.image_ids.index(i) for i in ids]
        ti = [int(np.flatnonzero(np.isclose(c.thetas, t))[0]) for t in thetas]
        return c.values[np.ix_(si, ii, ti)]

    groups = [a.groups[a.image_ids.index(i)] for i in ids]
    return Cube(take(a) - take(b), seeds, ids, thetas, groups)


def group_index(groups) -> tuple[np.ndarray, int]:
    """(I,) integer code of each image's group, and the number of groups."""
    _, codes = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    return codes, int(codes.max()) + 1 if len(codes) else 0


def group_means(values: np.ndarray, groups) -> np.ndarray:
    """(S, G, T): the mean over each group's images (nan-aware)."""
    v = np.asarray(values, dtype=np.float64)
    codes, n_g = group_index(groups)
    out = np.full(v.shape[:1] + (n_g,) + v.shape[2:], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for g in range(n_g):
            out[:, g] = np.nanmean(v[:, codes == g], axis=1)
    return out


def bootstrap_curves(values: np.ndarray, n_boot: int = 1000, seed: int = 0,
                     chunk: int = 200, groups=None) -> np.ndarray:
    """(B, T) per-θ means of crossed resamples of seeds and source groups (one resample per
    curve); each replicate is the mean over every (seed, image) cell drawn."""
    v = np.asarray(values, dtype=np.float64)
    n_s, n_i, n_t = v.shape
    codes, n_g = group_index(groups) if groups is not None else (np.arange(n_i), n_i)
    finite = np.isfinite(v)
    # per (seed, group): the sum and count of finite values, so a drawn group brings all
    # its images and the replicate mean weighs every image alike
    sums = np.stack([np.where(finite, v, 0.0)[:, codes == g].sum(1) for g in range(n_g)], 1)
    counts = np.stack([finite[:, codes == g].sum(1) for g in range(n_g)], 1)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, n_t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            si = rng.integers(0, n_s, size=(b, n_s))
            gi = rng.integers(0, n_g, size=(b, n_g))
            s = sums[si[:, :, None], gi[:, None, :]].sum(axis=(1, 2))
            c = counts[si[:, :, None], gi[:, None, :]].sum(axis=(1, 2))
            out[start:start + b] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return out


def percentile_ci(boots: np.ndarray, level: float = 0.95, axis: int = 0):
    """Percentile interval along ``axis`` ignoring non-finite replicates."""
    a = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b = np.where(np.isfinite(boots), boots, np.nan)
        return np.nanquantile(b, a, axis=axis), np.nanquantile(b, 1 - a, axis=axis)
