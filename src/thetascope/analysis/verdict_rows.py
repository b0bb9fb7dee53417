"""The test rows of one dataset's verdict, before any decision (``analysis/verdict.py``).

    rows, spectrum, peaks = curve_rows("mri-lesion", cube, preds, img_preds, settings, "")
    rows = reference_rows("mri-lesion", diff_with_zero, settings)   # training_effect, θ = 0

``curve_rows`` runs the θ effect, the best-fitting period and its margin, seed stability
and the predictor tests on one cube (the paired difference trained − untrained, or the
raw trained curve; ``suffix`` ":raw" labels the latter when both are reported).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from thetascope.analysis.cube import Cube, bootstrap_curves, group_means, is_zero
from thetascope.analysis.min_f import mean_f, min_f_contrast
from thetascope.analysis.periodicity import periodicity
from thetascope.analysis.predictors import curve_association, image_association
from thetascope.analysis.stability import split_half
from thetascope.analysis.theta_effect import theta_effect

CURVE_LEVEL = ("informational: the dataset's curve against the predictor's; generic rotation "
               "effects share S(θ)'s symmetry, so only the image-level test decides")
VERDICT_COLUMNS = ["dataset", "test", "statistic_name", "statistic", "effect_size", "ci_low",
                   "ci_high", "p_value", "p_adjusted", "correction", "alpha", "decision",
                   "detail", "n"]


def row(dataset, test, name, stat, p=np.nan, effect=np.nan, ci=(np.nan, np.nan), detail="",
        n=0, decision=None, min_p=0.0) -> dict:
    return {"dataset": dataset, "test": test, "statistic_name": name, "statistic": float(stat),
            "effect_size": float(effect), "ci_low": float(ci[0]), "ci_high": float(ci[1]),
            "p_value": float(p), "p_adjusted": np.nan, "correction": "", "alpha": np.nan,
            "decision": decision, "detail": detail, "n": int(n), "_min_p": float(min_p)}


def _null_detail(a) -> str:
    return a.note if a.null == "none" else "; ".join(x for x in (f"null {a.null}", a.note) if x)


def _fmt_peaks(peaks: pd.DataFrame) -> str:
    if peaks.empty:
        return "no peak above the prominence threshold"
    return "peaks " + ", ".join(f"{r.theta:g}° [{r.theta_ci_low:g}, {r.theta_ci_high:g}]"
                                for r in peaks.itertuples())


def _image_predictor(cube: Cube, pt, by_id: dict) -> tuple[np.ndarray, list[int]]:
    ids = [i for i in cube.image_ids if i in by_id]
    sel = [cube.image_ids.index(i) for i in ids]
    th = cube.thetas
    pred = (np.stack([np.interp(th % 360, np.asarray(pt) % 360, by_id[i], period=360)
                      for i in ids]) if ids else np.empty((0, len(th))))
    return pred, sel


def curve_rows(name: str, cube: Cube, preds: dict, img_preds: dict, st,
               suffix: str = "", what: str = "") -> tuple[list[dict], pd.DataFrame,
                                                          pd.DataFrame]:
    """θ effect, best-fitting period (+ margin), seed stability and predictor rows of one
    cube whose θ = 0 has already been left out (when ``st.exclude_zero``)."""
    v, th, groups = cube.values, cube.thetas, cube.groups
    tag = f" ({what})" if what else ""
    rows = []
    te = theta_effect(v, st.theta_test, st.permutation_blocks, st.permutations, st.seed,
                      groups, st.sphericity, st.min_f_df)
    rows.append(row(name, "theta_effect" + suffix, f"{te.method} ({te.effect_name})",
                    te.statistic, te.p_value, te.effect_size,
                    detail="; ".join(x for x in (what, te.note) if x), n=te.n_blocks))
    per = periodicity(v, th, st.bootstrap, st.permutations, st.permutation_blocks,
                      st.peak_prominence, st.seed, st.theta_test, groups, st.sphericity,
                      st.min_f_df)
    detail = "; ".join(s for s in (what, per.note, _fmt_peaks(per.peaks),
                                   f"stability {per.stability:.2f}"
                                   if np.isfinite(per.stability) else "") if s)
    label = (f"share of {per.best_period:g}° period" if np.isfinite(per.best_period)
             else "share of the best-fitting period")
    unresolved = None
    if not per.resolvable:
        unresolved = (f"no resolvable period (a trend in θ fits as well: R² {per.trend_r2:.2f} "
                      f"against {per.share:.2f} for {per.best_period:g}°)")
        detail = f"{detail}; {unresolved}"
    rows.append(row(name, "periodicity" + suffix, label, per.share, per.p_value,
                    per.best_period, per.share_ci, detail, len(th), decision=unresolved))
    if not suffix:
        m_detail = per.margin_note or (f"best {per.best_period:g}° vs runner-up "
                                       f"{per.runner_up:g}°; one-sided bootstrap p")
        rows.append(row(name, "period_margin", "share margin over the runner-up", per.margin,
                        per.margin_p, per.runner_up, per.margin_ci, m_detail, len(th)))
        sh = split_half(v, seed=st.seed)
        rows.append(row(name, "seed_stability", "split-half r", sh.r, effect=sh.spearman_brown,
                        detail="; ".join(x for x in (what, sh.note, "effect = Spearman–Brown")
                                         if x), n=sh.n_splits,
                        decision="informational" if np.isfinite(sh.r) else "not estimable"))
    boots = bootstrap_curves(v, st.bootstrap, st.seed, groups=groups)
    for pname, (pt, pv) in preds.items():
        a = curve_association(th, cube.mean_curve, boots, pt, pv, pname, False,
                              st.shift_step, st.surrogates, st.seed, tuple(st.generic_terms))
        # informational: S(θ), A(θ) and every generic rotation effect are even about 0°, so
        # one dataset's curve cannot tell orientation from a generic effect (METHODS)
        rows.append(row(name, f"predicts:{pname}{suffix}", "pearson r" + tag, a.r, a.p_value,
                        ci=(a.ci_low, a.ci_high), n=a.n_points, min_p=a.min_p,
                        detail="; ".join(x for x in (CURVE_LEVEL, _null_detail(a)) if x),
                        decision="informational" if np.isfinite(a.p_value)
                        else f"not estimable: {a.note}"))
    if suffix:
        return rows, pd.DataFrame(), pd.DataFrame()
    for pname, (pt, by_id) in img_preds.items():
        pred, sel = _image_predictor(cube, pt, by_id)
        a = image_association(th, cube.image_curves[sel], pred, pname, False, st.permutations,
                              st.bootstrap, st.seed, [groups[i] for i in sel])
        rows.append(row(name, f"predicts:{pname}:image", "mean within-image r" + tag, a.r,
                        a.p_value, ci=(a.ci_low, a.ci_high), detail=_null_detail(a),
                        n=a.n_points, min_p=a.min_p))
    spec = per.spectrum.assign(dataset=name, kind=per.kind)
    peaks = per.peaks.assign(dataset=name)
    return rows, spec, peaks


def reference_rows(name: str, diff: Cube, st, exclude_zero: bool) -> list[dict]:
    """``training_effect`` (trained − untrained over the tested θ differs from 0) and
    ``identical_views`` (θ = 0 differs from the other θ) on the paired difference."""
    tested = diff.without_zero() if exclude_zero else diff
    mf = mean_f(tested.values, tested.groups, st.min_f_df)
    gm = group_means(tested.values, tested.groups)
    mean = float(np.nanmean(gm)) if np.isfinite(gm).any() else float("nan")
    out = [row(name, "training_effect", "mean trained − untrained", mean, mf.p_value,
               mf.statistic, detail=f"min F′ of the grand mean, seeds and groups random; "
               f"{mf.note}", n=tested.values.shape[0])]
    zero = is_zero(diff.thetas)
    if not zero.any() or zero.all():
        out.append(row(name, "identical_views", "θ = 0 minus the mean of the other θ", np.nan,
                       detail="θ = 0 is not in the sweep (or is all of it)",
                       decision="not tested"))
        return out
    c = np.where(zero, 1.0, -1.0 / (~zero).sum())
    basis = (c / np.linalg.norm(c))[:, None]
    res = min_f_contrast(diff.values, basis, diff.groups, "none", st.min_f_df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        curve = np.nanmean(group_means(diff.values, diff.groups), axis=(0, 1))
    effect = float(curve[zero].mean() - curve[~zero].mean())
    out.append(row(name, "identical_views", "θ = 0 minus the mean of the other θ", effect,
                   res.p_value, res.statistic, detail="a 1-df contrast on trained − untrained: "
                   f"θ = 0 trains on identical views, a different task; {res.note}",
                   n=diff.values.shape[0]))
    return out
