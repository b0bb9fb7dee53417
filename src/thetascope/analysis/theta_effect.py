"""Does the score depend on θ at all, beyond seed and image noise?

    res = theta_effect(cube.values, method="min_f")      # or "permutation", "friedman"
    res.p_value, res.effect_size, res.note

Methods (``analysis.theta_test``):

- ``min_f`` (default): Clark's (1973) min F′, seeds *and* images as crossed random
  factors. F1 by seed (images averaged) and F2 by image (seeds averaged), each a
  repeated-measures F of the θ contrasts against its own block × θ interaction;
  min F′ = F1·F2/(F1 + F2) with Satterthwaite denominator degrees of freedom. A seed × θ
  wobble (one model per θ and seed, shared by every image) and an image × θ wobble (an
  image that happens to score high at one θ under every seed) both count as noise.
  Parametric (normal errors). Needs ≥ 2 seeds and ≥ 2 images, else the permutation test
  is used and the note says so. Effect size: partial η² of the by-seed table.
- ``permutation``: statistic, the variance over θ of the per-θ means; null, θ labels
  permuted within blocks. ``blocks="seed"`` permutes each seed's whole curve (all its
  images together): valid against seed × θ noise, but it treats the images as fixed, so an
  image × θ interaction counts as signal. ``blocks="image_seed"`` permutes every (image,
  seed) curve on its own and ignores the model noise shared by a seed's images, so it is
  optimistic whenever that noise exists. With one seed, ``seed`` falls back to images
  (noted). Effect size: partial η² = SS_θ / (SS_θ + SS_residual) of the block × θ table.
- ``friedman``: scipy's Friedman test on the (image, seed) blocks (as optimistic as
  ``image_seed``); effect size Kendall's W.

tests/test_analysis_theta_effect.py measures each method's false-positive rate under
seed × θ and image × θ noise and its power.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

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


def centred_basis(n_theta: int) -> np.ndarray:
    """Orthonormal basis (T, T−1) of the contrasts among T angles (orthogonal to 1)."""
    q, _ = np.linalg.qr(np.eye(n_theta) - 1.0 / n_theta)
    return q[:, : n_theta - 1]


def contrast_f(c: np.ndarray, basis: np.ndarray) -> tuple[float, int, int]:
    """F of a θ contrast in a blocks × θ table, tested against its own block × contrast
    interaction (no sphericity assumption): (F, df_num, df_den)."""
    nb = c.shape[0]
    q = basis.shape[1]
    resid = c - c.mean(1, keepdims=True) - c.mean(0, keepdims=True) + c.mean()
    ss_c = nb * float(np.sum((c.mean(0) @ basis) ** 2))
    df_e = (nb - 1) * q
    ss_e = float(np.sum((resid @ basis) ** 2))
    return (ss_c / q) / (ss_e / df_e) if ss_e > 0 else float("inf"), q, df_e


def min_f_contrast(values: np.ndarray, basis: np.ndarray) -> tuple[float, float, str]:
    """Clark's min F′ of a θ contrast with seeds and images as crossed random factors:
    (min F′, p, note). F1 by seed (images averaged), F2 by image (seeds averaged)."""
    by_seed = _nanmean(values, 1)
    by_seed = by_seed[np.all(np.isfinite(by_seed), axis=1)]
    by_image = _nanmean(values, 0)
    by_image = by_image[np.all(np.isfinite(by_image), axis=1)]
    if by_seed.shape[0] < 2 or by_image.shape[0] < 2:
        return float("nan"), float("nan"), "min F′ needs ≥ 2 seeds and ≥ 2 images"
    f1, q, d1 = contrast_f(by_seed, basis)
    f2, _, d2 = contrast_f(by_image, basis)
    if not np.isfinite(f1 + f2) or f1 + f2 == 0:
        return float("nan"), float("nan"), "degenerate F (zero or no residual variance)"
    mf = f1 * f2 / (f1 + f2)
    df_den = (f1 + f2) ** 2 / (f1**2 / d2 + f2**2 / d1)
    note = f"F1={f1:.3g} (df {q},{d1}), F2={f2:.3g} (df {q},{d2}), df′={df_den:.3g}"
    return float(mf), float(stats.f.sf(mf, q, df_den)), note


def _min_f(v, n_perm, seed) -> ThetaEffect:
    if v.shape[0] < 2 or v.shape[1] < 2:
        res = _permutation(v, "seed", n_perm, seed)
        res.note = "min F′ needs ≥ 2 seeds and ≥ 2 images: permutation test instead; " + \
            res.note
        return res
    mf, p, note = min_f_contrast(v, centred_basis(v.shape[-1]))
    by_seed, _ = block_curves(v, "seed")
    return ThetaEffect("min_f", mf, p, partial_eta2(by_seed), "partial eta2",
                       by_seed.shape[0], note)


def theta_effect(values: np.ndarray, method: str = "min_f", blocks: str = "seed",
                 n_perm: int = 2000, seed: int = 0) -> ThetaEffect:
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
        return _min_f(v, n_perm, seed)
    raise ValueError(f"unknown θ test {method!r}; choose one of {list(METHODS)}")
