"""Does the saliency score curve predict downstream quality along θ? (issue H)

    table = downstream_verdict(results, {"mri-lesion": cube}, ["probe_accuracy"], settings)
    table.columns == VERDICT_COLUMNS

Per dataset and downstream metric m (``probe_accuracy``, ``fewshot_dice``,
``linear_probe_accuracy``): r = Pearson correlation over the sweep θ between the saliency
score's per-θ mean (the cube of ``analysis.metric``, Dice by default) and m's per-θ mean
over seeds, tested with issue C's ``curve_association`` (m is the predictor curve: on a
grid covering the circle, the circular-shift null; on a uniform arc, phase-randomised
surrogates; θ = 0 left out when ``analysis.exclude_zero``). Rows ``dice_predicts:<m>``
are Holm-adjusted (``analysis.correction``) as one family across datasets and metrics,
separate from the orientation-predictor family. A summary row per dataset,
``dice_predicts_downstream``, reads "saliency Dice predicts downstream quality: yes/no
(r, p)" using the strongest metric (smallest adjusted p); yes when any metric is
significant after correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thetascope.analysis.cube import Cube, bootstrap_curves
from thetascope.analysis.predictors import curve_association
from thetascope.analysis.verdict import VERDICT_COLUMNS, VerdictSettings, decide
from thetascope.analysis.verdict import row as verdict_row


def downstream_curve(results: pd.DataFrame, dataset: str, metric: str) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """(θ, mean over seeds and rows) of one downstream metric of one dataset."""
    df = results[(results["dataset"] == dataset) & (results["metric"] == metric)]
    g = df.groupby("theta")["value"].mean().sort_index()
    return g.index.to_numpy(dtype=np.float64), g.to_numpy(dtype=np.float64)


def downstream_verdict(results: pd.DataFrame, cubes: dict[str, Cube], metrics: list[str],
                       settings: VerdictSettings, score_name: str = "Dice") -> pd.DataFrame:
    """Verdict rows (``VERDICT_COLUMNS``) relating each cube's score curve to each metric."""
    st = settings
    rows = []
    for name, cube in cubes.items():
        boots = bootstrap_curves(cube.values, st.bootstrap, st.seed)
        for m in metrics:
            pt, pv = downstream_curve(results, name, m)
            ok = np.isfinite(pv)
            if ok.sum() < 4:
                rows.append(verdict_row(name, f"dice_predicts:{m}", "pearson r", np.nan,
                                 detail=f"{int(ok.sum())} θ with {m}; needs ≥ 4",
                                 n=int(ok.sum())))
                continue
            a = curve_association(cube.thetas, cube.mean_curve, boots, pt[ok], pv[ok], m,
                                  st.exclude_zero, st.shift_step, st.surrogates, st.seed)
            detail = a.note if a.null == "none" else "; ".join(
                x for x in (f"null {a.null}", a.note) if x)
            rows.append(verdict_row(name, f"dice_predicts:{m}", "pearson r", a.r, a.p_value,
                             ci=(a.ci_low, a.ci_high), detail=detail, n=a.n_points))
    df = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    if df.empty:
        return df
    df["decision"] = df["decision"].astype(object)
    decide(df, df.test.str.startswith("dice_predicts:"), st)
    summary = []
    for name in cubes:
        d = df[df.dataset == name]
        est = d[d.p_adjusted.notna()]
        if est.empty:
            summary.append(verdict_row(name, "dice_predicts_downstream", "pearson r", np.nan,
                                decision="not estimable",
                                detail=f"saliency {score_name} predicts downstream quality: "
                                "not estimable (no downstream test estimable)"))
            continue
        best = est.loc[est.p_adjusted.idxmin()]
        yes = "yes" if (est.decision == "yes").any() else "no"
        row = verdict_row(name, "dice_predicts_downstream", f"r of {best.test}", best.statistic,
                   best.p_value, ci=(best.ci_low, best.ci_high), decision=yes, n=len(est),
                   detail=f"saliency {score_name} predicts downstream quality: {yes} "
                   f"(r = {best.statistic:.2f}, p = {best.p_value:.3g}, adjusted "
                   f"{best.p_adjusted:.3g}; strongest of {len(est)}: {best.test})")
        row.update(p_adjusted=best.p_adjusted, correction=st.correction, alpha=st.alpha)
        summary.append(row)
    return pd.concat([df, pd.DataFrame(summary, columns=VERDICT_COLUMNS)], ignore_index=True)
