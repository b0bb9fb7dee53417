"""Run one cell: pre-train (fixed-θ) or take the probe model, SmoothGrad at θ, score.

This is where configuration becomes plain arguments: below this layer functions take
tensors and small settings dataclasses, never the config.

    out = run_cell(cell, dataset, cfg, device=torch.device("cpu"))
    out.rows      # long-format DataFrame, one row per (image, metric)
    out.losses    # SSP loss per step
    out.maps      # gallery maps for the first saliency.gallery_images images
    out.meta      # provenance: versions, device, fingerprints, times

    model, losses = train_model(cfg, dataset, seed=0, theta=0.0)   # the probe protocol's
    out = run_cell(cell, dataset, cfg, pretrained=(model.state_dict(), losses))
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import torch

import thetascope
from thetascope.config import PROTOCOL_VERSION, ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.downstream import downstream_for_cell, downstream_records, group_of
from thetascope.geometry import valid_region
from thetascope.metrics.overlap import binarize
from thetascope.ssl.moco import MoCo
from thetascope.ssl.model import SSLModel
from thetascope.ssl.negatives import group_codes, self_negative_summary
from thetascope.ssl.pairs import PairFn, inscribed_crop, pair_builder
from thetascope.ssl.registry import get_method
from thetascope.ssl.train import TrainSettings, pretrain
from thetascope.sweep.explain import (  # noqa: F401 (re-exported: the cell's public helpers)
    explain_at,
    score_records,
    scored_map,
)
from thetascope.sweep.plan import Cell

log = logging.getLogger("thetascope")


@dataclass
class CellOutput:
    rows: pd.DataFrame
    losses: list[float]
    maps: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    model: SSLModel | None = None  # the pre-trained model (for runtime.save_checkpoints)


def build_model(cfg: ExperimentConfig, n_images: int, seed: int) -> SSLModel:
    """The seeded initial model of ``ssl.method`` (a registered method, ``ssl/registry.py``):
    every θ of a seed starts from the same weights."""
    s, d = cfg.ssl, cfg.data
    torch.manual_seed(seed)
    method = get_method(s.method)
    model = method.build(s, in_channels=d.channels, image_size=d.image_size, n_images=n_images)
    if not isinstance(model, SSLModel):
        raise TypeError(f"SSL method {s.method!r} built a {type(model).__name__}, not an "
                        "SSLModel (thetascope.ssl.model)")
    if s.weights is not None:
        log.info("%s", model.load_backbone_weights(s.weights))
    return model


def result_rows(records: list[dict], cell: Cell, cfg: ExperimentConfig, model: str,
                groups: dict[str, str]) -> pd.DataFrame:
    """Long-format rows of ``results.parquet``: the records (image_id, metric, value and,
    for the references, their own theta) plus the cell's identity, the ``model`` they
    measure (trained / untrained / resample / chance) and each image's source ``group``
    (its volume, case or patient; the image itself when unknown)."""
    rows = pd.DataFrame.from_records(records)
    if rows.empty:
        rows = pd.DataFrame(columns=["image_id", "metric", "value"])
    if "theta" not in rows:
        rows.insert(0, "theta", cell.theta)
    rows.insert(0, "dataset", cell.dataset)
    rows.insert(2, "seed", cell.seed)
    rows["theta"] = rows["theta"].astype(float)
    for col, val in (("protocol", cell.protocol), ("method", cell.method),
                     ("encoder", cell.encoder), ("target", cfg.saliency.target),
                     ("view", cfg.saliency.view), ("binarize", cfg.metrics.binarize),
                     ("cell", cell.key), ("model", model)):
        rows[col] = val
    rows["group"] = [groups.get(str(i), str(i)) for i in rows["image_id"]]
    return rows


def train_model(
    cfg: ExperimentConfig,
    ds: LoadedDataset,
    seed: int,
    theta: float,
    device: torch.device | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    pair: PairFn | None = None,
) -> tuple[SSLModel, list[float]]:
    """Pre-train a fresh seeded model on the dataset's SSP pool with the protocol's pairs
    (or with ``pair``, e.g. the θ-free baseline's augmented views)."""
    g = cfg.geometry
    images = torch.from_numpy(ds.ssp_array())
    model = build_model(cfg, images.shape[0], seed).to(device or torch.device("cpu"))
    if pair is None:
        pair = pair_builder(cfg.sweep.protocol, theta, cfg.ssl.augment, cfg.data.image_size,
                            g.interpolation, g.fill, g.circle_mask, g.rotate_then_crop)
    losses = pretrain(model, images, pair, TrainSettings.from_config(cfg), seed, on_step,
                      cfg.runtime.checkpoint_every, on_checkpoint, resume, ssp_groups(ds))
    if neg := self_negatives(model):
        log.info("%s seed %d θ=%g: %.1f %% of MoCo queries met a key of their own image in "
                 "the queue (%s)", ds.name, seed, theta, 100 * neg["self_negative_share"],
                 "masked" if neg["self_negatives_masked"] else "NOT masked")
    return model, losses


def ssp_groups(ds: LoadedDataset) -> torch.Tensor:
    """Source-group code of every SSP image (its volume or case; else the image itself)."""
    return group_codes([group_of(s) for s in ds.ssp])


def self_negatives(model: SSLModel) -> dict:
    """The cell.json entries on self-negatives (``ssl/negatives.py``); {} but for MoCo."""
    if not isinstance(model, MoCo):
        return {}
    return self_negative_summary(model.self_negatives.cpu(), model.mask_self_negatives)


def provenance(device: torch.device) -> dict:
    import torchvision

    return {
        "thetascope": thetascope.__version__, "protocol_version": PROTOCOL_VERSION,
        "torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
        "python": platform.python_version(), "host": platform.node(), "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }


def run_cell(
    cell: Cell,
    ds: LoadedDataset,
    cfg: ExperimentConfig,
    device: torch.device | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_saliency: Callable[[int, int], None] | None = None,
    pretrained: tuple[dict, list[float]] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> CellOutput:
    """One grid point. ``pretrained`` (state_dict, losses) skips training (probe protocol);
    ``resume`` continues an interrupted training from its last checkpoint."""
    device = device or torch.device("cpu")
    g, theta = cfg.geometry, cell.theta
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    if pretrained is not None:
        model = build_model(cfg, len(ds.ssp), cell.seed).to(device)
        model.load_state_dict(pretrained[0])
        model.eval()
        losses = list(pretrained[1])
    else:
        model, losses = train_model(cfg, ds, cell.seed, theta, device, on_step, on_checkpoint,
                                    resume)
    t1 = time.perf_counter()

    ev, masks, ids = ds.eval_arrays()
    sal = explain_at(model, ev, theta, cfg, device, cell.seed, on_saliency)
    t2 = time.perf_counter()
    down = downstream_for_cell(cfg, model, ds, theta)  # issue H; None unless enabled
    t3 = time.perf_counter()

    h, w = sal.shape[-2:]
    valid = valid_region(h, w, theta, g.circle_mask).numpy()
    view_masks = inscribed_crop(masks) if g.rotate_then_crop else masks
    rule = cfg.metrics.binarize
    records = score_records(sal, masks, ids, theta, cfg) + downstream_records(down)
    rows = result_rows(records, cell, cfg, "trained", ds.groups())

    k = min(cfg.saliency.gallery_images, len(ids))
    maps = {
        "ids": np.array(ids[:k]),
        "saliency": sal[:k].astype(np.float16),
        "binary": np.stack([binarize(sal[i], valid, rule, view_masks[i]) for i in range(k)])
        if k else np.zeros((0, h, w), bool),
    }
    meta = {
        "key": cell.key, "dataset": cell.dataset, "theta": cell.theta, "seed": cell.seed,
        "protocol": cell.protocol, "data_fingerprint": ds.fingerprint(),
        "queue_size": getattr(model, "K", None), "n_ssp": len(ds.ssp), "n_eval": len(ids),
        "resumed_from_step": resume["step"] if resume else None,
        "pretrained_unit": cell.pretrain_key, "train_s": round(t1 - t0, 3),
        "saliency_s": round(t2 - t1, 3), "score_s": round(time.perf_counter() - t3, 3),
        "downstream_s": round(t3 - t2, 3) if down else None,
        "downstream_notes": down.notes if down else None,
        "wall_s": round(time.perf_counter() - t0, 3), "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "final_loss": losses[-1] if losses else None, **self_negatives(model),
        "ssl_precision": cfg.ssl.precision, "saliency_precision": cfg.saliency.precision,
        **provenance(device),
    }
    return CellOutput(rows, losses, maps, meta, model)
