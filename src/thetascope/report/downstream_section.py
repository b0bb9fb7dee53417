"""The "Saliency vs downstream" section of report.html: per dataset, the saliency score and
every downstream metric against θ side by side, with the verdict's answer to "do they
agree?" (issue H).

    sec = downstream_section(run)      # None unless the run has downstream rows
    sec[0]["title"], sec[0]["panels"][0]["label"], sec[0]["panels"][0]["chart"], sec[0]["says"]

Charts are the compact versions of the "Score vs θ" charts (mean and 95% CI band); the
full charts, with seeds and baselines, stay on that section's tabs.
"""

from __future__ import annotations

from thetascope.report.run_data import RunData
from thetascope.report.sections import metric_label, score_chart

DOWNSTREAM_PREFIXES = ("probe_accuracy", "fewshot_dice", "finetune_dice",
                       "linear_probe_accuracy")
VERDICT_TESTS = ("dice_predicts_downstream",)  # the per-dataset "do they agree" row


def is_downstream(metric: str) -> bool:
    return metric.startswith(DOWNSTREAM_PREFIXES)


def _says(run: RunData, name: str) -> list[str]:
    """The verdict's sentences on agreement and on the baselines for one dataset."""
    v = run.verdict
    if v is None or v.empty:
        return []
    d = v[v.dataset == name]
    out = [str(r.detail) for r in d[d.test.isin(VERDICT_TESTS)].itertuples()]
    beats = d[d.test.str.startswith("beats_baseline:")]
    if len(beats):
        yes = beats[beats.decision == "yes"].test.str.removeprefix("beats_baseline:")
        out.append(f"best θ beats a baseline in {len(yes)} of {len(beats)} comparisons"
                   + (f" ({', '.join(yes)})" if len(yes) else "")
                   + " after correction (rows beats_baseline:* in the verdict table)")
    return out


def downstream_section(run: RunData) -> list[dict] | None:
    """One entry per dataset with downstream rows; None when the run has none."""
    down = [m for m in run.metrics if is_downstream(m)]
    if not down:
        return None
    wanted = getattr(getattr(run.cfg, "analysis", None), "metric", None)
    score = wanted if wanted in run.metrics else \
        next((m for m in run.metrics if not is_downstream(m)), None)
    out = []
    for name in run.names:
        have = set(run.agg[run.agg.dataset == name].metric)
        metrics = ([score] if score in have else []) + [m for m in down if m in have]
        if not any(is_downstream(m) for m in metrics):
            continue
        panels = [{"label": metric_label(m) + (" (saliency)" if m == score else ""),
                   "chart": score_chart(run, name, m, compact=True)} for m in metrics]
        out.append({"title": run.title(name), "panels": panels, "says": _says(run, name)})
    return out or None
