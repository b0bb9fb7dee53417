"""Does the score depend on θ at all, beyond seed and image noise?

    res = theta_effect(cube.values, method="min_f", groups=cube.groups)
    res.p_value, res.effect_size, res.note

Methods (``analysis.theta_test``):

- ``min_f`` (default): Clark's (1973) min F′ with seeds *and* source groups (volumes,
  cases; every image its own group when unknown) as crossed random factors, each F
  corrected for non-sphericity (``analysis.sphericity``, Greenhouse–Geisser by default);
  ``analysis/min_f.py`` explains why. Parametric (normal errors). With fewer than 2 seeds
  or 2 groups it is not estimable and the note says so. Effect size: partial η² of the
  by-seed table.
- ``permutation``: statistic, the variance over θ of the per-θ means; null, θ labels
  permuted within blocks. ``blocks="seed"`` permutes each seed's whole curve (all its
  images together): valid against seed × θ noise that is exchangeable over θ, but it
  treats the images as fixed and is liberal when the noise is smooth in θ. ``image_seed``
  permutes every (image, seed) curve on its own and ignores the model noise shared by a
  seed's images. With one seed, ``seed`` falls back to images (noted).
- ``friedman``: scipy's Friedman test on the (image, seed) blocks (as optimistic as
  ``image_seed``); effect size Kendall's W.

benchmarks/calibration.py measures every method's false-positive rate under independent and
smooth-in-θ noise; tests/analysis/test_analysis_theta_effect.py pins the main cases.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from thetascope.analysis.min_f import (  # noqa: F401 (contrast_f: re-exported)
    centred_basis,
    contrast_f,
    min_f_contrast,
)

METHODS = ("min_f", "permutation", "friedman")


@dataclass
class ThetaEffect:
    method: str
    statistic: float
    p_value: float
    effect_size: float
    effect_name: str
    n_blocks: int
    note: str = ""


def _nanmean(a, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def block_curves(values: np.ndarray, blocks: str) -> tuple[np.ndarray, str]:
    """(n_blocks, T) curves with complete rows; ``blocks`` is 'seed' or 'image_seed'."""
    v = np.asarray(values, dtype=np.float64)
    note = ""
    if blocks == "seed" and v.shape[0] < 2:
        blocks = "image_seed"
        note = ("one seed: θ permuted within images; model noise shared by the images is "
                "not represented, so p is optimistic")
    if blocks == "seed":
        c = _nanmean(v, 1)
    elif blocks == "image_seed":
        c = v.reshape(-1, v.shape[-1])
    else:
        raise ValueError(f"blocks must be 'seed' or 'image_seed', got {blocks!r}")
    keep = np.all(np.isfinite(c), axis=1)
    if (~keep).any():
        note = (note + "; " if note else "") + f"{int((~keep).sum())} incomplete blocks dropped"
    return c[keep], note


def partial_eta2(c: np.ndarray) -> float:
    """SS_θ / (SS_θ + SS_residual) of a two-way table without replication (blocks × θ)."""
    resid = c - c.mean(1, keepdims=True) - c.mean(0, keepdims=True) + c.mean()
    ss_t = c.shape[0] * np.sum((c.mean(0) - c.mean()) ** 2)
    ss_r = np.sum(resid**2)
    return float(ss_t / (ss_t + ss_r)) if ss_t + ss_r > 0 else float("nan")


def permuted_means(c: np.ndarray, n_perm: int, rng: np.random.Generator,
                   chunk_elems: int = 4_000_000):
    """Yield (b, T) per-θ means of ``c`` with θ labels permuted independently per block."""
    nb, nt = c.shape
    step = max(1, chunk_elems // max(1, nb * nt))
    rows = np.arange(nb)[None, :, None]
    for start in range(0, n_perm, step):
        b = min(step, n_perm - start)
        idx = np.argsort(rng.random((b, nb, nt)), axis=-1)
        yield c[rows, idx].mean(axis=1)


def _permutation(v, blocks, n_perm, seed) -> ThetaEffect:
    c, note = block_curves(v, blocks)
    nb = c.shape[0]
    if nb < 2:
        return ThetaEffect("permutation", float("nan"), float("nan"), float("nan"),
                           "partial eta2", nb, note or "fewer than 2 complete blocks")
    obs = float(np.var(c.mean(0)))
    rng = np.random.default_rng(seed)
    ge = sum(int(np.sum(np.var(m, axis=1) >= obs - 1e-12 * max(obs, 1e-300)))
             for m in permuted_means(c, n_perm, rng))
    return ThetaEffect("permutation", obs, (1 + ge) / (1 + n_perm), partial_eta2(c),
                       "partial eta2", nb, note)


def _friedman(v) -> ThetaEffect:
    c, note = block_curves(v, "image_seed")
    nb, nt = c.shape
    if nb < 2 or nt < 3:
        return ThetaEffect("friedman", float("nan"), float("nan"), float("nan"), "kendall W",
                           nb, note or "needs ≥ 2 blocks and ≥ 3 θ")
    chi2, p = stats.friedmanchisquare(*c.T)
    return ThetaEffect("friedman", float(chi2), float(p), float(chi2 / (nb * (nt - 1))),
                       "kendall W", nb, note)


def _min_f(v, groups, sphericity, df) -> ThetaEffect:
    res = min_f_contrast(v, centred_basis(v.shape[-1]), groups, sphericity, df)
    by_seed, _ = block_curves(v, "seed") if v.shape[0] >= 2 else (np.empty((0, 0)), "")
    eta = partial_eta2(by_seed) if by_seed.shape[0] >= 2 else float("nan")
    return ThetaEffect("min_f", res.statistic, res.p_value, eta, "partial eta2",
                       by_seed.shape[0], res.note)


def theta_effect(values: np.ndarray, method: str = "min_f", blocks: str = "seed",
                 n_perm: int = 2000, seed: int = 0, groups=None,
                 sphericity: str = "greenhouse_geisser", df: str = "min") -> ThetaEffect:
    """Test 'the score does not depend on θ' on a (seeds, images, θ) cube."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3:
        raise ValueError(f"expected a (seeds, images, thetas) cube, got shape {v.shape}")
    if v.shape[-1] < 2:
        return ThetaEffect(method, float("nan"), float("nan"), float("nan"), "", 0,
                           "fewer than 2 θ")
    if method == "permutation":
        return _permutation(v, blocks, n_perm, seed)
    if method == "friedman":
        return _friedman(v)
    if method == "min_f":
        return _min_f(v, groups, sphericity, df)
    raise ValueError(f"unknown θ test {method!r}; choose one of {list(METHODS)}")
