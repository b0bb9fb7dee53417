"""The data-driven parts of the HTML report: headline cards, score-vs-θ charts, loss curves.

    cards = headline_cards(run)                 # one dict per dataset, for the top of the page
    tabs = metric_tabs(run)                     # [{"metric", "label", "about", "charts"}]
    losses = loss_charts(run)                   # [Markup]

Charts are ``report.svg.Chart`` objects rendered to inline SVG; their points carry tooltips
(θ, value, 95% CI, counts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from thetascope.report.run_data import RunData
from thetascope.report.svg import BLUE, Chart, fmt

METRIC_LABELS = {"dice": "Dice", "iou": "IoU", "pointing_game": "pointing game",
                 "mass_in_mask": "mass in mask"}
METRIC_ABOUT = {
    "dice": "Dice = 2|S∩M| / (|S|+|M|) between the binarised saliency map S and the mask M.",
    "iou": "IoU (Jaccard) = |S∩M| / |S∪M| between the binarised saliency map and the mask.",
    "pointing_game": "Pointing game: 1 when the saliency maximum lies inside the mask, else "
                     "0; the mean is a hit rate. Threshold-free.",
    "mass_in_mask": "Share of the total saliency that falls inside the mask. Threshold-free; "
                    "chance level ≈ the mask's share of the image.",
    "probe_accuracy": "Downstream: held-out accuracy of an MLP on frozen features telling "
                      "(x, x rotated by θ) from (x, another image). Dashed: the baselines.",
    "fewshot_dice": "Downstream: held-out Dice of a light decoder on the frozen encoder, "
                    "trained on a few labelled images. Dashed: the baselines.",
    "finetune_dice": "Downstream: held-out Dice of the decoder trained together with a copy "
                     "of the encoder on a few labelled images. Dashed: the baselines.",
    "linear_probe_accuracy": "Downstream: held-out accuracy of a logistic regression on "
                             "frozen features, mask present vs absent. Dashed: the baselines.",
}
BASELINE_COLORS = {"random-init": "#7f7f7f", "theta-free": "#ff7f0e"}
# the references of every score curve (sweep/references.py): colour, SVG dash, label
REFERENCE_STYLES = {
    "untrained": ("#7f7f7f", "6 4", "untrained model"),
    "resample": ("#9467bd", "2 3", "geometry alone (resample)"),
    "chance": ("#111111", "1 4", "chance"),
}
READ_REFERENCES = (
    "Beside each trained curve, the same measurement without learning: the seeded untrained "
    "model at every θ (grey dashes), the geometry alone (the θ = 0 maps rotated by θ and "
    "back, purple dots) and chance (a noise map, black dots). Only what the trained curve "
    "does beyond them is the effect of pre-training at θ, which is what the verdict tests "
    "(trained − untrained).")


def metric_label(metric: str) -> str:
    """A metric's display name: the table above, else its registered label, else the name."""
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    from thetascope.metrics.registry import find_metric

    spec = find_metric(metric)
    return spec.label if spec is not None else metric


def metric_about(metric: str) -> str:
    """A metric's one-sentence description (registered metrics: their ``about``)."""
    if metric in METRIC_ABOUT:
        return METRIC_ABOUT[metric]
    from thetascope.metrics.registry import find_metric

    spec = find_metric(metric)
    return spec.about if spec is not None else ""


def theta_ticks(thetas) -> list[float] | None:
    t = sorted({float(x) for x in thetas})
    return t if 0 < len(t) <= 13 else None


def _tip(name: str, metric: str, r) -> str:
    lo, hi = getattr(r, "ci_low", np.nan), getattr(r, "ci_high", np.nan)
    n = f"\n{int(r.n_images)} images × {int(r.n_seeds)} seeds" if hasattr(r, "n_images") \
        else ""
    return (f"{name} · θ = {r.theta:g}°\n{metric_label(metric)} = {fmt(r.mean)}  "
            f"95% CI [{fmt(lo)}, {fmt(hi)}]{n}")


def _peaks(run: RunData, name: str, metric: str) -> pd.DataFrame:
    p = run.peaks
    vmetric = run.verdict["metric"].iloc[0] if run.verdict is not None and \
        "metric" in run.verdict else None
    if p.empty or metric != vmetric or "dataset" not in p:
        return pd.DataFrame()
    return p[p.dataset == name]


