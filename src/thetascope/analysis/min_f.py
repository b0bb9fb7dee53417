"""Clark's min F′ of a θ contrast, seeds and source groups random, sphericity corrected.

    res = min_f_contrast(cube.values, centred_basis(T), groups=cube.groups)
    res.statistic, res.p_value, res.df_num, res.df_den, res.note
    f, q, df_err, eps = contrast_f(block_curves, basis)          # one repeated-measures F

A model is trained per θ and seed, so a seed × θ wobble is shared by every image; an image
(or every slice of one volume) can also score high at one θ under every seed. Both are
noise for "θ matters". F1 tests the θ contrast on the seeds × θ table (images averaged)
against its own seed × θ interaction, F2 on the groups × θ table (seeds and a group's
images averaged); min F′ = F1·F2 / (F1 + F2) with Satterthwaite's denominator degrees of
freedom (Clark 1973) treats both factors as random.

Each F pools the error over the q contrasts, which assumes sphericity: equal variance and
no correlation among the contrasts. Every θ of a seed shares its initial weights and its
batch order, so the noise is smooth in θ and the assumption fails (measured: 14–16 % false
positives at α = 5 % with noise correlated over 60°). ``greenhouse_geisser`` (default)
multiplies both degrees of freedom of each F by ε̂ = (tr Σ)² / (q · tr Σ²), Σ the
covariance of the blocks' contrast scores; with n blocks ε̂ ≤ (n − 1)/q, so two seeds get
the lower bound 1/q. ``lower_bound`` always uses 1/q, ``none`` ε = 1 (the uncorrected F).
min F′ takes the smaller ε of its two F's for its numerator.

Denominator degrees of freedom (``df``): ``min`` (default) the smaller of the two F's
(ε-corrected) denominators; ``satterthwaite`` Clark's (F1 + F2)² / (F1²/d2 + F2²/d1). When
one factor has very few levels (2 seeds: 1 df) and its F happens to be large, Clark's
formula hands the test the other factor's degrees of freedom while the first factor's
noise is still in the numerator: with 2 seeds (× 32 images in 8 volumes, noise smooth over
30° or 60°) it gave 10.4 % false positives for the 1-df θ = 0 contrast and 9.7–11.9 % for
the mean difference at α = 5 % (``python benchmarks/calibration.py --df satterthwaite
--only "smooth60 2s×32i"``), the smaller df 0–0.1 % (benchmarks/results/calibration.json).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from thetascope.analysis.cube import group_means

SPHERICITY = ("greenhouse_geisser", "lower_bound", "none")


@dataclass
class MinF:
    statistic: float
    p_value: float
    df_num: float
    df_den: float
    note: str = ""


def centred_basis(n_theta: int) -> np.ndarray:
    """Orthonormal basis (T, T−1) of the contrasts among T angles (orthogonal to 1)."""
    q, _ = np.linalg.qr(np.eye(n_theta) - 1.0 / n_theta)
    return q[:, : n_theta - 1]


def gg_epsilon(c: np.ndarray, basis: np.ndarray) -> float:
    """Greenhouse–Geisser ε̂ of a blocks × θ table for the contrasts in ``basis``."""
    q = basis.shape[1]
    y = c @ basis
    if q == 1 or y.shape[0] < 2:
        return 1.0 if q == 1 else 1.0 / q
    cov = np.atleast_2d(np.cov(y, rowvar=False))
    tr2 = float(np.sum(cov**2))
    if tr2 <= 0:
        return 1.0
    return float(np.clip(np.trace(cov) ** 2 / (q * tr2), 1.0 / q, 1.0))


def contrast_f(c: np.ndarray, basis: np.ndarray, sphericity: str = "none",
               ) -> tuple[float, int, int, float]:
    """F of a θ contrast in a blocks × θ table against its own block × contrast
    interaction: (F, q, (n − 1)·q, ε). Degrees of freedom to use: ε·q and ε·(n − 1)·q."""
    nb = c.shape[0]
    q = basis.shape[1]
    resid = c - c.mean(1, keepdims=True) - c.mean(0, keepdims=True) + c.mean()
    ss_c = nb * float(np.sum((c.mean(0) @ basis) ** 2))
    df_e = (nb - 1) * q
    ss_e = float(np.sum((resid @ basis) ** 2))
    if sphericity == "greenhouse_geisser":
        eps = gg_epsilon(c, basis)
    elif sphericity == "lower_bound":
        eps = 1.0 / q
    elif sphericity == "none":
        eps = 1.0
    else:
        raise ValueError(f"unknown sphericity correction {sphericity!r}; choose one of "
                         f"{list(SPHERICITY)}")
    f = (ss_c / q) / (ss_e / df_e) if ss_e > 0 else float("inf")
    return f, q, df_e, eps


def _complete(a: np.ndarray) -> np.ndarray:
    return a[np.all(np.isfinite(a), axis=1)]


def block_tables(values: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """(seeds × θ) with images averaged and (groups × θ) with seeds and a group's images
    averaged; rows with a missing θ dropped."""
    v = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        by_seed = np.nanmean(v, axis=1)
        gm = group_means(v, groups if groups is not None else range(v.shape[1]))
        by_group = np.nanmean(gm, axis=0)
    return _complete(by_seed), _complete(by_group)


def _den_df(f1: float, f2: float, d1: float, d2: float, df: str) -> float:
    if df == "min":
        return min(d1, d2)
    if df == "satterthwaite":
        return (f1 + f2) ** 2 / (f1**2 / d2 + f2**2 / d1)
    raise ValueError(f"unknown min F′ df rule {df!r}; use 'min' or 'satterthwaite'")


def min_f_contrast(values: np.ndarray, basis: np.ndarray, groups=None,
                   sphericity: str = "greenhouse_geisser", df: str = "min") -> MinF:
    """min F′ of the contrasts in ``basis`` on a (seeds, images, θ) cube."""
    by_seed, by_group = block_tables(values, groups)
    nan = float("nan")
    if by_seed.shape[0] < 2 or by_group.shape[0] < 2:
        return MinF(nan, nan, nan, nan, f"min F′ needs ≥ 2 seeds and ≥ 2 source groups "
                    f"(have {by_seed.shape[0]} and {by_group.shape[0]})")
    f1, q, _, e1 = contrast_f(by_seed, basis, sphericity)
    f2, _, _, e2 = contrast_f(by_group, basis, sphericity)
    if not np.isfinite(f1 + f2) or f1 + f2 == 0:
        return MinF(nan, nan, nan, nan, "degenerate F (zero or no residual variance)")
    d1 = (by_seed.shape[0] - 1) * q * e1
    d2 = (by_group.shape[0] - 1) * q * e2
    mf = f1 * f2 / (f1 + f2)
    df_num = q * min(e1, e2)
    df_den = _den_df(f1, f2, d1, d2, df)
    note = (f"F1={f1:.3g} by seed (ε {e1:.2f}, df {q * e1:.3g},{d1:.3g}), F2={f2:.3g} by "
            f"group (ε {e2:.2f}, df {q * e2:.3g},{d2:.3g}), min F′ df {df_num:.3g},"
            f"{df_den:.3g}")
    return MinF(float(mf), float(stats.f.sf(mf, df_num, df_den)), float(df_num),
                float(df_den), note)


def mean_f(values: np.ndarray, groups=None, df: str = "min") -> MinF:
    """min F′ of 'the grand mean is 0' (e.g. of trained − untrained), seeds and groups
    random: F1 = S·m̄² / s² of the seed means, F2 likewise over groups; df (1, n − 1)."""
    by_seed, by_group = block_tables(values, groups)
    nan = float("nan")
    a, b = by_seed.mean(1), by_group.mean(1)
    if len(a) < 2 or len(b) < 2:
        return MinF(nan, nan, nan, nan, f"needs ≥ 2 seeds and ≥ 2 source groups (have "
                    f"{len(a)} and {len(b)})")
    va, vb = a.var(ddof=1), b.var(ddof=1)
    if va <= 0 or vb <= 0:
        return MinF(nan, nan, nan, nan, "no spread across seeds or groups")
    f1, f2 = len(a) * a.mean() ** 2 / va, len(b) * b.mean() ** 2 / vb
    if f1 + f2 == 0:
        return MinF(0.0, 1.0, 1.0, nan, "mean exactly 0")
    d1, d2 = len(a) - 1, len(b) - 1
    mf = f1 * f2 / (f1 + f2)
    df_den = _den_df(f1, f2, d1, d2, df)
    return MinF(float(mf), float(stats.f.sf(mf, 1, df_den)), 1.0, float(df_den),
                f"F1={f1:.3g} (df 1,{d1}), F2={f2:.3g} (df 1,{d2}), mean {a.mean():.3g}")
