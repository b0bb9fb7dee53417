"""The "Curve signatures" section of report.html and compare.html (analysis/signatures.py).

    sec = run_signature_section(run)                   # None: < 2 datasets, or switched off
    sec = compare_signature_section(runs, labels)      # pools every run's curves
    sec["estimable"], sec["accuracy"], sec["chance"], sec["p"], sec["scheme"], sec["confusion"]

Rendered by ``templates/_signatures.html``. The numbers are recomputed from the runs'
``results.parquet`` with the (first) run's ``analysis`` settings; seeded, so a single run's
section repeats its ``curve_signature`` verdict row exactly.
"""

from __future__ import annotations

import pandas as pd

from thetascope.analysis.signatures import (
    SignatureResult,
    SignatureSettings,
    curve_signatures,
    seed_curve_table,
)
from thetascope.report.run_data import RunData
from thetascope.report.sections import metric_label
from thetascope.report.svg import fmt


def _settings(run: RunData) -> tuple[SignatureSettings, str, float, bool]:
    """(settings, metric, alpha, enabled) from a run's config; defaults without one."""
    a = getattr(run.cfg, "analysis", None)
    if a is None:
        return SignatureSettings(), "dice", 0.05, True
    return SignatureSettings.from_config(a), a.metric, a.alpha, a.signatures


def _model(run: RunData, label: str) -> tuple[str, str]:
    ssl = getattr(run.cfg, "ssl", None)
    return (ssl.encoder, ssl.method) if ssl is not None else (f"? ({label})", "?")


def _decision(res: SignatureResult, alpha: float) -> str:
    """The verdict row's decision, so page and verdict.parquet never disagree: yes, no, or
    "not estimable (underpowered)" when p can never reach α with these curves."""
    if res.p_floor > alpha:
        return "not estimable (underpowered)"
    return "yes" if res.p_value <= alpha else "no"


def signature_block(res: SignatureResult, alpha: float, runs: int = 1) -> dict:
    """What the template shows of one result."""
    st = res.settings
    out = {"estimable": res.estimable, "reason": res.reason, "notes": list(res.notes),
           "metric": metric_label(res.metric), "features": st.features,
           "classifier": st.classifier, "permutations": st.permutations,
           "alpha": fmt(alpha, "g"), "runs": runs}
    if not res.estimable:
        return out
    conf = res.confusion
    rows = []
    for true, r in conf.iterrows():
        total = int(r.sum())
        rows.append({"true": true, "counts": [int(n) for n in r],
                     "recall": fmt(r[true] / total, ".2f") if total else "—"})
    out.update(accuracy=fmt(res.accuracy, ".2f"), chance=fmt(res.chance, ".2f"),
               uniform_chance=fmt(res.uniform_chance, ".2f"), p=fmt(res.p_value, ".3g"),
               decision=_decision(res, alpha), scheme=res.split_label,
               n_groups=res.n_groups, n_curves=res.n_curves, n_datasets=len(res.datasets),
               n_thetas=len(res.thetas), labels=list(conf.columns), confusion=rows)
    return out


def run_signature_section(run: RunData) -> dict | None:
    """The section of one run: None when the run has < 2 datasets with the metric, or
    ``analysis.signatures`` is off."""
    st, metric, alpha, enabled = _settings(run)
    r = run.results
    if not enabled or r.empty or "metric" not in r:
        return None
    if r.loc[r.metric == metric, "dataset"].nunique() < 2:
        return None
    enc, meth = _model(run, run.name)
    curves = seed_curve_table(r, metric, enc, meth, run.name)
    return signature_block(curve_signatures(curves, st, metric), alpha)


def compare_signature_section(runs: list[RunData], labels: list[str]) -> dict:
    """The section of ``thetascope compare``: every run's seed curves of the first run's
    ``analysis.metric`` (else the first metric all runs share), held out by the first run's
    ``analysis.signature_split``."""
    st, metric, alpha, _ = _settings(next((r for r in runs if r.cfg is not None), runs[0]))
    shared = set.intersection(*[set(r.results.metric) if "metric" in r.results else set()
                                for r in runs])
    if metric not in shared and shared:
        metric = sorted(shared, key=lambda m: (m != "dice", m))[0]
    tables = []
    for run, label in zip(runs, labels, strict=True):
        enc, meth = _model(run, label)
        tables.append(seed_curve_table(run.results, metric, enc, meth, label))
    curves = pd.concat(tables, ignore_index=True)
    return signature_block(curve_signatures(curves, st, metric), alpha, len(runs))
