"""Baseline cells of the downstream evaluation: one per (dataset, seed, baseline).

With ``downstream.enabled`` and a non-empty ``downstream.baselines``, every (dataset, seed)
also gets a ``random-init`` and/or a ``theta-free`` cell (see ``downstream/baselines.py``).
They are stored like θ cells (atomic, one folder per finished cell, reused on resume) but
in their own folder, ``baselines/<key>/``, and collected into their own file,
``baselines.parquet``; ``results.parquet``, the aggregate, the score cubes and every
θ-curve never see them. Their rows: dataset, theta (NaN, or the pair probe's θ), seed,
baseline, image_id (``__dataset__``), metric, value, protocol, method, encoder, cell.

    cells = plan_baselines(cfg, datasets)        # [Cell(..., theta=nan, baseline="theta-free")]
    out = run_baseline(cells[0], ds, cfg)        # CellOutput: rows, losses (θ-free SSP)
    store = baseline_store(Path("runs/x")); store.is_done(cells[0].key)
    df = collect_baselines(store, cells)         # what the runner writes to baselines.parquet
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from thetascope.config import ExperimentConfig, stable_hash
from thetascope.data.sample import LoadedDataset
from thetascope.downstream import DownstreamSettings, evaluate_baseline
from thetascope.ssl.pairs import pair_builder
from thetascope.sweep.cell import CellOutput, build_model, provenance, train_model
from thetascope.sweep.plan import Cell, dataset_seeds, pretrain_identity
from thetascope.sweep.store import ResultStore

BASELINE_DIR = "baselines"
BASELINE_FILE = "baselines.parquet"


def baseline_identity(cfg: ExperimentConfig, spec_dump: dict, data_fp: str, seed: int,
                      baseline: str) -> dict:
    """What determines a baseline's rows: data, SSP recipe, seed, downstream settings and,
    for the pair probe, the θ grid; never the saliency, the metrics or the protocol."""
    ident = pretrain_identity(cfg, spec_dump, data_fp, seed)
    for k in ("protocol", "theta_batch"):
        ident.pop(k, None)
    down = cfg.downstream.model_dump(mode="json")
    down.pop("baselines")
    if baseline != "theta-free":
        down.pop("baseline_augment")
    ident.update(unit="baseline", baseline=baseline, downstream=down)
    if cfg.downstream.probe:
        ident["thetas"] = sorted(float(t) for t in cfg.sweep.thetas)
    return ident


def plan_baselines(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]) -> list[Cell]:
    """Baseline cells in dataset × seed × baseline order; none unless downstream is on."""
    d = cfg.downstream
    if not (d.enabled and d.baselines):
        return []
    return [Cell(stable_hash(baseline_identity(cfg, spec, fp, seed, b)), name, float("nan"),
                 seed, f"baseline:{b}", cfg.ssl.method, cfg.ssl.encoder, None, b)
            for name, spec, fp, seed in dataset_seeds(cfg, datasets) for b in d.baselines]


def baseline_store(root: Path) -> ResultStore:
    """The results store of the baseline cells: ``<root>/baselines/<key>/``."""
    return ResultStore(Path(root), cells=BASELINE_DIR)


def collect_baselines(store: ResultStore, cells: list[Cell]) -> pd.DataFrame:
    """Long-format rows of the finished baseline cells (empty frame when none)."""
    return store.collect([c.key for c in cells])


def run_baseline(
    cell: Cell,
    ds: LoadedDataset,
    cfg: ExperimentConfig,
    device: torch.device | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> CellOutput:
    """Build (and for ``theta-free`` pre-train) the baseline model, measure it."""
    device = device or torch.device("cpu")
    g, started, t0 = cfg.geometry, datetime.now(timezone.utc), time.perf_counter()
    losses: list[float] = []
    if cell.baseline == "theta-free":
        pair = pair_builder("probe", 0.0, cfg.downstream.baseline_augment, cfg.data.image_size,
                            g.interpolation, g.fill, g.circle_mask)
        model, losses = train_model(cfg, ds, cell.seed, 0.0, device, on_step, on_checkpoint,
                                    resume, pair=pair)
    elif cell.baseline == "random-init":
        model = build_model(cfg, len(ds.ssp), cell.seed).to(device)
    else:
        raise ValueError(f"unknown baseline {cell.baseline!r}; use 'random-init' or "
                         "'theta-free'")
    t1 = time.perf_counter()
    recs, notes = evaluate_baseline(model.query_backbone(), cfg.ssl.encoder, ds,
                                    list(cfg.sweep.thetas), DownstreamSettings.from_config(cfg))
    rows = pd.DataFrame.from_records(recs, columns=["image_id", "theta", "metric", "value"])
    rows.insert(0, "dataset", cell.dataset)
    rows.insert(2, "seed", cell.seed)
    rows.insert(3, "baseline", cell.baseline)
    for col, val in (("protocol", cell.protocol), ("method", cell.method),
                     ("encoder", cell.encoder), ("cell", cell.key)):
        rows[col] = val
    meta = {
        "key": cell.key, "dataset": cell.dataset, "seed": cell.seed, "baseline": cell.baseline,
        "data_fingerprint": ds.fingerprint(), "n_ssp": len(ds.ssp), "n_eval": len(ds.eval),
        "resumed_from_step": resume["step"] if resume else None,
        "train_s": round(t1 - t0, 3), "downstream_s": round(time.perf_counter() - t1, 3),
        "downstream_notes": notes, "wall_s": round(time.perf_counter() - t0, 3),
        "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "final_loss": losses[-1] if losses else None, **provenance(device),
    }
    return CellOutput(rows, losses, {}, meta, None)
