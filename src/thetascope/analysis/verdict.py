"""The verdict table: every test of the shortcut hypothesis, one row per dataset × test.

    settings = VerdictSettings(alpha=0.05, correction="holm")
    out = build_verdict({"mri-lesion": cube}, {"mri-lesion": {"self_overlap": (th, S)}},
                        {"mri-lesion": {"self_overlap": (th, {"img1": S1, ...})}}, settings)
    out.table            # columns VERDICT_COLUMNS; written to verdict.parquet
    out.spectra, out.peaks

Tests (``test`` column): ``theta_effect`` (does the score depend on θ), ``periodicity``
(dominant period of the per-θ mean), ``seed_stability`` (split-half r, informational),
``predicts:<predictor>`` (curve level) and ``predicts:<predictor>:image`` (image level),
and ``orientation_predicts`` (yes when any predictor test is significant after
correction). Families adjusted together (``correction``, Holm by default): the θ-effect
tests across datasets; the periodicity tests across datasets; every predictor test across
datasets, predictors and levels. ``decision`` is "yes"/"no" at ``alpha`` on the adjusted
p-value, or "not estimable" with the reason in ``detail``. For ``periodicity`` the
``statistic`` is the dominant period's share of variance and ``effect_size`` the period in
degrees; for ``seed_stability`` ``effect_size`` is the Spearman–Brown reliability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thetascope.analysis.cube import Cube, bootstrap_curves
from thetascope.analysis.multiple import adjust
from thetascope.analysis.periodicity import periodicity
from thetascope.analysis.predictors import curve_association, image_association
from thetascope.analysis.stability import split_half
from thetascope.analysis.theta_effect import theta_effect

VERDICT_COLUMNS = ["dataset", "test", "statistic_name", "statistic", "effect_size", "ci_low",
                   "ci_high", "p_value", "p_adjusted", "correction", "alpha", "decision",
                   "detail", "n"]


@dataclass(frozen=True)
class VerdictSettings:
    alpha: float = 0.05
    theta_test: str = "min_f"
    permutation_blocks: str = "seed"
    permutations: int = 2000
    bootstrap: int = 1000
    peak_prominence: float = 1.0
    exclude_zero: bool = True
    shift_step: float = 1.0
    surrogates: int = 1000
    correction: str = "holm"
    seed: int = 0


@dataclass
class VerdictOutput:
    table: pd.DataFrame
    spectra: pd.DataFrame = field(default_factory=pd.DataFrame)
    peaks: pd.DataFrame = field(default_factory=pd.DataFrame)


def _row(dataset, test, name, stat, p=np.nan, effect=np.nan, ci=(np.nan, np.nan), detail="",
         n=0, decision=None) -> dict:
    return {"dataset": dataset, "test": test, "statistic_name": name, "statistic": float(stat),
            "effect_size": float(effect), "ci_low": float(ci[0]), "ci_high": float(ci[1]),
            "p_value": float(p), "p_adjusted": np.nan, "correction": "", "alpha": np.nan,
            "decision": decision, "detail": detail, "n": int(n)}


def _null_detail(a) -> str:
    return a.note if a.null == "none" else "; ".join(x for x in (f"null {a.null}", a.note) if x)


def _fmt_peaks(peaks: pd.DataFrame) -> str:
    if peaks.empty:
        return "no peak above the prominence threshold"
    return "peaks " + ", ".join(f"{r.theta:g}° [{r.theta_ci_low:g}, {r.theta_ci_high:g}]"
                                for r in peaks.itertuples())


def _dataset_rows(name: str, cube: Cube, preds: dict, img_preds: dict, st: VerdictSettings):
    v, th = cube.values, cube.thetas
    rows = []
    te = theta_effect(v, st.theta_test, st.permutation_blocks, st.permutations, st.seed)
    rows.append(_row(name, "theta_effect", f"{te.method} ({te.effect_name})", te.statistic,
                     te.p_value, te.effect_size, detail=te.note, n=te.n_blocks))
    per = periodicity(v, th, st.bootstrap, st.permutations, st.permutation_blocks,
                      st.peak_prominence, st.seed, st.theta_test)
    detail = "; ".join(s for s in (per.note, _fmt_peaks(per.peaks),
                                   f"stability {per.stability:.2f}"
                                   if np.isfinite(per.stability) else "") if s)
    label = (f"share of {per.dominant_period:g}° period" if np.isfinite(per.dominant_period)
             else "share of the dominant period")
    rows.append(_row(name, "periodicity", label,
                     per.share, per.p_value, per.dominant_period, per.share_ci, detail,
                     len(th)))
    sh = split_half(v, seed=st.seed)
    rows.append(_row(name, "seed_stability", "split-half r", sh.r, effect=sh.spearman_brown,
                     detail=(sh.note + "; " if sh.note else "") + "effect = Spearman–Brown",
                     n=sh.n_splits, decision="informational" if np.isfinite(sh.r)
                     else "not estimable"))
    boots = bootstrap_curves(v, st.bootstrap, st.seed)
    for pname, (pt, pv) in preds.items():
        a = curve_association(th, cube.mean_curve, boots, pt, pv, pname, st.exclude_zero,
                              st.shift_step, st.surrogates, st.seed)
        rows.append(_row(name, f"predicts:{pname}", "pearson r", a.r, a.p_value,
                         ci=(a.ci_low, a.ci_high), detail=_null_detail(a), n=a.n_points))
    for pname, (pt, by_id) in img_preds.items():
        ids = [i for i in cube.image_ids if i in by_id]
        sel = [cube.image_ids.index(i) for i in ids]
        pred = (np.stack([np.interp(th % 360, np.asarray(pt) % 360, by_id[i], period=360)
                          for i in ids]) if ids else np.empty((0, len(th))))
        a = image_association(th, cube.image_curves[sel], pred, pname, st.exclude_zero,
                              st.permutations, st.bootstrap, st.seed)
        rows.append(_row(name, f"predicts:{pname}:image", "mean within-image r", a.r,
                         a.p_value, ci=(a.ci_low, a.ci_high), detail=_null_detail(a),
                         n=a.n_points))
    spec = per.spectrum.assign(dataset=name, kind=per.kind)
    peaks = per.peaks.assign(dataset=name)
    return rows, spec, peaks


def _decide(df: pd.DataFrame, mask: pd.Series, st: VerdictSettings) -> None:
    df.loc[mask, "p_adjusted"] = adjust(df.loc[mask, "p_value"].to_numpy(), st.correction)
    df.loc[mask, "correction"] = st.correction
    df.loc[mask, "alpha"] = st.alpha
    sig = df["p_adjusted"] <= st.alpha
    est = df["p_adjusted"].notna()
    df.loc[mask & est, "decision"] = np.where(sig[mask & est], "yes", "no")
    df.loc[mask & ~est, "decision"] = "not estimable"


def build_verdict(cubes: dict[str, Cube], predictors: dict[str, dict],
                  image_predictors: dict[str, dict], settings: VerdictSettings) -> VerdictOutput:
    """Run every test for every dataset, adjust per family, and decide."""
    rows, specs, peaks = [], [], []
    for name, cube in cubes.items():
        r, s, p = _dataset_rows(name, cube, predictors.get(name, {}),
                                image_predictors.get(name, {}), settings)
        rows += r
        specs.append(s)
        peaks.append(p)
    df = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    if df.empty:
        return VerdictOutput(df)
    df["decision"] = df["decision"].astype(object)
    _decide(df, df.test == "theta_effect", settings)
    _decide(df, df.test == "periodicity", settings)
    pred = df.test.str.startswith("predicts:")
    _decide(df, pred, settings)
    per = df.test == "periodicity"
    df.loc[per & (df.decision == "yes"), "decision"] = df.loc[per & (df.decision == "yes")] \
        .effect_size.map(lambda x: f"period {x:g}°")
    df.loc[per & (df.decision == "no"), "decision"] = "no dominant period"
    summary = []
    for name in cubes:
        d = df[pred & (df.dataset == name)]
        est = d[d.p_adjusted.notna()]
        if est.empty:
            summary.append(_row(name, "orientation_predicts", "min adjusted p", np.nan,
                                decision="not estimable", detail="no predictor test estimable"))
            continue
        best = est.loc[est.p_adjusted.idxmin()]
        row = _row(name, "orientation_predicts", f"r of {best.test}", best.statistic,
                   best.p_value, ci=(best.ci_low, best.ci_high),
                   decision="yes" if (est.decision == "yes").any() else "no",
                   detail=f"{len(est)} predictor tests; strongest {best.test}", n=len(est))
        row.update(p_adjusted=best.p_adjusted, correction=settings.correction,
                   alpha=settings.alpha)
        summary.append(row)
    df = pd.concat([df, pd.DataFrame(summary, columns=VERDICT_COLUMNS)], ignore_index=True)
    return VerdictOutput(df, pd.concat(specs, ignore_index=True) if specs else pd.DataFrame(),
                         pd.concat(peaks, ignore_index=True) if peaks else pd.DataFrame())
