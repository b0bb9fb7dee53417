"""Run a whole experiment into an output folder; resumable, crash-safe, logged.

    result = run_experiment(cfg, Path("runs/default"))
    result.out_dir, result.n_skipped, result.n_ran, result.aggregate   # trained models
    result.references, result.reference_aggregate   # untrained / resample / chance

Layout of the output folder: ``config.yaml`` (fully resolved), ``cells/<key>/`` (one per
finished cell), ``results.parquet`` (long format), ``losses.parquet``, ``aggregate.csv``,
``figures/*.png``, ``summary.md`` and ``run.log``; with downstream baselines also
``baselines/<key>/`` and ``baselines.parquet`` (never mixed into ``results.parquet``).
"""

from __future__ import annotations

import logging
import sys
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
from thetascope.precision import resolve_precision
from thetascope.sweep.baselines import (
    BASELINE_FILE,
    baseline_store,
    collect_baselines,
    plan_baselines,
)
from thetascope.sweep.dispatch import dispatch
from thetascope.sweep.lock import run_lock
from thetascope.sweep.plan import Cell, plan_cells
from thetascope.sweep.preflight import preflight
from thetascope.sweep.references import plan_references, reference_store
from thetascope.sweep.resume_check import report_damaged
from thetascope.sweep.store import (
    ResultStore,
    as_write_error,
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
)
from thetascope.sweep.theta_batch import resolve_theta_batch
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
    verdict: pd.DataFrame | None = None  # analysis/verdict.py table, when the stage ran
    baselines: pd.DataFrame | None = None  # downstream baselines (sweep/baselines.py), if any
    references: pd.DataFrame | None = None  # untrained / resample / chance rows, if any

    @property
    def reference_aggregate(self) -> pd.DataFrame:
        """Per-θ means of the references (``aggregate.csv``'s rows of other models)."""
        path = self.out_dir / "aggregate.csv"
        if not path.is_file():
            return pd.DataFrame()
        agg = pd.read_csv(path)
        return agg[agg.model != "trained"] if "model" in agg else agg.iloc[:0]


