"""The verdict of the shortcut-hypothesis tests, for the terminal and for ``summary.md``.

    print_verdict(Console(), verdict_df)
    lines = verdict_markdown(verdict_df)     # a "## Verdict" section, list of lines
"""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table


def _num(x: float, fmt: str = ".3g") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _p(row) -> str:
    if pd.isna(row.p_value):
        return ""
    adj = f", adj {_num(row.p_adjusted)}" if pd.notna(row.p_adjusted) else ""
    return f"p = {_num(row.p_value)}{adj}"


def _answer(decision: str, stats: str) -> str:
    """'yes (stats)', or an inconclusive decision with its reason and then the stats."""
    decision = str(decision)
    if not stats:
        return decision
    if decision.startswith("inconclusive"):
        return f"{decision}; {stats}"
    return f"{decision} ({stats})"


def headline(verdict: pd.DataFrame, dataset: str) -> dict[str, str]:
    """The answers for one dataset, in words."""
    d = verdict[verdict.dataset == dataset].drop_duplicates("test").set_index("test")
    out = {}
    if "training" in d.index:
        r = d.loc["training"]
        out["training moved the model"] = (
            f"{r.decision} (final loss {_num(100 * r.statistic, '.0f')} % of chance)"
            if r.decision in ("yes", "no") else f"{r.decision} ({r.detail})")
    if "theta_effect" in d.index:
        r = d.loc["theta_effect"]
        method, _, effect = r.statistic_name.partition(" (")
        what = str(r.detail).split(";")[0]
        stats = "; ".join(x for x in (f"{method}: {_p(r)}" if _p(r) else "",
                                      f"{effect.rstrip(')')} {_num(r.effect_size, '.2f')}"
                                      if pd.notna(r.effect_size) else "", what) if x)
        out["θ matters"] = _answer(r.decision, stats)
    if "periodicity" in d.index:
        r = d.loc["periodicity"]
        share = (f"{_num(r.effect_size, 'g')}° carries {_num(r.statistic, '.2f')} "
                 f"[{_num(r.ci_low, '.2f')}, {_num(r.ci_high, '.2f')}] of the variance, "
                 f"{_p(r)}") if pd.notna(r.effect_size) else ""
        margin = ""
        if "period_margin" in d.index and str(d.loc["period_margin"].decision)[:3] in ("yes",
                                                                                      "no:"):
            margin = f"; better than the runner-up: {d.loc['period_margin'].decision}"
        if str(r.decision).startswith("period"):
            out["best-fitting period"] = f"{_num(r.effect_size, 'g')}° ({share}{margin})"
        elif r.decision == "no period":
            out["best-fitting period"] = f"none (best: {share})"
        else:
            out["best-fitting period"] = _answer(r.decision, share)
    if "identical_views" in d.index:
        r = d.loc["identical_views"]
        stats = (f"θ = 0 minus the others {_num(r.statistic, '+.3f')}, {_p(r)}"
                 if pd.notna(r.statistic) else "")
        out["θ = 0 (identical views) differs"] = _answer(r.decision, stats)
    if "orientation_predicts" in d.index:
        r = d.loc["orientation_predicts"]
        metric = verdict["metric"].iloc[0] if "metric" in verdict else "score"
        stats = (f"r = {_num(r.statistic, '.2f')}, {_p(r)}; {r.detail}"
                 if pd.notna(r.statistic) else "")
        out[f"orientation predicts {metric}"] = _answer(r.decision, stats)
    beats = d[d.index.astype(str).str.startswith("beats_baseline:")]
    if len(beats):  # downstream baselines (analysis/downstream_baselines.py)
        out["best θ beats the baselines"] = "; ".join(
            f"{t.split(':', 2)[2]} vs {t.split(':', 2)[1]}: {r.decision} "
            f"({_num(r.statistic, '+.3f')}, {_p(r) or f'n = {r.n}'})"
            for t, r in beats.iterrows())
    if "curve_signature" in d.index:  # dataset "all": analysis/signatures.py
        r = d.loc["curve_signature"]
        out["dataset identifiable from its curve"] = (
            f"{r.decision} (held-out accuracy {_num(r.statistic, '.2f')} vs chance "
            f"{_num(r.statistic - r.effect_size, '.2f')}, {_p(r)})"
            if r.decision != "not estimable" else r.detail.split(": ", 1)[-1])
    return out


def verdict_markdown(verdict: pd.DataFrame) -> list[str]:
    if verdict is None or verdict.empty:
        return []
    corr = next((c for c in verdict.correction if c), "none")
    alpha = verdict.alpha.dropna().iloc[0] if verdict.alpha.notna().any() else float("nan")
    lines = ["## Verdict: does θ matter, and does orientation structure predict it?", "",
             f"Decisions at α = {_num(alpha)} on p-values adjusted by `{corr}` within each "
             "family (θ effect, periodicity, predictors). The tests run on trained − "
             "untrained (what training changed) without θ = 0; rows ending in `:raw` test "
             "the raw trained curve. `inconclusive (reason)` means the run cannot decide. "
             "Every row is in `verdict.parquet`; the tests and their assumptions are in "
             "docs/METHODS.md (Statistics).", ""]
    for name in dict.fromkeys(verdict.dataset):
        lines.append(f"- **{name}**: " + "; ".join(f"{k}: {v}" for k, v in
                                                   headline(verdict, name).items()))
    lines += ["", "| dataset | test | statistic | value | 95% CI | p | p adj | decision | "
              "detail |", "|---|---|---|---|---|---|---|---|---|"]
    for r in verdict.itertuples():
        ci = f"[{_num(r.ci_low)}, {_num(r.ci_high)}]" if pd.notna(r.ci_low) else "—"
        detail = str(r.detail).replace("|", "/")
        lines.append(f"| {r.dataset} | {r.test} | {r.statistic_name} | {_num(r.statistic)} | "
                     f"{ci} | {_num(r.p_value)} | {_num(r.p_adjusted)} | {r.decision} | "
                     f"{detail} |")
    return lines


def print_verdict(console: Console, verdict: pd.DataFrame | None) -> None:
    if verdict is None or verdict.empty:
        return
    table = Table(title="verdict (details: verdict.parquet, summary.md)")
    table.add_column("dataset")
    table.add_column("question")
    table.add_column("answer")
    for name in dict.fromkeys(verdict.dataset):
        for k, v in headline(verdict, name).items():
            table.add_row(name, k, v)
    console.print(table)
