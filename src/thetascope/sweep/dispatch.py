"""Turn pending cells into tasks, run them on the configured executor, store the results.

    failed = dispatch(pending, cfg, datasets, store, console)

The driver (this module) is the only writer of the results store. In the probe protocol
the pre-training units run first (one per dataset and seed), then the cells that use them.
Downstream baseline cells (sweep/baselines.py) run with the cells, into their own store.
A failing task is logged and counted; the others go on.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from thetascope.config import ConfigError, ExperimentConfig, stable_hash
from thetascope.data.sample import LoadedDataset
from thetascope.ssl.checkpoints import load_checkpoint, save_state
from thetascope.ssl.registry import get_encoder, get_method
from thetascope.sweep.executors import LocalExecutor, create_executor
from thetascope.sweep.plan import Cell
from thetascope.sweep.store import ResultStore
from thetascope.sweep.theta_batch import fused_k
from thetascope.sweep.work import Task, TaskResult, WorkContext, pick_device

log = logging.getLogger("thetascope")


class RichMonitor:
    """Bars: tasks done / running / failed / remaining with ETA; live step and saliency
    progress for the in-process executor."""

    def __init__(self, progress: Progress, total: int, steps: int, live: bool) -> None:
        self.p, self.live = progress, live
        self.done = self.failed = self.running = 0
        self.total = total
        self.bar = progress.add_task("tasks", total=total, status=self._status())
        self.steps = progress.add_task("pre-training", total=steps, status="") if live else None
        self.sal = progress.add_task("saliency", total=1, status="") if live else None

    def _status(self) -> str:
        rest = self.total - self.done - self.failed
        return (f"done {self.done} · running {self.running} · failed {self.failed} · "
                f"remaining {rest}")

    def started(self, task: Task) -> None:
        self.running = min(self.running + 1, self.total - self.done - self.failed)
        self.p.update(self.bar, status=self._status())
        if self.live:
            self.p.reset(self.steps, description=f"pre-train {task.label}")
            self.p.reset(self.sal, total=1, description=f"saliency  {task.label}")

    def step(self, task: Task, step: int, loss: float) -> None:
        self.p.update(self.steps, completed=step + 1,
                      description=f"pre-train {task.label} loss {loss:.3f}")

    def saliency(self, task: Task, done: int, total: int) -> None:
        self.p.update(self.sal, completed=done, total=total)

    def finished(self, ok: bool) -> None:
        self.running = max(0, self.running - 1)
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.p.update(self.bar, completed=self.done + self.failed, status=self._status())


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
    )


def _store_cell(store: ResultStore, cfg: ExperimentConfig, task: Task, res: TaskResult,
                partial_dir: Path) -> None:
    out = res.output
    assert out is not None
    extras = {}
    if res.state is not None:
        state, meta = res.state, dict(out.meta)
        extras["model.pt"] = lambda p: save_state(p, state, meta)
    steps_dir = partial_dir / task.key
    if cfg.runtime.checkpoints == "all" and steps_dir.is_dir():
        extras["steps"] = lambda p: shutil.copytree(steps_dir, p)
    store.write_cell(task.key, out.rows, out.losses, out.maps, out.meta, extras)
    shutil.rmtree(steps_dir, ignore_errors=True)


def theta_batches(tasks: list[Task], k: int) -> list[Task]:
    """Group cell tasks of the same (dataset, seed) into fused tasks of up to k θ."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for t in tasks:
        groups.setdefault((t.cell.dataset, t.cell.seed), []).append(t.cell)
    out = []
    for cells in groups.values():
        for i in range(0, len(cells), k):
            chunk = cells[i:i + k]
            if len(chunk) == 1:
                out.append(Task("cell", chunk[0].key, chunk[0]))
            else:
                key = stable_hash([c.key for c in chunk])
                out.append(Task("multi", key, chunk[0], cells=chunk))
    return out


def check_theta_batch(cfg: ExperimentConfig) -> None:
    if fused_k(cfg) == 1:
        return
    method, encoder = get_method(cfg.ssl.method), get_encoder(cfg.ssl.encoder)
    if not (method.theta_fusion and encoder.theta_fusion):
        which = [f"{kind} {spec.name!r}" for kind, spec in (("method", method),
                                                            ("encoder", encoder))
                 if not spec.theta_fusion]
        raise ConfigError(
            f"sweep.theta_batch={cfg.sweep.theta_batch} fuses θ-models, and the "
            f"{' and the '.join(which)} cannot be fused (its spec's theta_fusion is false; "
            "the built-ins that can: MoCo v2 with a ResNet); set sweep.theta_batch=1"
        )
    if cfg.runtime.checkpoint_every:
        raise ConfigError("sweep.theta_batch > 1 cannot resume mid-training; set "
                          "runtime.checkpoint_every=0 or sweep.theta_batch=1")


def warn_theta_batch_on_cpu(cfg: ExperimentConfig, console: Console) -> None:
    """Fused θ-models pay on a GPU and cost on a CPU: say so when a run on this machine
    (local or process executor) fuses them on the CPU. Ray workers pick their own device."""
    if fused_k(cfg) == 1 or cfg.runtime.executor == "ray":
        return
    if cfg.runtime.device != "cuda" and pick_device(cfg.runtime.device).type == "cpu":
        console.print(
            f"[yellow]sweep.theta_batch={cfg.sweep.theta_batch} fuses θ-models on the CPU, "
            "where they trained at 0.67-0.80x the speed of one at a time (docs/"
            "PERFORMANCE.md; 2.4-4.5x on a GPU). It trains the same models (to float "
            "rounding); for speed on a CPU "
            "set sweep.theta_batch=1.[/]", soft_wrap=True)


