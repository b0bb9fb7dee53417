"""Does orientation structure predict the score curve? Curve- and image-level correlation
tests with nulls that keep the autocorrelation along θ.

    a = curve_association(thetas, dice_mean, dice_boots, s_thetas, s_curve, predictor="S")
    a.r, a.p_value, (a.ci_low, a.ci_high), a.null
    b = image_association(thetas, dice_per_image, s_per_image, predictor="S")

Curve level (one dataset): r = Pearson correlation over the sweep θ between the score's
per-θ mean and the predictor (S(θ) or A(θ)) evaluated at the same θ. A predictor is a
function on the circle, so when its own grid covers the circle the null rotates it: every
circular shift by ``shift_step`` degrees, sampled at the sweep θ by periodic linear
interpolation (``np.interp(period=360)``); the shift keeps the predictor's whole
autocorrelation and destroys only its alignment with the score. If the predictor's grid
does not cover the circle but is uniform, phase-randomised surrogates (same power
spectrum, random phases, of the curve's mirror extension so its ends do not create a
jump) replace the shifts; otherwise the test is not estimable. θ = 0
(mod 360) is left out by default: S(0) = 1 by construction and a score that merely differs
at 0 would otherwise pass for a relationship. CI: the score's crossed-bootstrap curves
correlated with the fixed predictor (the predictor's own sampling error is ignored).

Image level: does an image's own S(θ) predict its own score(θ) beyond the dataset mean?
Both are centred per θ over images (the dataset-mean curve removed), r_i is image i's
correlation over θ, the statistic is the mean r_i, and the null re-pairs images at random
(image i's score with image π(i)'s predictor), which keeps every curve whole.
P-values are two-sided; see ``multiple.adjust`` for control across datasets/predictors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Association:
    predictor: str
    level: str
    r: float
    p_value: float
    ci_low: float
    ci_high: float
    n_points: int
    null: str
    n_null: int
    note: str = ""


def _na(predictor: str, level: str, n: int, note: str) -> Association:
    nan = float("nan")
    return Association(predictor, level, nan, nan, nan, nan, n, "none", 0, note)


def covers_circle(thetas) -> bool:
    """True when the grid (mod 360) has no gap wider than twice its median gap."""
    t = np.unique(np.round(np.asarray(thetas, dtype=np.float64) % 360.0, 9))
    if len(t) < 4:
        return False
    gaps = np.diff(np.concatenate([t, [t[0] + 360.0]]))
    return bool(gaps.max() <= 2 * np.median(gaps) + 1e-9)


def periodic_eval(src_theta, src_values, query) -> np.ndarray:
    """Predictor values at ``query`` (..., T) by periodic linear interpolation on the circle."""
    t = np.asarray(src_theta, dtype=np.float64) % 360.0
    order = np.argsort(t)
    return np.interp(np.asarray(query, dtype=np.float64) % 360.0, t[order],
                     np.asarray(src_values, dtype=np.float64)[order], period=360.0)


def rowwise_r(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every row of ``x`` (M, T) with every row of ``y`` (N, T) -> (M, N)."""
    xc = x - x.mean(-1, keepdims=True)
    yc = y - y.mean(-1, keepdims=True)
    den = np.linalg.norm(xc, axis=-1)[:, None] * np.linalg.norm(yc, axis=-1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-15, (xc @ yc.T) / den, np.nan)


def _keep(theta_eval, exclude_zero: bool) -> np.ndarray:
    th = np.asarray(theta_eval, dtype=np.float64)
    zero = np.isclose(th % 360.0, 0.0) | np.isclose(th % 360.0, 360.0)
    return ~zero if exclude_zero else np.ones(len(th), bool)


def phase_surrogates(values: np.ndarray, n: int, rng: np.random.Generator,
                     mirror: bool = False) -> np.ndarray:
    """(n, T) surrogates with the same amplitude spectrum and uniformly random phases.

    ``mirror``: randomise the even extension [y, reversed y] (periodic without a jump at
    the ends, which a curve known only on part of the circle would otherwise gain) and
    keep its first T samples."""
    y = np.asarray(values, dtype=np.float64)
    if mirror:
        return phase_surrogates(np.concatenate([y, y[::-1]]), n, rng)[:, : len(y)]
    f = np.fft.rfft(y - y.mean())
    phases = rng.uniform(0, 2 * np.pi, size=(n, len(f)))
    phases[:, 0] = 0.0
    if len(y) % 2 == 0:  # the Nyquist coefficient must stay real
        phases[:, -1] = np.where(rng.random(n) < 0.5, 0.0, np.pi)
    return np.fft.irfft(np.abs(f) * np.exp(1j * phases), n=len(y), axis=-1) + y.mean()


