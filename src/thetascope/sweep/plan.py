"""The sweep grid: one cell per (dataset, θ, seed), identified by a content hash.

A cell's key hashes everything that determines its numbers: the dataset spec and a hash
of its preprocessed arrays, the data/geometry/SSP/saliency/metric settings, θ, the seed
and the code's protocol version. Same key, same result, so a finished cell is reused.
In the ``probe`` protocol the cells of one (dataset, seed) share a pre-training unit whose
key leaves out θ, the saliency and the metric settings.

    cells = plan_cells(cfg, {"mri-lesion": ds})
    cells[0].key, cells[0].dataset, cells[0].theta, cells[0].seed
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from thetascope.config import PROTOCOL_VERSION, ExperimentConfig, stable_hash
from thetascope.data.sample import LoadedDataset
from thetascope.sweep.theta_batch import fused_k


@dataclass(frozen=True)
class Cell:
    key: str
    dataset: str
    theta: float
    seed: int
    protocol: str
    method: str
    encoder: str
    pretrain_key: str | None = None  # probe protocol: the shared pre-training unit
    baseline: str | None = None  # a downstream baseline cell (sweep/baselines.py), θ NaN


def cell_identity(cfg: ExperimentConfig, spec_dump: dict, data_fp: str, theta: float,
                  seed: int) -> dict:
    data = cfg.data.model_dump(mode="json")
    data.pop("datasets")
    for where_cached in ("cache", "cache_dir"):  # where the data is cached, not what it is
        data.pop(where_cached, None)
    metrics = cfg.metrics.model_dump(mode="json")
    metrics.pop("bootstrap")  # affects aggregation only, not a cell's rows
    saliency = cfg.saliency.model_dump(mode="json")
    saliency.pop("memory_budget_mb")  # changes the chunking only, never a map
    ident = {
        "v": PROTOCOL_VERSION, "dataset": spec_dump, "data_fp": data_fp, "data": data,
        "geometry": cfg.geometry.model_dump(mode="json"),
        "ssl": cfg.ssl.model_dump(mode="json"),
        "saliency": saliency, "metrics": metrics,
        "protocol": cfg.sweep.protocol, "theta": float(theta), "seed": int(seed),
    }
    if fused_k(cfg) > 1:
        # fused training equals one-by-one training exactly in float64 but not bit for bit
        # in float32, so its results are kept apart
        ident["theta_batch"] = fused_k(cfg)
    if cfg.downstream.enabled:  # only when on, so cells computed without it keep their keys
        ident["downstream"] = cfg.downstream.model_dump(mode="json")
        for own in ("baselines", "baseline_augment"):  # baseline cells only (their own keys)
            ident["downstream"].pop(own)
    return ident


def pretrain_identity(cfg: ExperimentConfig, spec_dump: dict, data_fp: str, seed: int) -> dict:
    """What determines a probe-protocol checkpoint: everything but θ and the saliency."""
    ident = cell_identity(cfg, spec_dump, data_fp, 0.0, seed)
    for k in ("theta", "saliency", "metrics", "downstream"):
        ident.pop(k, None)
    ident["unit"] = "pretrain"
    return ident


def dataset_seeds(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]
                  ) -> Iterator[tuple[str, dict, str, int]]:
    """(dataset name, its spec as JSON, its data fingerprint, seed) for every (dataset,
    seed) of the sweep: what the per-seed cells (baselines, references) are keyed by."""
    specs = {s.display_name: s for s in cfg.data.datasets}
    for name, ds in datasets.items():
        spec_dump, fp = specs[name].model_dump(mode="json"), ds.fingerprint()
        for seed in cfg.sweep.seeds:
            yield name, spec_dump, fp, int(seed)


def plan_cells(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]) -> list[Cell]:
    """All cells of the grid, in dataset × θ × seed order."""
    specs = {s.display_name: s for s in cfg.data.datasets}
    cells = []
    for name, ds in datasets.items():
        spec_dump = specs[name].model_dump(mode="json")
        fp = ds.fingerprint()
        for theta in cfg.sweep.thetas:
            for seed in cfg.sweep.seeds:
                key = stable_hash(cell_identity(cfg, spec_dump, fp, theta, seed))
                unit = None
                if cfg.sweep.protocol == "probe":
                    unit = stable_hash(pretrain_identity(cfg, spec_dump, fp, seed))
                cells.append(Cell(key, name, float(theta), int(seed), cfg.sweep.protocol,
                                  cfg.ssl.method, cfg.ssl.encoder, unit))
    return cells
