"""One HTML page overlaying several runs: per-dataset score-vs-θ curves, the verdicts, and
the curve signatures of all runs pooled (report/signature_section.py).

    thetascope compare runs/resnet18 runs/resnet50 --out compare.html
    write_compare([Path("runs/a"), Path("runs/b")], Path("compare.html"))

Runs are told apart by their config name (plus the folder when two names are equal) and
described by protocol, method, encoder and training length. Only the files of each run
folder are read (no dataset is reloaded), so runs made on other machines compare too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from markupsafe import Markup

from thetascope.atomic import atomic_write_text
from thetascope.report.html import _version, environment
from thetascope.report.run_data import RunData, load_run
from thetascope.report.sections import (
    READ_REFERENCES,
    metric_about,
    metric_label,
    reference_lines,
    theta_ticks,
)
from thetascope.report.signature_section import compare_signature_section
from thetascope.report.svg import PALETTE, Chart, fmt


def _labels(runs: list[RunData]) -> list[str]:
    names = [r.name for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({r.root.name})"
            for n, r in zip(names, runs, strict=True)]


def _describe(run: RunData) -> dict[str, str]:
    cfg = run.cfg
    if cfg is None:
        return {"protocol": "?", "method": "?", "encoder": "?", "training": "?", "θ": "?",
                "seeds": "?"}
    return {"protocol": cfg.sweep.protocol, "method": cfg.ssl.method,
            "encoder": f"{cfg.ssl.encoder}" + (" (weights)" if cfg.ssl.weights else ""),
            "training": f"{cfg.ssl.steps} steps × batch {cfg.ssl.batch_size}",
            "θ": ", ".join(f"{t:g}" for t in cfg.sweep.thetas),
            "seeds": ", ".join(str(s) for s in cfg.sweep.seeds)}


def overlay_chart(runs: list[RunData], labels: list[str], name: str, metric: str) -> Markup:
    thetas: set[float] = set()
    synthetic = any(r.info.get(name) is not None and r.info[name].synthetic for r in runs)
    c = Chart(name + (" (synthetic)" if synthetic else ""), "θ (degrees)", metric_label(metric),
              width=540, height=330, ylim=(0.0, None))
    for k, (run, label) in enumerate(zip(runs, labels, strict=True)):
        a = run.agg[(run.agg.dataset == name) & (run.agg.metric == metric)].sort_values("theta")
        if a.empty:
            continue
        col = PALETTE[k % len(PALETTE)]
        thetas |= set(a.theta.astype(float))
        c.band(a.theta, a.ci_low, a.ci_high, col, opacity=0.12)
        c.line(a.theta, a["mean"], col, label=label)
        c.points(a.theta, a["mean"], col,
                 [f"{label} · {name} · θ = {r.theta:g}°\n{metric_label(metric)} = "
                  f"{fmt(r.mean)}  95% CI [{fmt(r.ci_low)}, {fmt(r.ci_high)}]"
                  for r in a.itertuples()])
        reference_lines(c, run.ref_agg, name, metric, f"{label}: ")
    c.xticks = theta_ticks(thetas)
    return c.to_svg()


def _verdicts(runs: list[RunData], labels: list[str], names: list[str]) -> list[dict]:
    """Rows (dataset, question) with one answer per run ('' where a run has none)."""
    from thetascope.report.verdict_table import headline

    table: dict[tuple[str, str], list[str]] = {}
    for name in names:
        for k, run in enumerate(runs):
            v = run.verdict
            if v is None or not (v.dataset == name).any():
                continue
            for q, a in headline(v, name).items():
                table.setdefault((name, q), [""] * len(labels))[k] = a
    return [{"dataset": n, "question": q, "answers": a} for (n, q), a in table.items()]


def compare_context(runs: list[RunData]) -> dict:
    labels = _labels(runs)
    names = list(dict.fromkeys(n for r in runs for n in r.names))
    metrics = list(dict.fromkeys(m for r in runs for m in r.metrics))
    tabs = [{"metric": m, "label": metric_label(m), "about": metric_about(m),
             "charts": [overlay_chart(runs, labels, n, m) for n in names
                        if any(((r.agg.dataset == n) & (r.agg.metric == m)).any()
                               for r in runs)]}
            for m in metrics]
    table = [{"label": lab, "color": PALETTE[k % len(PALETTE)], "path": str(r.root),
              "fingerprint": r.fingerprint, **_describe(r)}
             for k, (r, lab) in enumerate(zip(runs, labels, strict=True))]
    return {"runs": table, "labels": labels, "tabs": tabs,
            "verdicts": _verdicts(runs, labels, names),
            "sig": compare_signature_section(runs, labels),
            "title": " vs ".join(labels), "version": _version(),
            "read_references": READ_REFERENCES,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_compare(run_dirs: list[Path], out: Path) -> Path:
    """Write the comparison page to ``out``; raises FileNotFoundError for a folder that is
    not a finished run."""
    if not run_dirs:
        raise ValueError("give at least one run folder")
    runs = [load_run(Path(d), datasets={}) for d in run_dirs]
    html = environment().get_template("compare.html").render(**compare_context(runs))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, html)
    return out
