"""The run's one-screen summary: a rich table for the terminal and ``summary.md``.

    print_summary(console, result, metric="dice")
    write_summary(out, cfg, result, figure_paths)
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from thetascope.atomic import atomic_write_text
from thetascope.config import fingerprint


def _fmt(row: pd.Series) -> str:
    if pd.isna(row["ci_low"]):
        return f"{row['mean']:.3f}"
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def summary_frame(agg: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows θ, columns datasets, cells 'mean [lo, hi]'."""
    a = agg[agg.metric == metric].copy()
    a["cell"] = a.apply(_fmt, axis=1)
    return a.pivot(index="theta", columns="dataset", values="cell")


def print_summary(console: Console, agg: pd.DataFrame, datasets: dict, metric: str = "dice"):
    wide = summary_frame(agg, metric)
    table = Table(title=f"{metric}: mean over images and seeds [95% bootstrap CI]")
    table.add_column("θ", justify="right")
    for name in wide.columns:
        synth = " (synthetic)" if datasets.get(name) and datasets[name].synthetic else ""
        table.add_column(f"{name}{synth}", justify="right")
    for theta, row in wide.iterrows():
        table.add_row(f"{theta:g}°", *[str(v) for v in row.values])
    console.print(table)


def _printable(text: str) -> str:
    """Control characters (a newline in a file name) shown as escapes: one table row."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def md_code(text: str) -> str:
    """A Markdown table cell's code span for any file name (backticks, pipes, newlines)."""
    text = _printable(text).replace("|", "\\|")
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence, pad = "`" * (ticks + 1), " " if ticks else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text(text: str) -> str:
    """Plain table-cell text: no raw HTML (a file named ``<script>.png``), no cell breaks."""
    return html.escape(_printable(text), quote=False).replace("|", "\\|")


def skipped_inputs_section(datasets, limit: int = 50) -> list[str]:
    """Markdown lines listing every skipped input file (path, reason), per dataset."""
    listed = [ds for ds in datasets if getattr(ds, "skipped_files", None)]
    if not listed:
        return []
    lines = ["", "## Skipped inputs", "",
             "Files dropped or not scored (`data.on_bad_input=strict` stops at the first "
             "one instead).", ""]
    for ds in listed:
        lines += [f"{ds.name}: {len(ds.skipped_files)} file(s)", "", "| file | reason |",
                  "|---|---|"]
        for path, reason in ds.skipped_files[:limit]:
            lines.append(f"| {md_code(path)} | {md_text(reason)} |")
        if len(ds.skipped_files) > limit:
            lines.append(f"| … {len(ds.skipped_files) - limit} more | |")
        lines.append("")
    return lines


def reference_section(result, cfg) -> list[str]:
    """Per-θ means of the references (untrained, resample, chance) of the analysis
    metric, beside the trained mean: what the measurement gives without learning."""
    ref = result.reference_aggregate if hasattr(result, "reference_aggregate") else None
    if ref is None or ref.empty:
        return []
    metric = cfg.analysis.metric
    both = pd.concat([result.aggregate.assign(model="trained"), ref], ignore_index=True)
    both = both[both.metric == metric]
    if both.empty:
        return []
    wide = both.pivot_table(index="theta", columns=["dataset", "model"], values="mean")
    order = ["trained", "untrained", "resample", "chance"]
    cols = [c for d in dict.fromkeys(both.dataset) for m in order if (d, m) in wide.columns
            for c in [(d, m)]]
    lines = ["", f"## {metric} vs θ beside the references (means over images and seeds)", "",
             "untrained: the seeded initial model through the same pipeline; resample: the "
             "θ = 0 maps rotated by θ and back; chance: a noise map. The θ tests use "
             "trained − untrained.", "",
             "| θ | " + " | ".join(f"{d} {m}" for d, m in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for theta, row in wide[cols].iterrows():
        lines.append(f"| {theta:g}° | " + " | ".join(f"{v:.3f}" for v in row.values) + " |")
    return lines


def write_summary(out: Path, cfg, result, figures: list[Path]) -> Path:
    lines = [f"# thetascope run: {cfg.name}", "",
             f"- config fingerprint `{fingerprint(cfg)}`; protocol `{cfg.sweep.protocol}`, "
             f"method `{cfg.ssl.method}`, encoder `{cfg.ssl.encoder}` (random init), "
             f"{cfg.ssl.steps} SSP steps of batch {cfg.ssl.batch_size}",
             f"- saliency: target `{cfg.saliency.target}`, SmoothGrad {cfg.saliency.samples} "
             f"samples, σ = {cfg.saliency.noise_level} × range, map `{cfg.saliency.map}`, "
             f"view `{cfg.saliency.view}`; binarisation `{cfg.metrics.binarize}`",
             f"- cells: {result.n_cells} ({result.n_skipped} reused, {result.n_ran} run); "
             f"wall time {result.wall_s:.1f} s", "", "## Datasets", "",
             "| dataset | kind | real or synthetic | SSP images | eval images | independent "
             "sources | skipped | source |",
             "|---|---|---|---|---|---|---|---|"]
    for ds in result.datasets.values():
        skipped = ", ".join(f"{k}: {v}" for k, v in ds.skipped.items()) or "none"
        real = "**synthetic**" if ds.synthetic else "real"
        sources = len({smp.group for smp in ds.eval})
        lines.append(f"| {ds.name} | {ds.kind} | {real} | {len(ds.ssp)} | {len(ds.eval)} | "
                     f"{sources} | {skipped} | {ds.source} |")
    lines += ["", "Independent sources: the volumes, cases or patients the scored images come "
              "from (an image is its own source when none is known); bootstrap intervals and "
              "the θ tests treat them, not the images, as the independent units."]
    lines += skipped_inputs_section(result.datasets.values())
    for metric in cfg.metrics.names:
        wide = summary_frame(result.aggregate, metric)
        lines += ["", f"## {metric} vs θ (mean [95% CI] over images and seeds)", "",
                  "| θ | " + " | ".join(wide.columns) + " |",
                  "|---|" + "---|" * len(wide.columns)]
        for theta, row in wide.iterrows():
            lines.append(f"| {theta:g}° | " + " | ".join(str(v) for v in row.values) + " |")
    lines += reference_section(result, cfg)
    if getattr(result, "verdict", None) is not None:
        from thetascope.report.verdict_table import verdict_markdown

        lines += ["", *verdict_markdown(result.verdict)]
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}](figures/{p.name})" for p in figures]
    lines += ["", "Per-image rows: `results.parquet`; per-θ aggregates: `aggregate.csv`; "
              "SSP losses: `losses.parquet`; log: `run.log`.", ""]
    path = Path(out) / "summary.md"
    atomic_write_text(path, "\n".join(lines))
    return path
