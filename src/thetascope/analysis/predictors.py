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

Generic rotation effects (``generic``, ``analysis.generic_terms``): S(θ) has nearly the
same shape on every dataset (1 at 0°, lowest near 90°, a bump at 180°: mostly cos θ and
cos 2θ), so any score effect symmetric about 0° (harder views at larger angles: |sin θ|, a
ramp min(θ, 360 − θ), 1 − cos θ; a 2- or 4-fold resampling pattern, cos 2θ, cos 4θ)
correlates with it without involving any image, and the shift null cannot break that
alignment. Both the score curve and every shifted predictor are residualised on an
intercept and the generic terms (default |sin θ| and the cos and sin of the 1-, 2- and
4-fold harmonics) before correlating, so only what they leave (S's 3-, 5-, 6-fold … fine
structure, the dataset's own) is credited to orientation. The harmonics enter with cos *and* sin,
which keeps the basis (nearly: |sin θ| lies 99 % in those harmonics) closed under
rotation: a shifted predictor's residual is then the shifted residual and the shift null
stays exchangeable (with cos terms alone the unshifted, symmetric S(θ) was unlike its
shifted copies and the null degenerate). Not estimable: fewer than 3 residual degrees of
freedom; a score curve made of generic terms only; a predictor that holds (almost) nothing
beyond them at the sweep θ (under 1 % of its variance left).

Image level: does an image's own S(θ) predict its own score(θ) beyond the dataset mean?
Both are centred per θ over images (the dataset-mean curve removed), r_i is image i's
correlation over θ, the statistic is the mean r_i, and the null re-pairs images at random
(image i's score with image π(i)'s predictor), which keeps every curve whole. Slices of
one volume share their curves, so with ``groups`` the curves are first averaged per source
group and groups are re-paired; a re-pairing null of G groups cannot give p below 1/G!,
which the note states (``min_p``).
P-values are two-sided; see ``multiple.adjust`` for control across datasets/predictors.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np


def generic_design(thetas, terms) -> np.ndarray:
    """(T, 1 + …): an intercept and each generic term at θ (degrees): ``abs_sin`` is
    |sin θ|, ``h<k>`` adds cos kθ and sin kθ."""
    t = np.radians(np.asarray(thetas, dtype=np.float64))
    cols = [np.ones_like(t)]
    for term in terms:
        if term == "abs_sin":
            cols.append(np.abs(np.sin(t)))
        elif re.fullmatch(r"h[1-9][0-9]*", str(term)):
            k = int(term[1:])
            cols += [np.cos(k * t), np.sin(k * t)]
        else:
            raise ValueError(f"unknown generic term {term!r}: use abs_sin or h<k> (h2, h4)")
    return np.stack(cols, axis=1)


def residualise(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows of ``y`` (..., T) minus their least-squares fit on the columns of ``x`` (T, p)."""
    y = np.asarray(y, dtype=np.float64)
    flat = y.reshape(-1, y.shape[-1]).T
    coef, *_ = np.linalg.lstsq(x, flat, rcond=None)
    return (flat - x @ coef).T.reshape(y.shape)


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
    min_p: float = 0.0  # the smallest p the null can give


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
                      n_surrogates: int = 1000, seed: int = 0,
                      generic: tuple[str, ...] | list[str] = ()) -> Association:
    """Correlation of a score curve with a predictor curve, with an autocorrelation-aware
    null, after removing the ``generic`` rotation terms from both."""
    th = np.asarray(theta_eval, dtype=np.float64)
    keep = _keep(th, exclude_zero) & np.isfinite(score_mean)
    y = np.asarray(score_mean, dtype=np.float64)[keep]
    design = generic_design(th[keep], list(generic))
    df = int(keep.sum()) - int(np.linalg.matrix_rank(design))
    if keep.sum() < 4 or df < 3:
        why = (f"{int(keep.sum())} usable θ" + (" (θ = 0 left out)" if exclude_zero else "")
               + (f" minus {int(np.linalg.matrix_rank(design))} intercept and generic terms "
                  f"({', '.join(generic)})" if generic else "")
               + f" leave {max(df, 0)} degree(s) of freedom")
        return _na(predictor, "dataset", int(keep.sum()), f"{why}; the curve-level test needs "
                   "≥ 3 (a finer θ grid)")
    y_res = residualise(y, design)
    if np.linalg.norm(y_res) <= 1e-9 * max(np.linalg.norm(y - y.mean()), 1e-300):
        return _na(predictor, "dataset", int(keep.sum()), "the score curve is entirely "
                   "generic rotation terms: nothing left for orientation to explain")
    pt = np.asarray(pred_theta, dtype=np.float64)
    pv = np.asarray(pred_values, dtype=np.float64)
    at_sweep = periodic_eval(pt, pv, th[keep]) if covers_circle(pt) else \
        np.interp(th[keep], np.sort(pt), pv[np.argsort(pt)])
    left = np.var(residualise(at_sweep, design)) / max(np.var(at_sweep), 1e-300)
    if generic and left < 0.01:
        return _na(predictor, "dataset", int(keep.sum()), f"at the sweep θ the predictor "
                   f"holds nothing beyond the generic terms ({100 * left:.2g} % of its "
                   "variance left)")
    if covers_circle(pt):
        shifts = np.arange(0.0, 360.0, shift_step)
        cand = periodic_eval(pt, pv, th[keep][None, :] - shifts[:, None])  # row 0: no shift
        null = rowwise_r(residualise(cand, design), y_res[None])[:, 0]
        null_name, r = f"circular shift ({len(shifts)})", float(null[0])
        p = float(np.mean(np.abs(null) >= abs(r) - 1e-12)) if np.isfinite(r) else float("nan")
        x = cand[0]
        min_p = 1.0 / len(shifts)
    else:
        uniform = len(pt) >= 4 and np.allclose(np.diff(np.sort(pt)), np.diff(np.sort(pt))[0])
        inside = uniform and th[keep].min() >= pt.min() and th[keep].max() <= pt.max()
        if not inside:
            return _na(predictor, "dataset", int(keep.sum()), "predictor grid neither covers "
                       "the circle nor is a uniform grid spanning the sweep θ")
        o = np.argsort(pt)
        sur = phase_surrogates(pv[o], n_surrogates, np.random.default_rng(seed), mirror=True)
        at = np.array([np.interp(th[keep], pt[o], s) for s in np.vstack([pv[o], sur])])
        null = rowwise_r(residualise(at, design), y_res[None])[:, 0]
        r = float(null[0])
        p = float((1 + np.sum(np.abs(null[1:]) >= abs(r) - 1e-12)) / (1 + n_surrogates))
        null_name, x, min_p = f"phase-randomised ({n_surrogates})", at[0], 1 / (1 + n_surrogates)
    boots = np.asarray(score_boots, dtype=np.float64)[:, keep]
    boots = boots[np.all(np.isfinite(boots), axis=1)]
    br = rowwise_r(residualise(boots, design), residualise(x, design)[None])[:, 0]
    br = br[np.isfinite(br)]
    lo, hi = np.quantile(br, [0.025, 0.975]) if len(br) else (np.nan, np.nan)
    note = "" if np.isfinite(r) else "a curve is constant"
    if generic:
        note = "; ".join(x for x in (note, f"generic terms removed: {', '.join(generic)}")
                         if x)
    return Association(predictor, "dataset", r, p, float(lo), float(hi), int(keep.sum()),
                       null_name, len(null), note, min_p)


def image_association(theta_eval, score_img, pred_img, predictor: str = "",
                      exclude_zero: bool = True, n_perm: int = 2000, n_boot: int = 1000,
                      seed: int = 0, groups=None) -> Association:
    """Mean within-image (within-group with ``groups``) correlation of score and predictor
    residuals (dataset mean removed), against a null that re-pairs images (groups)."""
    keep = _keep(theta_eval, exclude_zero)
    d = np.asarray(score_img, dtype=np.float64)[:, keep]
    s = np.asarray(pred_img, dtype=np.float64)[:, keep]
    ok = np.all(np.isfinite(d), axis=1) & np.all(np.isfinite(s), axis=1)
    d, s = d[ok], s[ok]
    unit = "image"
    if groups is not None:
        g = np.asarray([str(x) for x in groups])[ok]
        if len(set(g)) < len(g):
            uniq = sorted(set(g))
            d = np.stack([d[g == u].mean(0) for u in uniq]) if uniq else d
            s = np.stack([s[g == u].mean(0) for u in uniq]) if uniq else s
            unit = "group"
    n_i, n_t = d.shape
    if n_i < 3 or n_t < 4:
        return _na(predictor, "image", n_i, f"{n_i} {unit}s × {n_t} θ: needs ≥ 3 × ≥ 4")
    rmat = rowwise_r(d - d.mean(0), s - s.mean(0))  # (I, I): score of i vs predictor of j
    good = np.isfinite(np.diag(rmat))
    rmat = np.nan_to_num(rmat[np.ix_(good, good)])
    n_i = int(good.sum())
    if n_i < 3:
        return _na(predictor, "image", n_i, f"fewer than 3 {unit}s with non-constant "
                   "residuals")
    rng = np.random.default_rng(seed)
    obs = float(np.mean(np.diag(rmat)))
    perms = np.argsort(rng.random((n_perm, n_i)), axis=1)
    null = rmat[np.arange(n_i)[None, :], perms].mean(axis=1)
    p = float((1 + np.sum(np.abs(null) >= abs(obs) - 1e-12)) / (1 + n_perm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = np.diag(rmat)[rng.integers(0, n_i, size=(n_boot, n_i))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    min_p = max(1.0 / math.factorial(n_i), 1.0 / (1 + n_perm))
    return Association(predictor, "image", obs, p, float(lo), float(hi), n_i,
                       f"{unit} re-pairing ({n_perm})", n_perm,
                       f"{n_t} θ per {unit}, {n_i} {unit}s", min_p)
