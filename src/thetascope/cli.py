"""Command-line interface (Typer). Heavy imports (torch) happen inside commands so that
``thetascope --help`` stays fast.

    thetascope run                                     # built-in data, configs/default.yaml
    thetascope run --config smoke --out runs/smoke     # the tiny profile
    thetascope run -c my.yaml -s sweep.seeds='[0,1,2]' -s ssl.steps=48 --force
    thetascope data list                               # list the built-in datasets
    thetascope data inspect /data/Kvasir-SEG --out sheets/   # layout, counts, problems
    thetascope report runs/smoke                       # (re)write runs/smoke/report.html
    thetascope compare runs/a runs/b --out cmp.html    # overlay several runs
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from thetascope.cli_errors import reported

app = typer.Typer(
    name="thetascope",
    help="Measure how the rotation angle θ in contrastive self-supervised pre-training "
    "changes what a network attends to, dataset by dataset.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

@app.command()
def run(
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="YAML config file, or the name of a shipped one "
                     "(default, smoke, study, full-circle, paper, followup). Default: the "
                     "shipped default.yaml."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder. Default: runs/<config name>/. "
                     "Re-running into the same folder resumes (finished cells are skipped)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a config value: section.key=value (value "
                     "parsed as YAML, e.g. sweep.thetas='[0,90,180]'). Repeatable."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute finished cells.")] = False,
    executor: Annotated[
        str | None,
        typer.Option("--executor", help="Where cells run: local (this process), process "
                     "(--workers N processes) or ray (--address). Same as --set "
                     "runtime.executor=..."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes for --executor process.")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: auto, HOST:PORT, or local (start a "
                     "private one)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """Pre-train at each θ, compute SmoothGrad saliency, score it against the masks beside
    the untrained model, the geometry alone and chance, test what training changed, and
    write report.html, results.parquet, verdict.parquet, figures/, summary.md and run.log
    into the output folder."""
    from rich.console import Console

    console = Console(stderr=True)
    with reported(console, debug, "finished cells are kept; re-run the same command to "
                  "resume"):
        from thetascope.config import load_config
        from thetascope.out_paths import out_folder
        from thetascope.report.summary import print_summary
        from thetascope.sweep.runner import run_experiment

        flags = [f"runtime.{k}={v}" for k, v in
                 (("executor", executor), ("workers", workers), ("address", address))
                 if v is not None]
        cfg = load_config(config, [*(set_ or []), *flags])
        out_dir = out_folder(out or Path("runs") / cfg.name)
        result = run_experiment(cfg, out_dir, force=force, console=console)
    metric = "dice" if "dice" in cfg.metrics.names else cfg.metrics.names[0]
    print_summary(Console(), result.aggregate, result.datasets, metric)
    from thetascope.report.verdict_table import print_verdict

    print_verdict(Console(), result.verdict)
    from thetascope.cli_errors import plain
    from thetascope.run_notes import report_fresh, run_notes

    for note in run_notes(result):  # degenerate images left out, a report not written
        console.print(f"[yellow]warning:[/yellow] {plain(note)}", highlight=False,
                      soft_wrap=True)
    page = "report.html, " if report_fresh(result) else ""
    console.print(f"wrote {out_dir}/ ({page}summary.md, results.parquet, figures/) in "
                  f"{result.wall_s:.1f} s", soft_wrap=True)
    print(out_dir)
    if result.failed:
        raise typer.Exit(1)


@app.command()
def orient(
    target: Annotated[str, typer.Argument(help="A config (YAML path or shipped name, e.g. "
                                          "'default') or a dataset kind: built-in (mri-lesion, "
                                          "ct-nodule, phantom-cxr, phantom-polyp) or one that "
                                          "reads a folder (-s data.datasets.0.root=...).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder. Default: "
                                             "runs/orient-<name>/.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config "
                                                   "value, e.g. orient.hog=followup.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """Orientation analysis alone (no training): signed gradient-orientation histograms,
    self-overlap S(θ) and the HoG + SVM test A(θ), as orient_*.parquet and figures/."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    with reported(console, debug):
        from thetascope.out_paths import out_folder
        from thetascope.sweep.lock import run_lock
        from thetascope.sweep.orient_stage import (
            orient_config,
            orient_datasets,
            orient_table,
            write_orient,
        )
        from thetascope.sweep.runner import load_datasets

        cfg = orient_config(target, set_ or [])
        out_dir = out or Path("runs") / (cfg.name if cfg.name.startswith("orient")
                                         else f"orient-{cfg.name}")
        out_folder(out_dir)
        with run_lock(out_dir):  # RunLocked while a run or another orient writes here
            datasets = load_datasets(cfg)
            res = orient_datasets(cfg, datasets, cfg.sweep.thetas)
            write_orient(out_dir, res, datasets)
    rows = orient_table(res)
    table = Table(title=f"orientation analysis ({cfg.orient.similarity}, HoG {cfg.orient.hog})")
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*r.values())
    Console().print(table)
    console.print(f"wrote {out_dir}/ (orient_*.parquet, figures/) in {res.seconds:.1f} s")
    print(out_dir)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (it holds "
                                            "aggregate.csv).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the page. "
                                             "Default: RUN_DIR/report.html.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """Write RUN_DIR/report.html: one self-contained page (charts, saliency gallery with a θ
    slider, orientation analysis and verdict, setup, provenance, warnings) that opens
    offline in any browser. `thetascope run` writes it at the end of every run."""
    from rich.console import Console

    console = Console(stderr=True)
    with reported(console, debug):
        from thetascope.data.problems import DataError
        from thetascope.out_paths import out_file
        from thetascope.report.html import write_report
        from thetascope.sweep.resume_check import damaged_in_run

        if bad := damaged_in_run(run_dir):  # never a page drawn from a damaged cell
            more = f" (and {len(bad) - 1} more cells)" if len(bad) > 1 else ""
            raise DataError(f"{run_dir}/cells/{bad[0][0]} is damaged ({bad[0][1]}){more}; "
                            "re-run the command that made this run (same --out) to "
                            "recompute it, then report again")
        path = write_report(run_dir, out=out_file(out, "report.html") if out else None)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", soft_wrap=True)
    print(path)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to overlay (e.g. two "
                                                   "encoders or protocols).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML page to write.")] = Path(
        "compare.html"),
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """One self-contained HTML page overlaying the per-dataset score-vs-θ curves (every
    metric) and the verdicts of several runs."""
    from rich.console import Console

    console = Console(stderr=True)
    with reported(console, debug):
        from thetascope.out_paths import out_file
        from thetascope.report.compare import write_compare

        path = write_compare(run_dirs, out_file(out, "compare.html"))
    console.print(f"wrote {path} ({len(run_dirs)} runs)", soft_wrap=True)
    print(path)


data_app = typer.Typer(
    help="Datasets: list the built-in ones, or inspect a folder / config before a run.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(
    image_size: Annotated[int, typer.Option(help="Preprocess at this size to count masks.")] = 64,
) -> None:
    """List the built-in datasets: kind, real or synthetic, image and mask counts."""
    from rich.console import Console
    from rich.table import Table

    from thetascope.config import CTNoduleSpec, DataConfig, MRILesionSpec, PhantomSpec
    from thetascope.data.registry import create_dataset

    dcfg = DataConfig(image_size=image_size, max_eval_images=10_000)
    table = Table(title="built-in datasets")
    for col in ("kind", "SSP images", "with mask", "source"):
        table.add_column(col)
    for spec in (MRILesionSpec(), CTNoduleSpec(), PhantomSpec(kind="phantom-cxr"),
                 PhantomSpec(kind="phantom-polyp")):
        ds = create_dataset(spec, dcfg)
        table.add_row(spec.kind, str(len(ds.ssp)), str(len(ds.eval)), ds.source)
    Console().print(table)


@data_app.command("inspect")
def data_inspect(
    target: Annotated[str, typer.Argument(
        metavar="PATH_OR_CONFIG", help="A dataset folder or manifest (its layout is "
        "detected), or a YAML config (every dataset in data.datasets).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the contact sheets "
                                      "(contact_<dataset>.png).")] = Path("."),
    image_size: Annotated[int, typer.Option(help="Preprocess at this size.")] = 128,
    samples: Annotated[int, typer.Option(help="Samples on each contact sheet.")] = 8,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="Override a config value (data.crop=inscribed ...).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """Detected layout, counts, image sizes, mask coverage, problems found, and a contact
    sheet PNG of a few samples with their mask contours."""
    from rich.console import Console

    console = Console(stderr=True)
    with reported(console, debug):
        from thetascope.data.inspection import inspect_target
        from thetascope.out_paths import out_folder
        from thetascope.report.contact_sheet import write_contact_sheet

        out = out_folder(out)
        reports = inspect_target(target, set_ or [], image_size)
        for info in reports:
            print("\n".join(info.lines()))
            if info.samples:
                safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in info.name)
                sheet = write_contact_sheet(info.samples, out / f"contact_{safe}.png",
                                            f"{info.name} ({info.kind}, {info.layout})",
                                            samples)
                print(f"sheet     {sheet}\n")


@app.command()
def plan(
    config: Annotated[
        str | None,
        typer.Argument(help="YAML config file or shipped config name (default: default)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a config value: section.key=value."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the estimate as JSON here.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    """Count cells and model fits and estimate the cost on this machine, running nothing
    else (a few real training steps and saliency rows are timed)."""
    import json

    from rich.console import Console
    from rich.table import Table

    console = Console()
    with reported(Console(stderr=True), debug):
        from thetascope.config import load_config
        from thetascope.sweep.estimate import estimate
        from thetascope.sweep.runner import load_datasets

        cfg = load_config(config, set_ or [])
        datasets = load_datasets(cfg)
        est = estimate(cfg, datasets)
    table = Table(title=f"plan for {cfg.name} ({cfg.sweep.protocol}, {cfg.ssl.method}, "
                  f"{cfg.ssl.encoder}, {est.device})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    hours = est.total_seconds / 3600
    for name, value in (
        ("datasets × θ × seeds", f"{len(datasets)} × {len(cfg.sweep.thetas)} × "
         f"{len(cfg.sweep.seeds)}"),
        ("cells", f"{est.cells}"), ("model fits (pre-training runs)", f"{est.fits}"),
        ("seconds per training step", f"{est.seconds_per_step:.3f}"),
        ("training seconds per fit", f"{est.train_seconds_per_fit:.1f}"),
        ("saliency seconds per cell", f"{est.saliency_seconds_per_cell:.1f}"),
        ("reference saliency passes (untrained model)", f"{est.reference_passes}"),
        ("precision (training / saliency)", est.precision),
        ("total compute", f"{est.total_seconds:.0f} s ({hours:.2f} h)"),
        (f"wall time with {est.parallel_tasks} parallel task(s)",
         f"{est.wall_seconds:.0f} s ({est.wall_seconds / 3600:.2f} h)"),
    ):
        table.add_row(name, value)
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps({"config": cfg.name, **est.as_dict()}, indent=1))


@app.command()
def bench(
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated subset of: training, smoothgrad, "
                     "self_overlap, multi_theta, data_path, hog_svm, default_run "
                     "(default_run is opt-in: it takes minutes)."),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny workloads: checks the "
                                        "harness, numbers mean little.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for the JSON results.")] = Path(
        "benchmarks/results"),
    device: Annotated[str, typer.Option(
        "--device", help="auto (the GPU when one is visible), cpu or cuda: where training, "
        "SmoothGrad and the fused θ-models run (the orientation rows stay on the CPU).")
    ] = "auto",
) -> None:
    """Measure thetascope against named baselines, side by side in one run; writes a table
    and OUT/<date>-<host>.json (<date>-<host>-cuda.json on a GPU). Run it on an otherwise
    idle machine."""
    from rich.console import Console
    from rich.table import Table

    from thetascope.bench.common import load_average
    from thetascope.bench.suite import SUITE, run_suite

    console = Console()
    names = [n.strip() for n in only.split(",")] if only else None
    bad = [n for n in names or [] if n not in SUITE]
    if bad:
        Console(stderr=True).print(f"[red]error:[/red] unknown benchmark(s) {bad}; choose "
                                   f"from {', '.join(SUITE)}", highlight=False)
        raise typer.Exit(2)
    import torch

    if device not in ("auto", "cpu", "cuda") or (device == "cuda"
                                                 and not torch.cuda.is_available()):
        why = "no CUDA device is visible here" if device == "cuda" else "unknown device"
        Console(stderr=True).print(f"[red]error:[/red] --device {device!r}: {why}; use auto, "
                                   "cpu or cuda", highlight=False)
        raise typer.Exit(2)
    if (load := load_average()) > 0.5:
        console.print(f"[yellow]warning:[/yellow] load average {load:.1f}: the machine is "
                      "not idle, ratios are still fair but absolute numbers are low")
    rows, path = run_suite(quick, names, out, device=device,
                           on_row=lambda r: console.print(f"  {r.name}: ratio {r.ratio:.2f}"))
    table = Table(title="thetascope vs baselines (ratio: higher is better)")
    for col in ("benchmark", "baseline", "baseline", "thetascope", "unit", "ratio", "target"):
        table.add_column(col)
    for r in rows:
        mark = "" if r.met is None else (" ✓" if r.met else " ✗")
        table.add_row(r.name, r.baseline, f"{r.baseline_value:.3g}", f"{r.value:.3g}", r.unit,
                      f"{r.ratio:.2f}{mark}", "" if r.target is None else f"≥ {r.target:g}")
    console.print(table)
    console.print(f"wrote {path}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted; finished cells are kept, re-run the same command to resume",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
