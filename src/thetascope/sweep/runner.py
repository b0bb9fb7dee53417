"""Run a whole experiment into an output folder; resumable, crash-safe, logged.

    result = run_experiment(cfg, Path("runs/default"))
    result.out_dir, result.n_skipped, result.n_ran, result.aggregate

Layout of the output folder: ``config.yaml`` (fully resolved), ``cells/<key>/`` (one per
finished cell), ``results.parquet`` (long format), ``losses.parquet``, ``aggregate.csv``,
``figures/*.png``, ``summary.md`` and ``run.log``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from thetascope.analysis.curves import aggregate
from thetascope.config import ExperimentConfig, dump_config, fingerprint
from thetascope.data.registry import create_dataset
from thetascope.data.sample import LoadedDataset
from thetascope.ssl.checkpoints import save_checkpoint
from thetascope.sweep.cell import run_cell
from thetascope.sweep.plan import Cell, plan_cells
from thetascope.sweep.store import ResultStore, atomic_write_parquet, atomic_write_text

log = logging.getLogger("thetascope")


@dataclass
class RunResult:
    out_dir: Path
    n_cells: int
    n_skipped: int
    n_ran: int
    results: pd.DataFrame
    aggregate: pd.DataFrame
    datasets: dict[str, LoadedDataset] = field(default_factory=dict)
    wall_s: float = 0.0


def _setup_logging(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device=cuda but no CUDA device is visible; use auto or cpu")
    return torch.device(name)


def load_datasets(cfg: ExperimentConfig) -> dict[str, LoadedDataset]:
    names = [s.display_name for s in cfg.data.datasets]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        from thetascope.config import ConfigError

        raise ConfigError(f"dataset names must be unique, repeated: {sorted(dupes)}; "
                          "give each a distinct 'name'")
    out = {}
    for spec in cfg.data.datasets:
        ds = create_dataset(spec, cfg.data)
        log.info("dataset %s (%s): %d SSP, %d eval, skipped %s; %s", ds.name, ds.kind,
                 len(ds.ssp), len(ds.eval), ds.skipped, ds.source)
        out[ds.name] = ds
    return out


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=console, transient=False,
    )


def run_experiment(
    cfg: ExperimentConfig,
    out: Path,
    force: bool = False,
    console: Console | None = None,
) -> RunResult:
    start = time.perf_counter()
    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    handler = _setup_logging(out)
    try:
        return _run(cfg, out, force, console, start)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(cfg: ExperimentConfig, out: Path, force: bool, console: Console,
         start: float) -> RunResult:
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = pick_device(cfg.runtime.device)
    fp = fingerprint(cfg)
    atomic_write_text(out / "config.yaml",
                      f"# thetascope resolved config; fingerprint {fp}\n" + dump_config(cfg))
    log.info("run %s into %s (fingerprint %s, device %s, %d torch threads)", cfg.name, out, fp,
             device, torch.get_num_threads())
    store = ResultStore(out)
    if (n_tmp := store.clean_temporaries()):
        log.info("removed %d temporary leftovers of an interrupted run", n_tmp)
    datasets = load_datasets(cfg)
    cells = plan_cells(cfg, datasets)
    if force:
        for c in cells:
            store.forget(c.key)
    pending = [c for c in cells if not store.is_done(c.key)]
    n_skip = len(cells) - len(pending)
    msg = (f"{len(cells)} cells ({len(datasets)} datasets × {len(cfg.sweep.thetas)} θ × "
           f"{len(cfg.sweep.seeds)} seeds): {n_skip} already finished, skipped; "
           f"{len(pending)} to run")
    console.print(msg)
    log.info(msg)
    _run_cells(pending, datasets, cfg, device, store, console)

    results = store.collect([c.key for c in cells])
    results["config_fp"] = fp
    atomic_write_parquet(out / "results.parquet", results)
    losses = _collect_losses(store, cells)
    atomic_write_parquet(out / "losses.parquet", losses)
    agg = pd.concat(
        [aggregate(results, m, n_boot=cfg.metrics.bootstrap) for m in cfg.metrics.names],
        ignore_index=True,
    )
    agg.to_csv(out / "aggregate.csv", index=False)

    from thetascope.report.figures import write_figures
    from thetascope.report.summary import write_summary

    wall = time.perf_counter() - start
    figs = write_figures(out, cfg, results, agg, losses, store, cells, datasets)
    result = RunResult(out, len(cells), n_skip, len(pending), results, agg, datasets,
                       time.perf_counter() - start)
    write_summary(out, cfg, result, figs)
    log.info("finished in %.1f s (figures %.1f s)", result.wall_s, result.wall_s - wall)
    return result


def _run_cells(pending: list[Cell], datasets: dict[str, LoadedDataset], cfg: ExperimentConfig,
               device: torch.device, store: ResultStore, console: Console) -> None:
    if not pending:
        return
    with _progress(console) as progress:
        sweep = progress.add_task("sweep", total=len(pending))
        steps = progress.add_task("pre-training", total=cfg.ssl.steps)
        sal = progress.add_task("saliency", total=1)
        for cell in pending:
            desc = f"{cell.dataset} θ={cell.theta:g} seed={cell.seed}"
            progress.reset(steps, total=cfg.ssl.steps,
                           description=f"pre-train {desc}")
            progress.reset(sal, total=1, description=f"saliency  {desc}")

            def on_step(step: int, loss: float, _d=desc) -> None:
                progress.update(steps, completed=step + 1,
                                description=f"pre-train {_d} loss {loss:.3f}")

            def on_saliency(done: int, total: int) -> None:
                progress.update(sal, completed=done, total=total)

            t = time.perf_counter()
            res = run_cell(cell, datasets[cell.dataset], cfg, device, on_step, on_saliency)
            res.meta["pid"] = os.getpid()
            extras = {}
            if cfg.runtime.save_checkpoints and res.model is not None:
                model, meta = res.model, dict(res.meta)
                extras["model.pt"] = lambda p, m=model, mt=meta: save_checkpoint(p, m, mt)
            store.write_cell(cell.key, res.rows, res.losses, res.maps, res.meta, extras)
            log.info("cell %s %s done in %.1f s (train %.1f s, saliency %.1f s, loss %.3f)",
                     cell.key, desc, time.perf_counter() - t, res.meta["train_s"],
                     res.meta["saliency_s"], res.losses[-1])
            progress.advance(sweep)


def _collect_losses(store: ResultStore, cells: list[Cell]) -> pd.DataFrame:
    frames = []
    for c in cells:
        if store.is_done(c.key):
            ls = store.read_losses(c.key)
            frames.append(pd.DataFrame({"dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                                        "step": range(len(ls)), "loss": ls}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
