"""Does the best θ beat the downstream baselines? (issue H)

    table = baseline_verdict(results, baselines, ["fewshot_dice"], settings)
    table.columns == VERDICT_COLUMNS   # rows "beats_baseline:<baseline>:<metric>"

Per dataset, downstream metric m and baseline b (``random-init``, ``theta-free``; rows of
``baselines.parquet``): the best θ is the sweep θ with the highest mean of m over seeds.
Seed by seed (a baseline of seed s starts from the same initial weights as the θ cells of
seed s), d_s = m(best θ, s) − m(b, s); for the pair probe, whose task depends on θ, b is
taken at the best θ too. Statistic: the mean of d over seeds, with a two-sided 95% t CI;
effect size: mean / sd (Cohen's d_z). Test: one-sided paired t-test (H1: mean d > 0),
its p multiplied by the number of θ (Bonferroni, capped at 1) because the best θ was
chosen on the same seeds. Rows form one family, Holm-adjusted (``analysis.correction``)
across datasets × metrics × baselines. With fewer than 2 paired seeds (or no spread
across seeds) the row is "not estimable" and says so; fewer than 5 seeds are flagged as
low power. The detail reads "best θ beats <b> on <m>: yes/no (...)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from thetascope.analysis.verdict import VERDICT_COLUMNS, VerdictSettings, decide
from thetascope.analysis.verdict import row as verdict_row

MIN_SEEDS = 2  # a paired t-test needs a spread: 2 paired seeds at the least
FEW_SEEDS = 5  # below this, say that the test has little power


def _per_seed(df: pd.DataFrame) -> pd.Series:
    return df.groupby("seed")["value"].mean()


def best_theta(results: pd.DataFrame, dataset: str, metric: str
               ) -> tuple[float, pd.Series, int] | None:
    """(best θ, its value per seed, number of θ) of a metric's θ-curve; None without rows."""
    df = results[(results["dataset"] == dataset) & (results["metric"] == metric)]
    df = df[np.isfinite(df["value"].astype(float))]
    if df.empty:
        return None
    means = df.groupby("theta")["value"].mean()
    bt = float(means.idxmax())
    return bt, _per_seed(df[np.isclose(df["theta"].astype(float), bt)]), len(means)


def baseline_values(baselines: pd.DataFrame, dataset: str, metric: str, baseline: str,
                    theta: float) -> pd.Series:
    """A baseline's value per seed: at ``theta`` when it was measured per θ, else the one."""
    df = baselines[(baselines["dataset"] == dataset) & (baselines["metric"] == metric)
                   & (baselines["baseline"] == baseline)]
    th = df["theta"].astype(float)
    if th.notna().any():
        df = df[np.isclose(th, theta)]
    return _per_seed(df[np.isfinite(df["value"].astype(float))])


def compare(best: pd.Series, base: pd.Series, n_theta: int) -> dict:
    """Paired one-sided comparison of best-θ vs baseline values per seed (see module doc)."""
    seeds = sorted(set(best.index) & set(base.index))
    d = np.array([best[s] - base[s] for s in seeds], dtype=float)
    out = {"n": len(d), "mean": float(d.mean()) if len(d) else np.nan, "ci": (np.nan, np.nan),
           "p": np.nan, "dz": np.nan, "best": float(best[seeds].mean()) if seeds else np.nan,
           "base": float(base[seeds].mean()) if seeds else np.nan, "why": ""}
    if len(d) < MIN_SEEDS:
        out["why"] = (f"too few seeds: {len(d)} paired seed(s), a test needs ≥ {MIN_SEEDS}; "
                      "add seeds to sweep.seeds")
        return out
    sd = float(d.std(ddof=1))
    if not sd > 0:
        out["why"] = "no spread of the difference across seeds: the t-test is undefined"
        return out
    se = sd / np.sqrt(len(d))
    q = stats.t.ppf(0.975, len(d) - 1)
    p_one = float(stats.t.sf(out["mean"] / se, len(d) - 1))
    out.update(ci=(out["mean"] - q * se, out["mean"] + q * se), dz=out["mean"] / sd,
               p=min(1.0, p_one * n_theta))
    return out


def baseline_verdict(results: pd.DataFrame, baselines: pd.DataFrame, metrics: list[str],
                     settings: VerdictSettings) -> pd.DataFrame:
    """Verdict rows (``VERDICT_COLUMNS``) ``beats_baseline:<baseline>:<metric>``."""
    rows, words = [], []
    if baselines is None or baselines.empty or results.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    for name in dict.fromkeys(baselines["dataset"]):
        for m in metrics:
            best = best_theta(results, name, m)
            if best is None:
                continue  # no θ cell measured this metric
            bt, vals, n_theta = best
            for b in dict.fromkeys(baselines.loc[baselines["dataset"] == name, "baseline"]):
                c = compare(vals, baseline_values(baselines, name, m, b, bt), n_theta)
                if c["n"] == 0:
                    continue  # the baseline lacks this metric (e.g. skipped): no row
                few = (f"; only {c['n']} seeds: low power" if MIN_SEEDS <= c["n"] < FEW_SEEDS
                       else "")
                text = (f"best θ = {bt:g}°: {m} {c['best']:.3f} vs {b} {c['base']:.3f}, "
                        f"mean difference {c['mean']:+.3f} over {c['n']} seed(s)")
                if np.isfinite(c["p"]):
                    text += (f" [95% CI {c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]; one-sided "
                             f"paired t, p ×{n_theta} θ for choosing the best{few}")
                else:
                    text += f"; {c['why']}"
                rows.append(verdict_row(name, f"beats_baseline:{b}:{m}",
                                 "best θ − baseline (mean over seeds)", c["mean"], c["p"],
                                 c["dz"], c["ci"], n=c["n"]))
                words.append((b, m, text))
    df = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    if df.empty:
        return df
    df["decision"] = df["decision"].astype(object)
    decide(df, df.test.str.startswith("beats_baseline:"), settings)
    df["detail"] = [f"best θ beats {b} on {m}: {dec} ({text})"
                    for (b, m, text), dec in zip(words, df["decision"], strict=True)]
    return df
