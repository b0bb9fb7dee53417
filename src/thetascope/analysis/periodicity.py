"""Which periods carry the variance of the per-θ mean curve, and where are its peaks?

    spec = harmonic_spectrum(thetas, curve)          # Spectrum(periods, share, kind, note)
    res = periodicity(cube.values, cube.thetas, n_boot=1000, groups=cube.groups)
    res.best_period, res.share, res.share_ci, res.p_value, res.peaks
    res.runner_up, res.margin, res.margin_ci, res.margin_p   # does it beat the others?

What can be estimated depends on the θ grid, and the code says which case applies:

- ``full_circle`` (uniform, n steps of 360/n): the DFT of the demeaned curve; harmonic k
  has period 360/k and ``share`` is its fraction of the variance (shares sum to 1).
- ``partial``: for each observable period 360/k, the R² of a least-squares sinusoid with
  a floating mean (generalised Lomb–Scargle). On a grid that goes round the circle with
  gaps (e.g. every 30° but θ = 0, which the tests leave out) every harmonic k with 2k
  below the number of θ is observable (11 θ: periods down to 72°). Otherwise (e.g.
  30..180 step 30) a period needs one full cycle inside the span (period ≤ max θ − min θ)
  and two samples per cycle (period ≥ 2 × largest gap): 360° cannot be told from a trend.
  R² values of different periods overlap and do not sum to 1. Fewer than 5 θ (3
  parameters + 2 residual degrees of freedom): nothing estimable.

The best-fitting period's share gets a crossed-bootstrap CI (seeds × source groups) and a
p-value: with ``test="min_f"`` (default) the min F′ of that period's sinusoid (seeds and
groups random, sphericity corrected, as in ``theta_effect``) multiplied by the number of
candidate periods, since the largest was picked (Bonferroni); otherwise the θ-permutation
null of the largest share. Whether it fits *better than the others*: the margin of its
share over the runner-up's, with the bootstrap replicates' margins giving a 95% CI and a
one-sided p (share of replicates where the runner-up fits at least as well); it needs ≥ 3
seeds and ≥ 3 groups, since a bootstrap of two draws knows only three resamples.

On a grid shorter than the circle a trend, or a period longer than the span, projects onto
the candidate periods (a planted 180° period on 30..180 fits 120° best); when a quadratic
trend in θ fits the curve at least as well as the best sinusoid (``trend_r2``), no period
is named ("no resolvable period").

Peaks of the mean curve come from ``scipy.signal.find_peaks`` with prominence ≥
``prominence`` × the median CI width (the curve wraps around on a full-circle grid); each
peak's angle gets a bootstrap CI from the argmax of every replicate within
± ``window_steps`` grid steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from thetascope.analysis.cube import bootstrap_curves, percentile_ci
from thetascope.analysis.min_f import min_f_contrast
from thetascope.analysis.theta_effect import block_curves, permuted_means


@dataclass
class Spectrum:
    periods: np.ndarray  # (K,) degrees
    share: np.ndarray  # (..., K)
    kind: str  # full_circle | partial | none
    note: str = ""


def grid_kind(thetas) -> str:
    """'full_circle' when θ mod 360 is n uniform steps of 360/n, else 'partial'."""
    t = np.sort(np.asarray(thetas, dtype=np.float64) % 360.0)
    n = len(t)
    if n < 2 or len(np.unique(np.round(t, 9))) != n:
        return "partial"
    gaps = np.diff(np.concatenate([t, [t[0] + 360.0]]))
    return "full_circle" if np.allclose(gaps, 360.0 / n, atol=1e-6) else "partial"


def _round_circle(t: np.ndarray) -> bool:
    """The grid goes round the circle: no circular gap wider than twice the median gap."""
    u = np.unique(np.round(t % 360.0, 9))
    if len(u) < 5:
        return False
    gaps = np.diff(np.concatenate([u, [u[0] + 360.0]]))
    return bool(gaps.max() <= 2 * np.median(gaps) + 1e-9)


def observable_periods(thetas) -> tuple[np.ndarray, str]:
    """Periods 360/k estimable on a partial grid, and why the list is what it is."""
    t = np.sort(np.asarray(thetas, dtype=np.float64))
    if len(t) < 5:
        return np.array([]), f"{len(t)} θ: at least 5 are needed to fit a sinusoid"
    if _round_circle(t):
        u = np.unique(np.round(t % 360.0, 9))
        gap = float(np.median(np.diff(np.concatenate([u, [u[0] + 360.0]]))))
        ks = [k for k in range(1, 361) if 360.0 / k >= 2 * gap - 1e-9 and 2 * k < len(u)]
        return (np.array([360.0 / k for k in ks]),
                f"grid round the circle with gaps ({len(u)} θ, median gap {gap:g}°): "
                f"periods down to {2 * gap:g}°; R² per period, not additive")
    span, gap = t[-1] - t[0], float(np.max(np.diff(t)))
    ks = [k for k in range(1, 361) if 2 * gap - 1e-9 <= 360.0 / k <= span + 1e-9]
    periods = np.array([360.0 / k for k in ks])
    note = (f"partial grid (span {span:g}°, largest gap {gap:g}°): periods between "
            f"{2 * gap:g}° and {span:g}° only; R² per period, not additive")
    return periods, note if len(periods) else note + "; none fits"


def harmonic_spectrum(thetas, curves: np.ndarray) -> Spectrum:
    """Share of variance per period for one curve (T,) or many (..., T)."""
    th = np.asarray(thetas, dtype=np.float64)
    y = np.asarray(curves, dtype=np.float64)
    order = np.argsort(th % 360.0) if grid_kind(th) == "full_circle" else np.argsort(th)
    th, y = th[order], y[..., order]
    if grid_kind(th) == "full_circle" and len(th) >= 4:
        n = len(th)
        f = np.fft.rfft(y - y.mean(-1, keepdims=True), axis=-1)[..., 1:]
        power = np.abs(f) ** 2
        power[..., : (n - 1) // 2] *= 2  # both signs of every non-Nyquist harmonic
        tot = power.sum(-1, keepdims=True)
        share = np.divide(power, tot, out=np.zeros_like(power), where=tot > 0)
        return Spectrum(360.0 / np.arange(1, power.shape[-1] + 1), share, "full_circle",
                        f"full circle, {n} θ: DFT variance shares")
    periods, note = observable_periods(th)
    if not len(periods):
        return Spectrum(periods, np.zeros(y.shape[:-1] + (0,)), "none", note)
    yc = y - y.mean(-1, keepdims=True)
    flat = yc.reshape(-1, len(th)).T  # (T, M): lstsq solves every curve in one call
    tot = np.sum(flat**2, axis=0)
    shares = []
    # hand-written least squares: scipy's lombscargle fits one 1-D curve per call (and its
    # floating mean needs scipy ≥ 1.15); lstsq fits all bootstrap replicates at once
    for p in periods:
        w = 2 * math.pi * th / p
        x = np.stack([np.ones_like(th), np.cos(w), np.sin(w)], axis=1)
        coef, *_ = np.linalg.lstsq(x, flat, rcond=None)
        rss = np.sum((flat - x @ coef) ** 2, axis=0)
        shares.append(np.divide(tot - rss, tot, out=np.zeros_like(tot), where=tot > 0))
    share = np.stack(shares, axis=-1).reshape(y.shape[:-1] + (len(periods),))
    return Spectrum(periods, share, "partial", note)


def curve_peaks(thetas, mean, lo, hi, boots, prominence: float = 1.0,
                window_steps: int = 2) -> pd.DataFrame:
    """Peaks of the mean curve with prominence ≥ ``prominence`` × median CI width."""
    th = np.asarray(thetas, dtype=np.float64)
    cols = ["theta", "height", "prominence", "height_ci_low", "height_ci_high",
            "theta_ci_low", "theta_ci_high"]
    if len(th) < 3 or not np.all(np.isfinite(mean)):
        return pd.DataFrame(columns=cols)
    width = np.nanmedian(hi - lo)
    min_prom = prominence * width if np.isfinite(width) and width > 0 else 0.0
    n = len(th)
    circular = grid_kind(th) == "full_circle"
    y = np.concatenate([mean, mean, mean]) if circular else np.asarray(mean)
    idx, props = find_peaks(y, prominence=min_prom if min_prom > 0 else None)
    prom = props.get("prominences", np.zeros(len(idx)))
    if circular:
        keep = (idx >= n) & (idx < 2 * n)
        idx, prom = idx[keep] - n, prom[keep]
    rows = []
    for i, p in zip(idx, prom, strict=True):
        win = [(i + d) % n if circular else i + d for d in range(-window_steps, window_steps + 1)
               if circular or 0 <= i + d < n]
        best = np.asarray(win)[np.argmax(boots[:, win], axis=1)]
        rel = (th[best] - th[i] + 180.0) % 360.0 - 180.0 if circular else th[best] - th[i]
        t_lo, t_hi = np.quantile(rel, [0.025, 0.975]) + th[i]
        rows.append([th[i], mean[i], p, lo[i], hi[i], t_lo, t_hi])
    return pd.DataFrame(rows, columns=cols)


@dataclass
class Periodicity:
    kind: str
    best_period: float = float("nan")
    share: float = float("nan")
    share_ci: tuple[float, float] = (float("nan"), float("nan"))
    stability: float = float("nan")
    p_value: float = float("nan")
    spectrum: pd.DataFrame = field(default_factory=pd.DataFrame)
    peaks: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""
    runner_up: float = float("nan")
    margin: float = float("nan")
    margin_ci: tuple[float, float] = (float("nan"), float("nan"))
    margin_p: float = float("nan")
    margin_note: str = ""
    trend_r2: float = float("nan")  # partial grids: R² of a quadratic trend in θ

    @property
    def resolvable(self) -> bool:
        """False when a quadratic trend (as many parameters as the sinusoid) fits the curve
        at least as well: on a grid shorter than the circle a trend or a period longer than
        the span then passes for the best candidate period."""
        return not (np.isfinite(self.trend_r2) and self.trend_r2 >= self.share)

    @property
    def dominant_period(self) -> float:  # the name before "best-fitting"
        return self.best_period


def sinusoid_basis(thetas, period: float) -> np.ndarray:
    """Orthonormal (T, q ≤ 2) basis of the centred cos/sin of ``period`` on the grid."""
    w = 2 * math.pi * np.asarray(thetas, dtype=np.float64) / period
    x = np.stack([np.cos(w), np.sin(w)], axis=1)
    q, r = np.linalg.qr(x - x.mean(0))
    return q[:, np.abs(np.diag(r)) > 1e-9 * max(1.0, np.abs(r).max())]


def _best_p(v, c, th, spec: Spectrum, k: int, test: str, n_perm: int, seed: int, groups,
            sphericity: str, df: str):
    """p-value of the best period: min F′ of its sinusoid × the number of candidate
    periods (Bonferroni for picking the largest), or the θ-permutation null of the max share."""
    if test == "min_f":
        res = min_f_contrast(v, sinusoid_basis(th, spec.periods[k]), groups, sphericity, df)
        m = len(spec.periods)
        p = min(1.0, res.p_value * m) if np.isfinite(res.p_value) else res.p_value
        return p, (f"{spec.note}; min F′ of the {spec.periods[k]:g}° sinusoid × {m} periods"
                   + ("" if np.isfinite(p) else f" ({res.note})"))
    if len(c) < 2:
        return float("nan"), spec.note + "; one block: no permutation p-value"
    rng = np.random.default_rng(seed + 1)
    obs = float(spec.share[k])
    ge = sum(int(np.sum(harmonic_spectrum(th, m).share.max(-1) >= obs - 1e-12))
             for m in permuted_means(c, n_perm, rng))
    return (1 + ge) / (1 + n_perm), spec.note + "; θ-permutation null of the largest share"


def _margin(shares: np.ndarray, b_share: np.ndarray, k: int, n_seeds: int, n_groups: int):
    """Best period's share minus the runner-up's: (runner-up index, margin, CI, p, note)."""
    if shares.shape[-1] < 2:
        return -1, float("nan"), (float("nan"), float("nan")), float("nan"), \
            "one candidate period: nothing to beat"
    others = np.delete(np.arange(shares.shape[-1]), k)
    j = int(others[np.argmax(shares[others])])
    margin = float(shares[k] - shares[j])
    if n_seeds < 3 or n_groups < 3 or not len(b_share):
        return j, margin, (float("nan"), float("nan")), float("nan"), \
            f"{n_seeds} seeds × {n_groups} groups: a bootstrap needs ≥ 3 of each"
    bm = b_share[:, k] - np.max(b_share[:, others], axis=1)
    lo, hi = percentile_ci(bm)
    return j, margin, (float(lo), float(hi)), float((1 + np.sum(bm <= 0)) / (1 + len(bm))), ""


def periodicity(values: np.ndarray, thetas, n_boot: int = 1000, n_perm: int = 1000,
                blocks: str = "seed", prominence: float = 1.0, seed: int = 0,
                test: str = "min_f", groups=None,
                sphericity: str = "greenhouse_geisser", df: str = "min") -> Periodicity:
    """Spectrum, best-fitting period (CI, stability, p, margin over the runner-up) and
    peaks of a (S, I, T) cube's mean curve."""
    v = np.asarray(values, dtype=np.float64)
    th = np.asarray(thetas, dtype=np.float64)
    boots = bootstrap_curves(v, n_boot, seed, groups=groups)
    c, _ = block_curves(v, blocks)
    mean = c.mean(0) if len(c) else np.full(len(th), np.nan)
    lo, hi = percentile_ci(boots)
    peaks = curve_peaks(th, mean, lo, hi, boots, prominence)
    spec = harmonic_spectrum(th, mean)
    if spec.kind == "none" or not np.all(np.isfinite(mean)):
        return Periodicity(spec.kind, peaks=peaks, note=spec.note or "incomplete curve")
    k = int(np.argmax(spec.share))
    b_share = harmonic_spectrum(th, boots[np.all(np.isfinite(boots), axis=1)]).share
    ci = percentile_ci(b_share[:, k])
    stab = float(np.mean(np.argmax(b_share, axis=1) == k)) if len(b_share) else float("nan")
    p_value, note = _best_p(v, c, th, spec, k, test, n_perm, seed, groups, sphericity, df)
    n_groups = len(set(groups)) if groups is not None else v.shape[1]
    j, margin, m_ci, m_p, m_note = _margin(spec.share, b_share, k, v.shape[0], n_groups)
    table = pd.DataFrame({"period": spec.periods, "share": spec.share})
    trend = trend_r2(th, mean) if spec.kind == "partial" and not _round_circle(th) \
        else float("nan")
    return Periodicity(spec.kind, float(spec.periods[k]), float(spec.share[k]),
                       (float(ci[0]), float(ci[1])), stab, p_value, table, peaks, note,
                       float(spec.periods[j]) if j >= 0 else float("nan"), margin, m_ci, m_p,
                       m_note, trend)


def trend_r2(thetas, curve) -> float:
    """R² of a least-squares quadratic in θ (floating mean): the non-periodic competitor
    of a period's sinusoid on a grid shorter than the circle (both have 3 parameters)."""
    t = np.asarray(thetas, dtype=np.float64)
    y = np.asarray(curve, dtype=np.float64)
    yc = y - y.mean()
    tot = float(np.sum(yc**2))
    if tot <= 0 or len(t) < 4:
        return float("nan")
    u = (t - t.mean()) / max(np.ptp(t), 1e-9)
    x = np.stack([np.ones_like(u), u, u**2], axis=1)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(1.0 - np.sum((y - x @ coef) ** 2) / tot)