def curve_association(theta_eval, score_mean, score_boots, pred_theta, pred_values,
                      predictor: str = "", exclude_zero: bool = True, shift_step: float = 1.0,
                      n_surrogates: int = 1000, seed: int = 0) -> Association:
    """Correlation of a score curve with a predictor curve, with an autocorrelation-aware null."""
    th = np.asarray(theta_eval, dtype=np.float64)
    keep = _keep(th, exclude_zero) & np.isfinite(score_mean)
    y = np.asarray(score_mean, dtype=np.float64)[keep]
    if keep.sum() < 4:
        return _na(predictor, "dataset", int(keep.sum()),
                   f"{int(keep.sum())} usable θ (θ = 0 excluded: {exclude_zero}); needs ≥ 4")
    pt = np.asarray(pred_theta, dtype=np.float64)
    pv = np.asarray(pred_values, dtype=np.float64)
    if covers_circle(pt):
        shifts = np.arange(0.0, 360.0, shift_step)
        cand = periodic_eval(pt, pv, th[keep][None, :] - shifts[:, None])  # row 0: no shift
        null, null_name = rowwise_r(cand, y[None])[:, 0], f"circular shift ({len(shifts)})"
        r = float(null[0])
        p = float(np.mean(np.abs(null) >= abs(r) - 1e-12)) if np.isfinite(r) else float("nan")
    else:
        uniform = len(pt) >= 4 and np.allclose(np.diff(np.sort(pt)), np.diff(np.sort(pt))[0])
        inside = uniform and th[keep].min() >= pt.min() and th[keep].max() <= pt.max()
        if not inside:
            return _na(predictor, "dataset", int(keep.sum()), "predictor grid neither covers "
                       "the circle nor is a uniform grid spanning the sweep θ")
        o = np.argsort(pt)
        sur = phase_surrogates(pv[o], n_surrogates, np.random.default_rng(seed), mirror=True)
        at = np.array([np.interp(th[keep], pt[o], s) for s in np.vstack([pv[o], sur])])
        null = rowwise_r(at, y[None])[:, 0]
        r = float(null[0])
        p = float((1 + np.sum(np.abs(null[1:]) >= abs(r) - 1e-12)) / (1 + n_surrogates))
        null_name = f"phase-randomised ({n_surrogates})"
    x = periodic_eval(pt, pv, th[keep]) if covers_circle(pt) else at[0]
    boots = np.asarray(score_boots, dtype=np.float64)[:, keep]
    br = rowwise_r(boots[np.all(np.isfinite(boots), axis=1)], x[None])[:, 0]
    br = br[np.isfinite(br)]
    lo, hi = np.quantile(br, [0.025, 0.975]) if len(br) else (np.nan, np.nan)
    return Association(predictor, "dataset", r, p, float(lo), float(hi), int(keep.sum()),
                       null_name, len(null), "" if np.isfinite(r) else "a curve is constant")


def image_association(theta_eval, score_img, pred_img, predictor: str = "",
                      exclude_zero: bool = True, n_perm: int = 2000, n_boot: int = 1000,
                      seed: int = 0) -> Association:
    """Mean within-image correlation of score and predictor residuals (dataset mean removed),
    against a null that re-pairs images at random."""
    keep = _keep(theta_eval, exclude_zero)
    d = np.asarray(score_img, dtype=np.float64)[:, keep]
    s = np.asarray(pred_img, dtype=np.float64)[:, keep]
    ok = np.all(np.isfinite(d), axis=1) & np.all(np.isfinite(s), axis=1)
    d, s = d[ok], s[ok]
    n_i, n_t = d.shape
    if n_i < 3 or n_t < 4:
        return _na(predictor, "image", n_i, f"{n_i} images × {n_t} θ: needs ≥ 3 × ≥ 4")
    rmat = rowwise_r(d - d.mean(0), s - s.mean(0))  # (I, I): score of i vs predictor of j
    good = np.isfinite(np.diag(rmat))
    rmat = np.nan_to_num(rmat[np.ix_(good, good)])
    n_i = int(good.sum())
    if n_i < 3:
        return _na(predictor, "image", n_i, "fewer than 3 images with non-constant residuals")
    rng = np.random.default_rng(seed)
    obs = float(np.mean(np.diag(rmat)))
    perms = np.argsort(rng.random((n_perm, n_i)), axis=1)
    null = rmat[np.arange(n_i)[None, :], perms].mean(axis=1)
    p = float((1 + np.sum(np.abs(null) >= abs(obs) - 1e-12)) / (1 + n_perm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = np.diag(rmat)[rng.integers(0, n_i, size=(n_boot, n_i))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return Association(predictor, "image", obs, p, float(lo), float(hi), n_i,
                       f"image re-pairing ({n_perm})", n_perm, f"{n_t} θ per image")