def dispatch(pending: list[Cell], cfg: ExperimentConfig, datasets: dict[str, LoadedDataset],
             store: ResultStore, console: Console, baselines: list[Cell] | None = None,
             baseline_store: ResultStore | None = None, references: list[Cell] | None = None,
             reference_store: ResultStore | None = None) -> list[tuple[str, str]]:
    """Run every pending cell (and pending downstream baseline cell, written to
    ``baseline_store``, and reference cell, written to ``reference_store``); returns the
    failures as (label, error) pairs."""
    baselines, references = baselines or [], references or []
    if not pending and not baselines and not references:
        return []
    if baselines and baseline_store is None:
        raise ValueError("baseline cells need a baseline_store")
    if references and reference_store is None:
        raise ValueError("reference cells need a reference_store")
    check_theta_batch(cfg)
    warn_theta_batch_on_cpu(cfg, console)
    partial_dir = store.root / "partial"
    ctx = WorkContext(cfg, datasets, str(partial_dir))
    executor = create_executor(cfg.runtime)
    failures: list[tuple[str, str]] = []
    units = {}
    if cfg.sweep.protocol == "probe":
        for c in pending:
            if c.pretrain_key and not store.unit_done(c.pretrain_key):
                units.setdefault(c.pretrain_key, Task("pretrain", c.pretrain_key, c))
    live = isinstance(executor, LocalExecutor)
    log.info("executor %s: %d pre-training units, %d cells", executor.name, len(units),
             len(pending))
    with _progress(console) as progress:
        monitor = RichMonitor(progress, len(units) + len(pending) + len(baselines)
                              + len(references), cfg.ssl.steps, live)
        t0 = time.perf_counter()

        def on_error(task: Task, exc: BaseException) -> None:
            monitor.finished(False)
            msg = f"{type(exc).__name__}: {exc}"
            failures.append((task.label, msg))
            log.error("task %s (%s) failed: %s", task.key, task.label, msg,
                      exc_info=exc)  # the traceback (a worker's too) into run.log

        def on_unit(task: Task, res: TaskResult) -> None:
            state, meta = res.state, res.meta
            store.write_unit(task.key, res.losses, meta,
                             lambda p: save_state(p, state, meta))  # type: ignore[arg-type]
            monitor.finished(True)
            log.info("unit %s (%s) done", task.key, task.label)

        def on_cell(task: Task, res: TaskResult) -> None:
            _store_cell(store, cfg, task, res, partial_dir)
            monitor.finished(True)
            m = res.meta
            log.info("cell %s %s done in %.1f s (train %.1f s, saliency %.1f s, loss %s)",
                     task.key, task.label, m["wall_s"], m["train_s"], m["saliency_s"],
                     f"{m['final_loss']:.3f}" if m.get("final_loss") is not None else "-")

        def on_multi(task: Task, res: TaskResult) -> None:
            for part, cell in zip(res.parts, task.cells, strict=True):
                _store_cell(store, cfg, Task("cell", cell.key, cell), part, partial_dir)
            monitor.finished(True)
            log.info("θ batch %s done: %d cells", task.label, len(res.parts))

        def on_baseline(task: Task, res: TaskResult) -> None:
            out = res.output
            assert out is not None and baseline_store is not None
            baseline_store.write_cell(task.key, out.rows, out.losses, out.maps, out.meta)
            shutil.rmtree(partial_dir / task.key, ignore_errors=True)  # checkpoints: all
            monitor.finished(True)
            log.info("baseline %s %s done in %.1f s", task.key, task.label, res.meta["wall_s"])

        def on_reference(task: Task, res: TaskResult) -> None:
            out = res.output
            assert out is not None and reference_store is not None
            reference_store.write_cell(task.key, out.rows, out.losses, out.maps, out.meta)
            monitor.finished(True)
            log.info("references %s %s done in %.1f s", task.key, task.label,
                     res.meta["wall_s"])

        def on_any(task: Task, res: TaskResult) -> None:
            {"multi": on_multi, "baseline": on_baseline,
             "reference": on_reference}.get(task.kind, on_cell)(task, res)

        executor.run(list(units.values()), ctx, on_unit, on_error, monitor)
        cell_tasks = []
        loaded: dict[str, tuple[dict, list[float]]] = {}  # one copy per unit, shared by cells
        for c in pending:
            pretrained = None
            if c.pretrain_key:
                if not store.unit_done(c.pretrain_key):
                    on_error(Task("cell", c.key, c), RuntimeError("its pre-training unit failed"))
                    continue
                if c.pretrain_key not in loaded:
                    state, _ = load_checkpoint(store.unit_dir(c.pretrain_key) / "model.pt")
                    loaded[c.pretrain_key] = (state, store.read_unit_losses(c.pretrain_key))
                pretrained = loaded[c.pretrain_key]
            cell_tasks.append(Task("cell", c.key, c, pretrained))
        if fused_k(cfg) > 1:
            cell_tasks = theta_batches(cell_tasks, fused_k(cfg))
        cell_tasks += [Task("baseline", c.key, c) for c in baselines]
        # a reference task explains the untrained model at every θ of its (dataset, seed):
        # on a dense grid the longest task by far (360 θ: ≈ 6 min against 4.4 s a cell), so
        # it starts first and overlaps the cells instead of running alone after them
        cell_tasks = [Task("reference", c.key, c) for c in references] + cell_tasks
        executor.run(cell_tasks, ctx, on_any, on_error, monitor)
        log.info("tasks finished in %.1f s", time.perf_counter() - t0)
    return failures