class _LogFile(logging.FileHandler):
    """run.log; a failed write (full disk) is dropped silently: the run's own write fails
    next and says so in one line, instead of logging printing a traceback per record."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)  # a bug in a log call still shows


def _setup_logging(out: Path) -> logging.Handler:
    handler = _LogFile(out / "run.log", encoding="utf-8")
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
        ds = create_dataset(spec, cfg.data, cfg.geometry.circle_mask)
        if ds.degenerate:  # left out of the evaluation set; listed in summary.md
            log.warning("dataset %s: %d of its images with a mask are degenerate (%.0f%% of "
                        "the would-be evaluation set) and are not scored, e.g. %s: %s",
                        ds.name, len(ds.degenerate), 100 * ds.degenerate_share,
                        *ds.degenerate[0])
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
    try:
        out.mkdir(parents=True, exist_ok=True)
        with run_lock(out):  # RunLocked when another live run writes this folder
            handler = _setup_logging(out)
            threads = torch.get_num_threads()  # runtime.threads is process-global state
            try:
                return _run(cfg, out, force, console, start)
            except KeyboardInterrupt:  # Ctrl-C: say so in run.log too
                log.warning("interrupted by the user (Ctrl-C); finished cells are kept, "
                            "re-run the same command to resume")
                raise
            finally:
                torch.set_num_threads(threads)
                log.removeHandler(handler)
                handler.close()
    except OSError as exc:  # disk full, read-only, permissions: one line, results kept
        err = as_write_error(exc, out)
        if err is None:
            raise
        raise err from exc


def _run(cfg: ExperimentConfig, out: Path, force: bool, console: Console,
         start: float) -> RunResult:
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = pick_device(cfg.runtime.device)
    cfg = resolve_precision(cfg, device)  # "auto" -> bf16 or fp32 on this machine's device
    cfg, fused_why = resolve_theta_batch(cfg, device)  # "auto" -> 1 on a CPU, K on a GPU
    fp = fingerprint(cfg)
    atomic_write_text(out / "config.yaml",
                      f"# thetascope resolved config; fingerprint {fp}\n" + dump_config(cfg))
    log.info("run %s into %s (fingerprint %s, device %s, %d torch threads)", cfg.name, out, fp,
             device, torch.get_num_threads())
    if fused_why:
        log.info("sweep.theta_batch auto -> %d (%s)", cfg.sweep.theta_batch, fused_why)
    store = ResultStore(out)
    if (n_tmp := store.clean_temporaries()):
        log.info("removed %d temporary leftovers of an interrupted run", n_tmp)
    datasets = load_datasets(cfg)
    preflight(cfg, datasets)  # batch/queue sizes, ssl.weights: fail once, before any cell
    cells = plan_cells(cfg, datasets)
    bcells = plan_baselines(cfg, datasets)  # downstream baselines, kept apart from the θ cells
    bstore = baseline_store(out) if bcells else None
    if bstore is not None:
        bstore.clean_temporaries()
    rcells = plan_references(cfg, datasets)  # untrained / resample / chance, per (dataset, seed)
    rstore = reference_store(out) if rcells else None
    if rstore is not None:
        rstore.clean_temporaries()
    if force:
        for c in cells:
            store.forget(c.key)
        for c in bcells:
            bstore.forget(c.key)  # type: ignore[union-attr]
        for c in rcells:
            rstore.forget(c.key)  # type: ignore[union-attr]
    report_damaged(store, cells, console)  # files that fail to load: recomputed, named
    if bstore is not None:
        report_damaged(bstore, bcells, console)
    if rstore is not None:
        report_damaged(rstore, rcells, console)
    pending = [c for c in cells if not store.is_done(c.key)]
    bpending = [c for c in bcells if not bstore.is_done(c.key)]  # type: ignore[union-attr]
    rpending = [c for c in rcells if not rstore.is_done(c.key)]  # type: ignore[union-attr]
    n_skip = len(cells) - len(pending)
    msg = (f"{len(cells)} cells ({len(datasets)} datasets × {len(cfg.sweep.thetas)} θ × "
           f"{len(cfg.sweep.seeds)} seeds, protocol {cfg.sweep.protocol}): {n_skip} already "
           f"finished, skipped; {len(pending)} to run on executor {cfg.runtime.executor}")
    if bcells:
        msg += (f"; {len(bcells)} downstream baseline cells, {len(bcells) - len(bpending)} "
                "already finished")
    if rcells:
        msg += (f"; {len(rcells)} reference cells ({', '.join(cfg.sweep.references)}), "
                f"{len(rcells) - len(rpending)} already finished")
    console.print(msg, soft_wrap=True)
    log.info(msg)
    failed = dispatch(pending, cfg, datasets, store, console, bpending, bstore, rpending,
                      rstore)
    if failed:
        console.print(f"[red]{len(failed)} task(s) failed[/red] (see run.log); the other "
                      "results are kept; re-run to retry them", highlight=False)

    results = store.collect([c.key for c in cells])
    if results.empty:
        first = f"; the first: {failed[0][0]}: {failed[0][1]}" if failed else ""
        raise RunFailed(f"no cell finished ({len(failed)} failed{first}; see {out}/run.log)")
    if "model" not in results:  # cells written before the references existed
        results["model"] = "trained"
    references = rstore.collect([c.key for c in rcells]) if rstore is not None \
        else pd.DataFrame()
    results["config_fp"] = fp
    if len(references):
        references["config_fp"] = fp
    atomic_write_parquet(out / "results.parquet", pd.concat([results, references],
                                                           ignore_index=True))
    baselines = collect_baselines(bstore, bcells) if bstore is not None else pd.DataFrame()
    if baselines.empty:  # never leave an earlier config's baselines next to these results
        (out / BASELINE_FILE).unlink(missing_ok=True)
    else:
        atomic_write_parquet(out / BASELINE_FILE, baselines)
    losses = _collect_losses(store, cells)
    atomic_write_parquet(out / "losses.parquet", losses)
    from thetascope.downstream import downstream_metric_names

    extra = [m for m in downstream_metric_names(cfg) if m in set(results["metric"])]
    scored = pd.concat([results, references], ignore_index=True)
    agg = pd.concat(
        [aggregate(scored, m, n_boot=cfg.metrics.bootstrap)
         for m in [*cfg.metrics.names, *extra]],
        ignore_index=True,
    )
    atomic_write_csv(out / "aggregate.csv", agg)
    log.info("wrote results.parquet (%d rows), losses.parquet, aggregate.csv; writing the "
             "figures and the report", len(results))

    from thetascope.report.figures import write_figures
    from thetascope.report.summary import write_summary

    wall = time.perf_counter() - start
    figs = write_figures(out, cfg, results, agg, losses, store, cells, datasets,
                         _untrained_maps(rstore, rcells))
    from thetascope.sweep.orient_stage import run_analysis_stage

    verdict = None
    try:
        stage = run_analysis_stage(cfg, out, datasets, results, references, losses,
                                   degenerate_flags(cfg, datasets))  # orientation + statistics
        figs += stage.figures
        verdict = stage.verdict
    except Exception as exc:  # the scores are saved; a failed analysis must not lose them
        log.exception("orientation/statistics stage failed")
        console.print(f"[yellow]warning:[/yellow] the orientation/statistics stage failed "
                      f"({type(exc).__name__}: {exc}); scores and figures are kept, details "
                      "in run.log", highlight=False)
    result = RunResult(out, len(cells), n_skip, len(pending) - len(failed), results,
                       agg[agg.model == "trained"].reset_index(drop=True),
                       datasets, time.perf_counter() - start, failed, verdict,
                       None if baselines.empty else baselines,
                       None if references.empty else references)
    write_summary(out, cfg, result, figs)
    log.info("finished in %.1f s (figures %.1f s)", result.wall_s, result.wall_s - wall)
    from thetascope.report.html import try_write_report

    try_write_report(out, datasets)  # report.html; a failure only logs a warning
    return result


def _untrained_maps(rstore: ResultStore | None, rcells: list[Cell]) -> dict[str, dict]:
    """Per dataset, the first seed's reference maps (the galleries' untrained row)."""
    out: dict[str, dict] = {}
    for c in sorted(rcells, key=lambda c: c.seed):
        if rstore is not None and c.dataset not in out and rstore.is_done(c.key):
            try:
                out[c.dataset] = rstore.read_maps(c.key)
            except (OSError, ValueError):  # a damaged file: the gallery goes without it
                continue
    return out


def degenerate_flags(cfg: ExperimentConfig,
                     datasets: dict[str, LoadedDataset]) -> dict[str, list[str]]:
    """Datasets whose would-be evaluation set was dominated by degenerate images (full
    masks, no contrast; data/degenerate.py): their verdict is inconclusive."""
    out: dict[str, list[str]] = {}
    for name, ds in datasets.items():
        if getattr(ds, "degenerate_dominated", False):
            out[name] = [f"degenerate masks or images: {len(ds.degenerate)} of the evaluation "
                         f"set ({100 * ds.degenerate_share:.0f} %), e.g. {ds.degenerate[0][0]}: "
                         f"{ds.degenerate[0][1]}"]
    return out


def _collect_losses(store: ResultStore, cells: list[Cell]) -> pd.DataFrame:
    frames = []
    for c in cells:
        if store.is_done(c.key):
            ls = store.read_losses(c.key)
            frames.append(pd.DataFrame({"dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                                        "step": range(len(ls)), "loss": ls}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