def score_chart(run: RunData, name: str, metric: str, compact: bool = False) -> Markup:
    """Mean over images and seeds, 95% CI band, each seed faint, peak markers; ``compact``:
    a small unlabelled version (mean and band only) for the overview cards."""
    a = run.agg[(run.agg.dataset == name) & (run.agg.metric == metric)].sort_values("theta")
    if compact:
        c = Chart("", "", "", width=440, height=150, xticks=theta_ticks(a.theta),
                  ylim=(0.0, None))
        c.band(a.theta, a.ci_low, a.ci_high, BLUE)
        c.line(a.theta, a["mean"], BLUE)
        c.points(a.theta, a["mean"], BLUE, [_tip(name, metric, r) for r in a.itertuples()], r=3)
        return c.to_svg("chart spark")
    c = Chart(run.title(name), "θ (degrees)", metric_label(metric), width=540, height=330,
              xticks=theta_ticks(a.theta), ylim=(0.0, None))
    r = run.results
    d = r[(r.dataset == name) & (r.metric == metric)] if not r.empty else r
    seeds = d.groupby(["seed", "theta"], as_index=False)["value"].mean() if len(d) else d
    if len(d) and seeds.seed.nunique() > 1:
        for s, g in seeds.groupby("seed"):
            g = g.sort_values("theta")
            c.line(g.theta, g.value, BLUE, width=1, opacity=0.35, label="single seed",
                   tip=f"seed {s}")
    c.band(a.theta, a.ci_low, a.ci_high, BLUE, label="95% CI")
    c.line(a.theta, a["mean"], BLUE, label="mean")
    c.points(a.theta, a["mean"], BLUE, [_tip(name, metric, row) for row in a.itertuples()])
    baseline_lines(c, run, name, metric)
    reference_lines(c, run.ref_agg, name, metric)
    peaks = _peaks(run, name, metric)
    if len(peaks):
        for p in peaks.itertuples():
            c.marker(float(p.theta), float(p.height), "#111", label="peak",
                     tip=f"peak at θ = {float(p.theta):g}° (95% CI [{fmt(p.theta_ci_low, 'g')}"
                         f", {fmt(p.theta_ci_high, 'g')}]°), height {fmt(p.height)}")
    elif len(a) and a["mean"].notna().any():
        best = a.loc[a["mean"].idxmax()]
        c.marker(float(best.theta), float(best["mean"]), "#111", label="highest mean",
                 tip=f"highest mean: θ = {best.theta:g}°, {fmt(best['mean'])}")
    return c.to_svg()


def reference_lines(c: Chart, ref_agg: pd.DataFrame, name: str, metric: str,
                    label_prefix: str = "") -> None:
    """The untrained, resample and chance curves of one dataset and metric, each in its own
    dash style with a legend entry and a tooltip per θ."""
    if ref_agg.empty or "model" not in ref_agg:
        return
    d = ref_agg[(ref_agg.dataset == name) & (ref_agg.metric == metric)]
    for model, (color, dash, label) in REFERENCE_STYLES.items():
        r = d[d.model == model].sort_values("theta")
        if r.empty or not r["mean"].notna().any():
            continue
        lab = label_prefix + label
        c.line(r.theta, r["mean"], color, width=1.4, dash=dash, label=lab,
               tip=f"{lab}: {metric_label(metric)} {fmt(r['mean'].min())}–"
                   f"{fmt(r['mean'].max())} over θ")


def baseline_lines(c: Chart, run: RunData, name: str, metric: str) -> None:
    """Each downstream baseline (``baselines.parquet``) of this dataset and metric: a dashed
    horizontal line at its mean over seeds, its value in the legend; the pair probe's
    baselines, measured per θ, as dashed curves."""
    from thetascope.downstream import BASELINE_LABELS

    b = run.baselines
    if b.empty or "baseline" not in b:
        return
    d = b[(b.dataset == name) & (b.metric == metric)]
    for kind, g in d.groupby("baseline", sort=False):
        color = BASELINE_COLORS.get(str(kind), "#8c564b")
        label = f"baseline {BASELINE_LABELS.get(str(kind), kind)}"
        n = g.seed.nunique()
        if g.theta.notna().any():
            per = g.groupby("theta")["value"].mean().sort_index()
            c.line(per.index, per.to_numpy(), color, width=1.5, dash="5 4", label=label,
                   tip=f"{label}, mean over {n} seed(s)")
        else:
            c.hline(float(g.value.mean()), color,
                    label=f"{label}: {fmt(float(g.value.mean()))} ({n} seed(s))")


