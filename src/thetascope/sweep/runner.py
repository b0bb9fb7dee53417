"""Run a whole experiment into an output folder; resumable, crash-safe, logged.

    result = run_experiment(cfg, Path("runs/default"))
    result.out_dir, result.n_skipped, result.n_ran, result.aggregate

Layout of the output folder: ``config.yaml`` (fully resolved), ``cells/<key>/`` (one per
finished cell), ``results.parquet`` (long format), ``losses.parquet``, ``aggregate.csv``,
``figures/*.png``, ``summary.md`` and ``run.log``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console

from thetascope.analysis.curves import aggregate
from thetascope.config import ExperimentConfig, dump_config, fingerprint
from thetascope.data.registry import create_dataset
from thetascope.data.sample import LoadedDataset
from thetascope.sweep.dispatch import dispatch
from thetascope.sweep.plan import Cell, plan_cells
from thetascope.sweep.store import ResultStore, atomic_write_parquet, atomic_write_text
from thetascope.sweep.work import pick_device

log = logging.getLogger("thetascope")


class RunFailed(RuntimeError):
    """Nothing could be computed; the message says where to look."""


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
    failed: list[tuple[str, str]] = field(default_factory=list)  # (task, error)


def _setup_logging(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


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
           f"{len(cfg.sweep.seeds)} seeds, protocol {cfg.sweep.protocol}): {n_skip} already "
           f"finished, skipped; {len(pending)} to run on executor {cfg.runtime.executor}")
    console.print(msg, soft_wrap=True)
    log.info(msg)
    failed = dispatch(pending, cfg, datasets, store, console)
    if failed:
        console.print(f"[red]{len(failed)} task(s) failed[/red] (see run.log); the other "
                      "results are kept; re-run to retry them", highlight=False)

    results = store.collect([c.key for c in cells])
    if results.empty:
        raise RunFailed(f"no cell finished ({len(failed)} failed; see {out}/run.log)")
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
    result = RunResult(out, len(cells), n_skip, len(pending) - len(failed), results, agg,
                       datasets, time.perf_counter() - start, failed)
    write_summary(out, cfg, result, figs)
    log.info("finished in %.1f s (figures %.1f s)", result.wall_s, result.wall_s - wall)
    return result


def _collect_losses(store: ResultStore, cells: list[Cell]) -> pd.DataFrame:
    frames = []
    for c in cells:
        if store.is_done(c.key):
            ls = store.read_losses(c.key)
            frames.append(pd.DataFrame({"dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                                        "step": range(len(ls)), "loss": ls}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
