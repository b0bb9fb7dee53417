"""What a worker does with one task, wherever it runs (this process, a pool, Ray).

A task is either a pre-training unit (probe protocol: one model per dataset and seed) or a
cell. Workers return results; only the driver writes the results store, so workers need no
shared file system. Resumable training states go to ``partial_dir`` when one is given
(local and process executors share the driver's disk).

    ctx = WorkContext(cfg, datasets, partial_dir="runs/x/partial")
    result = execute(Task("cell", cell.key, cell), ctx)
    result.output.rows, result.state  # state: final weights when runtime.checkpoints != none
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.ssl.checkpoints import CheckpointError
from thetascope.ssl.stacked import pretrain_stacked
from thetascope.ssl.train import TrainSettings
from thetascope.sweep.cell import (
    CellOutput,
    build_model,
    provenance,
    run_cell,
    ssp_groups,
    train_model,
)
from thetascope.sweep.plan import Cell
from thetascope.sweep.store import atomic_write_file


@dataclass
class WorkContext:
    cfg: ExperimentConfig
    datasets: dict[str, LoadedDataset]
    partial_dir: str | None = None


@dataclass
class Task:
    kind: Literal["pretrain", "cell", "multi", "baseline", "reference"]
    key: str
    cell: Cell  # for a pre-training unit: any cell of it (dataset and seed are what count)
    pretrained: tuple[dict, list[float]] | None = None
    cells: list[Cell] = field(default_factory=list)  # "multi": cells trained fused

    @property
    def label(self) -> str:
        c = self.cell
        if self.kind == "pretrain":
            return f"pre-train unit {c.dataset} seed={c.seed}"
        if self.kind == "baseline":
            return f"{c.dataset} baseline {c.baseline} seed={c.seed}"
        if self.kind == "reference":
            return f"{c.dataset} references seed={c.seed}"
        if self.kind == "multi":
            ts = ",".join(f"{x.theta:g}" for x in self.cells)
            return f"{c.dataset} θ={{{ts}}} seed={c.seed}"
        return f"{c.dataset} θ={c.theta:g} seed={c.seed}"


@dataclass
class TaskResult:
    key: str
    kind: str
    output: CellOutput | None = None  # cells
    losses: list[float] = field(default_factory=list)
    state: dict | None = None  # final weights (cpu tensors), when kept
    meta: dict = field(default_factory=dict)
    parts: list[TaskResult] = field(default_factory=list)  # "multi": one result per cell


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda was asked for (runtime.device, bench --device) but no "
                           "CUDA device is visible; use auto or cpu")
    return torch.device(name)


def _partial_path(ctx: WorkContext, key: str) -> Path | None:
    return Path(ctx.partial_dir) / f"{key}.pt" if ctx.partial_dir else None


def _load_partial(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a corrupt partial state is only a lost head start
        path.unlink(missing_ok=True)
        return None


def _saver(path: Path | None, keep_all: bool) -> Callable[[dict], None] | None:
    if path is None:
        return None

    def save(state: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_file(path, lambda tmp: torch.save(state, tmp), fsync=False)
        if keep_all:
            step_dir = path.with_suffix("")
            step_dir.mkdir(exist_ok=True)
            atomic_write_file(step_dir / f"step-{state['step']:06d}.pt",
                              lambda tmp: torch.save({"model": state["model"],
                                                      "step": state["step"]}, tmp),
                              fsync=False)

    return save


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _execute_multi(task: Task, ctx: WorkContext, device: torch.device,
                   on_step: Callable[[int, float], None] | None,
                   on_saliency: Callable[[int, int], None] | None) -> TaskResult:
    """Train the cells' K models fused (ssl/stacked.py), then explain each one."""
    import time

    cfg, ds, seed = ctx.cfg, ctx.datasets[task.cell.dataset], task.cell.seed
    images = torch.from_numpy(ds.ssp_array())
    models = [build_model(cfg, images.shape[0], seed).to(device) for _ in task.cells]
    g = cfg.geometry
    t0 = time.perf_counter()
    curves = pretrain_stacked(models, images, [c.theta for c in task.cells],
                              TrainSettings.from_config(cfg), seed,
                              {"interpolation": g.interpolation, "fill": g.fill,
                               "circle": g.circle_mask, "crop": g.rotate_then_crop}, on_step,
                              ssp_groups(ds))
    train_s = (time.perf_counter() - t0) / len(task.cells)
    parts = []
    for cell, model, losses in zip(task.cells, models, curves, strict=True):
        out = run_cell(cell, ds, cfg, device, None, on_saliency, (model.state_dict(), losses))
        out.meta.update(train_s=round(train_s, 3), theta_batch=len(task.cells),
                        pretrained_unit=None)
        state = _cpu_state(model) if cfg.runtime.checkpoints != "none" else None
        out.model = None
        parts.append(TaskResult(cell.key, "cell", out, losses, state, out.meta))
    return TaskResult(task.key, "multi", parts=parts)


def execute(
    task: Task,
    ctx: WorkContext,
    on_step: Callable[[int, float], None] | None = None,
    on_saliency: Callable[[int, int], None] | None = None,
) -> TaskResult:
    cfg = ctx.cfg
    device = pick_device(cfg.runtime.device)
    ds = ctx.datasets[task.cell.dataset]
    if task.kind == "multi":
        return _execute_multi(task, ctx, device, on_step, on_saliency)
    partial = _partial_path(ctx, task.key) if cfg.runtime.checkpoint_every else None
    resume = _load_partial(partial)
    save = _saver(partial, cfg.runtime.checkpoints == "all")
    if task.kind == "pretrain":
        model, losses = train_model(cfg, ds, task.cell.seed, 0.0, device, on_step, save, resume)
        meta = {"unit": task.key, "dataset": task.cell.dataset, "seed": task.cell.seed,
                "resumed_from_step": resume["step"] if resume else None, **provenance(device)}
        result = TaskResult(task.key, "pretrain", losses=losses, state=_cpu_state(model),
                            meta=meta)
    elif task.kind == "reference":  # untrained / resample / chance (sweep/references.py)
        from thetascope.sweep.references import run_reference

        out = run_reference(task.cell, ds, cfg, device, on_saliency)
        result = TaskResult(task.key, "reference", out, [], None, out.meta)
    elif task.kind == "baseline":  # downstream baseline (sweep/baselines.py)
        from thetascope.sweep.baselines import run_baseline

        out = run_baseline(task.cell, ds, cfg, device, on_step, save, resume)
        result = TaskResult(task.key, "baseline", out, out.losses, None, out.meta)
    else:
        if task.cell.protocol == "probe" and task.pretrained is None:
            raise CheckpointError(f"cell {task.key}: probe protocol but no pre-trained model")
        out = run_cell(task.cell, ds, cfg, device, on_step, on_saliency, task.pretrained,
                       save, resume)
        state = _cpu_state(out.model) if cfg.runtime.checkpoints != "none" and out.model \
            else None
        out.model = None  # not shipped back: the state (when kept) is enough
        result = TaskResult(task.key, "cell", out, out.losses, state, out.meta)
    if partial is not None:
        partial.unlink(missing_ok=True)
    return result
