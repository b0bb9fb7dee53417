"""Command-line interface (Typer). Heavy imports (torch) happen inside commands so that
``thetascope --help`` stays fast.

    thetascope run                                     # built-in data, configs/default.yaml
    thetascope run --config smoke --out runs/smoke     # the tiny profile
    thetascope run -c my.yaml -s sweep.seeds='[0,1,2]' -s ssl.steps=48 --force
    thetascope data                                    # list the built-in datasets
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="thetascope",
    help="Measure how the rotation angle θ in contrastive self-supervised pre-training "
    "changes what a network attends to, dataset by dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Errors that are the user's input, not a bug: one line, no traceback (unless --debug).
_USER_ERRORS: tuple[type[BaseException], ...] = ()


def _user_errors() -> tuple[type[BaseException], ...]:
    from thetascope.config import ConfigError
    from thetascope.data.folder import DataError
    from thetascope.ssl.checkpoints import CheckpointError
    from thetascope.ssl.train import TrainingConfigError
    from thetascope.sweep.runner import RunFailed

    return (ConfigError, DataError, TrainingConfigError, CheckpointError, FileNotFoundError,
            RunFailed)


@app.command()
def run(
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="YAML config file, or the name of a shipped one "
                     "('default', 'smoke'). Default: the shipped default.yaml."),
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
    """Pre-train at each θ, compute SmoothGrad saliency, score it against the masks, and
    write results.parquet, figures/, summary.md and run.log into the output folder."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        from thetascope.config import apply_overrides, load_config
        from thetascope.report.summary import print_summary
        from thetascope.sweep.runner import run_experiment

        flags = [f"runtime.{k}={v}" for k, v in
                 (("executor", executor), ("workers", workers), ("address", address))
                 if v is not None]
        cfg = apply_overrides(load_config(config), [*(set_ or []), *flags])
        out_dir = out or Path("runs") / cfg.name
        result = run_experiment(cfg, out_dir, force=force, console=console)
    except _user_errors() as exc:
        if debug:
            raise
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    metric = "dice" if "dice" in cfg.metrics.names else cfg.metrics.names[0]
    print_summary(Console(), result.aggregate, result.datasets, metric)
    console.print(f"wrote {out_dir}/ (summary.md, results.parquet, figures/) in "
                  f"{result.wall_s:.1f} s", soft_wrap=True)
    print(out_dir)
    if result.failed:
        raise typer.Exit(1)


@app.command()
def data(
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
    try:
        from thetascope.config import apply_overrides, load_config
        from thetascope.sweep.estimate import estimate
        from thetascope.sweep.runner import load_datasets

        cfg = apply_overrides(load_config(config), set_ or [])
        datasets = load_datasets(cfg)
        est = estimate(cfg, datasets)
    except _user_errors() as exc:
        if debug:
            raise
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
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
        ("total compute", f"{est.total_seconds:.0f} s ({hours:.2f} h)"),
        (f"wall time with {est.parallel_tasks} parallel task(s)",
         f"{est.wall_seconds:.0f} s ({est.wall_seconds / 3600:.2f} h)"),
    ):
        table.add_row(name, value)
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps({"config": cfg.name, **est.as_dict()}, indent=1))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted; finished cells are kept, re-run the same command to resume",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
