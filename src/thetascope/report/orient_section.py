"""The orientation-analysis part of the HTML report, from the run's ``orient_*.parquet``,
``verdict.parquet`` and ``figures/hog_example.png``.

    sec = orient_section(run)     # None when the stage did not run
    sec["polar"], sec["curves"], sec["predictors"], sec["verdict_rows"], sec["headlines"]

Charts: each dataset's signed gradient-orientation histogram (polar), the self-overlap S(θ)
with the 10–90% band of the image curves, the HoG SVM accuracy A(θ) with chance at 0.5,
and the score's per-θ mean against each predictor at the sweep θ (with the verdict's r, p).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from thetascope.report.gallery import file_uri
from thetascope.report.run_data import RunData
from thetascope.report.sections import metric_label, theta_ticks
from thetascope.report.svg import GRAY, GREEN, RED, Chart, fmt, polar_svg

PREDICTORS = {"self_overlap": ("S(θ): self-overlap of the orientation histogram", GREEN),
              "hog_svm": ("A(θ): HoG SVM accuracy", RED)}


def _s_chart(run: RunData, name: str, over: pd.DataFrame, sweep: list[float]) -> Markup:
    o = over[over.dataset == name]
    sim = str(o.similarity.iloc[0]) if "similarity" in o and len(o) else ""
    c = Chart(f"{run.title(name)}: S(θ)", "θ (degrees)", f"S(θ) ({sim})" if sim else "S(θ)",
              xticks=list(range(0, 361, 45)), xlim=(0, 360))
    img = o[o.level == "image"].pivot_table(index="image_id", columns="theta", values="value")
    if len(img):
        lo, hi = np.quantile(img.to_numpy(), [0.1, 0.9], axis=0)
        c.band(img.columns.to_numpy(float), lo, hi, GREEN, label="images 10–90%")
    ds = o[o.level == "dataset"].sort_values("theta")
    c.line(ds.theta, ds.value, GREEN, width=1.8, label="dataset")
    at = ds[ds.theta.isin(sweep)]
    c.points(at.theta, at.value, GREEN, [f"{name} · θ = {t:g}°\nS = {fmt(v)}"
                                         for t, v in zip(at.theta, at.value, strict=True)])
    return c.to_svg()


def _a_chart(run: RunData, name: str, svm: pd.DataFrame) -> Markup | None:
    a = svm[svm.dataset == name].sort_values("theta") if len(svm) else svm
    if not len(a):
        return None
    c = Chart(f"{run.title(name)}: A(θ)", "θ (degrees)", "A(θ): HoG SVM test accuracy",
              xticks=list(range(0, 361, 45)), xlim=(0, 360), ylim=(0.0, 1.02))
    c.hline(0.5, GRAY, label="chance")
    c.line(a.theta, a.accuracy, RED, width=1.5, label="accuracy")
    c.points(a.theta, a.accuracy, RED,
             [f"{name} · θ = {r.theta:g}°\naccuracy {fmt(r.accuracy, '.2f')} (rotated called "
              f"rotated {fmt(r.p_rotated, '.2f')}, specificity {fmt(r.specificity, '.2f')})\n"
              f"{int(r.n_train)} train / {int(r.n_test)} test images"
              for r in a.itertuples()], r=2.5)
    return c.to_svg()


def _predictor_values(run: RunData, name: str, pred: str, thetas: np.ndarray):
    if pred == "self_overlap":
        o = run.orient["overlap"]
        o = o[(o.dataset == name) & (o.level == "dataset")].sort_values("theta") \
            if len(o) else o
        pt, pv = (o.theta.to_numpy(), o.value.to_numpy()) if len(o) else (None, None)
    else:
        s = run.orient["svm"]
        s = s[s.dataset == name].sort_values("theta") if len(s) else s
        pt, pv = (s.theta.to_numpy(), s.accuracy.to_numpy()) if len(s) else (None, None)
    if pt is None:
        return None
    return np.interp(thetas % 360, pt % 360, pv, period=360)


def tested_curve(run: RunData, name: str, metric: str) -> tuple[pd.DataFrame, str]:
    """The curve the predictor tests use: per θ (θ = 0 left out when the config says so)
    the mean of trained − untrained with a 95% crossed-bootstrap CI, or the trained curve
    when the run has no untrained reference; and its axis label."""
    a = run.agg[(run.agg.dataset == name) & (run.agg.metric == metric)].sort_values("theta")
    ref = run.references
    cfg = run.cfg
    exclude = bool(cfg is None or cfg.analysis.exclude_zero)
    if exclude and len(a):
        a = a[~np.isclose(a.theta.to_numpy(float) % 360.0, 0.0)]
    if ref.empty or "model" not in ref or not ((ref.model == "untrained")
                                              & (ref.dataset == name)).any():
        return a, metric_label(metric)
    from thetascope.analysis.cube import (
        bootstrap_curves,
        difference_cube,
        percentile_ci,
        score_cube,
    )

    try:
        diff = difference_cube(score_cube(run.results, name, metric),
                               score_cube(ref, name, metric, "untrained"))
    except ValueError:
        return a, metric_label(metric)
    if exclude:
        diff = diff.without_zero()
    lo, hi = percentile_ci(bootstrap_curves(diff.values, 500, 0, groups=diff.groups))
    table = pd.DataFrame({"theta": diff.thetas, "mean": diff.mean_curve, "ci_low": lo,
                          "ci_high": hi})
    return table, f"{metric_label(metric)}: trained − untrained"


def _predictor_chart(run: RunData, name: str, pred: str, metric: str) -> Markup | None:
    a, ylabel = tested_curve(run, name, metric)
    x = _predictor_values(run, name, pred, a.theta.to_numpy(float)) if len(a) else None
    if x is None:
        return None
    label, color = PREDICTORS[pred]
    stat = ""
    if run.verdict is not None:
        v = run.verdict[(run.verdict.dataset == name) & (run.verdict.test == f"predicts:{pred}")]
        if len(v):
            r = v.iloc[0]
            stat = (f" (r = {fmt(r.statistic, '.2f')}, p adj {fmt(r.p_adjusted, '.3g')}: "
                    f"{r.decision})" if pd.notna(r.statistic) else f" ({r.decision})")
    c = Chart(f"{run.title(name)}{stat}", label.split(":")[0] + " at the sweep θ", ylabel,
              xpad=0.08)
    for xi, r in zip(x, a.itertuples(), strict=True):
        c.line([xi, xi], [r.ci_low, r.ci_high], color, width=1, opacity=0.5)
    c.points(x, a["mean"], color,
             [f"θ = {r.theta:g}°\n{label.split(':')[0]} = {fmt(xi)}\n{ylabel} = "
              f"{fmt(r.mean)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}]"
              for xi, r in zip(x, a.itertuples(), strict=True)], r=4.5, label="one θ of the sweep",
             texts=[f"{t:g}°" for t in a.theta])
    return c.to_svg()


def verdict_rows(verdict: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    for r in verdict.itertuples():
        ci = f"[{fmt(r.ci_low, '.3g')}, {fmt(r.ci_high, '.3g')}]" if pd.notna(r.ci_low) else "—"
        rows.append({"dataset": r.dataset, "test": r.test, "statistic": r.statistic_name,
                     "value": fmt(r.statistic, ".3g"), "effect": fmt(r.effect_size, ".3g"),
                     "ci": ci, "p": fmt(r.p_value, ".3g"), "p_adj": fmt(r.p_adjusted, ".3g"),
                     "decision": str(r.decision), "detail": str(r.detail)})
    return rows


def verdict_block(run: RunData) -> dict | None:
    v = run.verdict
    if v is None:
        return None
    from thetascope.report.verdict_table import headline

    alpha = v.alpha.dropna().iloc[0] if "alpha" in v and v.alpha.notna().any() else np.nan
    corr = next((c for c in v.get("correction", []) if isinstance(c, str) and c), "none")
    return {"headlines": {n: headline(v, n) for n in dict.fromkeys(v.dataset)},
            "rows": verdict_rows(v), "alpha": fmt(alpha, "g"), "correction": corr,
            "metric": metric_label(str(v["metric"].iloc[0])) if "metric" in v else "score"}


def orient_section(run: RunData) -> dict | None:
    hist, over, svm = (run.orient[k] for k in ("histograms", "overlap", "svm"))
    if hist.empty and over.empty:
        return None
    names = [n for n in run.names if (not hist.empty and (hist.dataset == n).any())
             or (not over.empty and (over.dataset == n).any())]
    sweep = sorted(set(run.agg.theta.astype(float))) if len(run.agg) else []
    polar = []
    for n in names:
        h = hist[(hist.dataset == n) & (hist.level == "dataset")].sort_values("bin") \
            if len(hist) else hist
        if len(h):
            polar.append(polar_svg(h.bin, h.value, run.title(n)))
    curves = []
    for n in names:
        pair = [_s_chart(run, n, over, sweep)] if len(over) else []
        a = _a_chart(run, n, svm)
        pair += [a] if a is not None else []
        curves.append({"name": n, "charts": pair,
                       "svm_note": "" if a is not None else "HoG SVM test not run"})
    metric = str(run.verdict["metric"].iloc[0]) if run.verdict is not None and \
        "metric" in run.verdict else (run.metrics[0] if run.metrics else "dice")
    preds = [ch for n in names for p in PREDICTORS
             if (ch := _predictor_chart(run, n, p, metric)) is not None]
    hog = run.root / "figures" / "hog_example.png"
    return {"polar": polar, "curves": curves, "predictors": preds, "metric": metric_label(metric),
            "hog": file_uri(hog) if hog.is_file() else "", "sweep": theta_ticks(sweep)}