def metric_tabs(run: RunData) -> list[dict]:
    return [{"metric": m, "label": metric_label(m), "about": metric_about(m),
             "charts": [score_chart(run, n, m) for n in run.names
                        if ((run.agg.dataset == n) & (run.agg.metric == m)).any()]}
            for m in run.metrics]


def _viridis(k: int, n: int) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return to_hex(colormaps["viridis"](0.9 * k / max(1, n - 1)))


def loss_charts(run: RunData) -> list[Markup]:
    """SSP loss per step, one chart per dataset: each cell (θ, seed) faint, the mean over
    seeds per θ on top."""
    ls = run.losses
    if ls.empty:
        return []
    out = []
    for name in run.names:
        d = ls[ls.dataset == name]
        if d.empty:
            continue
        thetas = sorted(d.theta.unique())
        c = Chart(run.title(name), "step", "InfoNCE loss", width=540, height=320)
        for k, t in enumerate(thetas):
            col, dt = _viridis(k, len(thetas)), d[d.theta == t]
            if dt.seed.nunique() > 1:  # every cell faint, the mean over seeds on top
                for seed, g in dt.groupby("seed"):
                    g = g.sort_values("step")
                    c.line(g.step, g.loss, col, width=1, opacity=0.3,
                           tip=f"θ = {t:g}°, seed {seed}: last {fmt(g.loss.iloc[-1])}")
            m = dt.groupby("step").loss.mean()
            c.line(m.index, m.values, col, width=1.6, label=f"θ {t:g}°",
                   tip=f"θ = {t:g}° (mean over seeds): first {fmt(m.values[0])}, last "
                       f"{fmt(m.values[-1])}")
        out.append(c.to_svg())
    return out


def _theta_matters(run: RunData, name: str) -> str:
    if run.verdict is None:
        return ""
    from thetascope.report.verdict_table import headline

    return headline(run.verdict, name).get("θ matters", "")


def _n_groups(run: RunData, name: str) -> int | None:
    """Independent sources (volumes, cases) among the dataset's scored images."""
    r = run.results
    if r.empty or "group" not in r:
        return None
    return int(r.loc[r.dataset == name, "group"].nunique())


def headline_cards(run: RunData) -> list[dict]:
    """Per dataset: counts, real/synthetic, the θ with the highest and lowest mean of the
    primary metric, and the verdict's answer to 'does θ matter'."""
    metric = run.metrics[0] if run.metrics else "dice"
    cards = []
    for name in run.names:
        info = run.info.get(name)
        a = run.agg[(run.agg.dataset == name) & (run.agg.metric == metric)]
        a = a[a["mean"].notna()]
        card = {"name": name, "kind": info.kind if info else "?",
                "synthetic": info.synthetic if info else None,
                "n_ssp": info.n_ssp if info else None, "n_eval": info.n_eval if info else None,
                "n_groups": _n_groups(run, name),
                "metric": metric_label(metric), "best": "", "worst": "",
                "theta_matters": _theta_matters(run, name),
                "chart": score_chart(run, name, metric, compact=True) if len(a) else ""}
        if len(a):
            b, w = a.loc[a["mean"].idxmax()], a.loc[a["mean"].idxmin()]
            card["best"] = (f"{fmt(b['mean'])} at θ = {b.theta:g}° "
                            f"[{fmt(b.ci_low)}, {fmt(b.ci_high)}]")
            card["worst"] = (f"{fmt(w['mean'])} at θ = {w.theta:g}° "
                             f"[{fmt(w.ci_low)}, {fmt(w.ci_high)}]")
        cards.append(card)
    return cards
