"""Run one cell: pre-train at θ, SmoothGrad at θ, score every evaluation image.

This is where configuration becomes plain arguments: below this layer functions take
tensors and small settings dataclasses, never the config.

    out = run_cell(cell, dataset, cfg, device=torch.device("cpu"))
    out.rows      # long-format DataFrame, one row per (image, metric)
    out.losses    # SSP loss per step
    out.maps      # gallery maps for the first saliency.gallery_images images
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.geometry import rotate, valid_region
from thetascope.metrics.overlap import binarize, score_image
from thetascope.saliency.smoothgrad import SmoothGradSettings, guided_relus, smoothgrad_pair
from thetascope.saliency.targets import create_target
from thetascope.ssl.checkpoints import load_backbone_weights
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import make_pair
from thetascope.ssl.simclr import SimCLR
from thetascope.ssl.train import TrainSettings, pretrain, resolve_queue_size
from thetascope.sweep.plan import Cell

log = logging.getLogger("thetascope")


@dataclass
class CellOutput:
    rows: pd.DataFrame
    losses: list[float]
    maps: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    model: MoCo | SimCLR | None = None  # the pre-trained model (for runtime.save_checkpoints)


def build_model(cfg: ExperimentConfig, n_images: int, seed: int) -> MoCo | SimCLR:
    """The seeded initial model: every θ of a seed starts from the same weights."""
    s, d = cfg.ssl, cfg.data
    torch.manual_seed(seed)
    model: MoCo | SimCLR
    if s.method == "simclr":
        model = SimCLR(s.encoder, dim=s.dim, T=s.temperature, mlp=s.mlp,
                       in_channels=d.channels, image_size=d.image_size)
    else:
        k = resolve_queue_size(s.queue_size, s.batch_size, n_images)
        model = MoCo(s.encoder, dim=s.dim, K=k, m=s.momentum, T=s.temperature, mlp=s.mlp,
                     split_bn=s.split_bn, freeze_queue=s.freeze_queue,
                     in_channels=d.channels, image_size=d.image_size)
    if s.weights is not None:
        report = load_backbone_weights(s.weights, model.encoder_q.backbone, s.encoder)
        if isinstance(model, MoCo):  # the key encoder starts as a copy of the query encoder
            model.encoder_k.load_state_dict(model.encoder_q.state_dict())
        log.info("%s", report)
    return model


def smoothgrad_settings(cfg: ExperimentConfig) -> SmoothGradSettings:
    s = cfg.saliency
    return SmoothGradSettings(
        samples=s.samples, noise_level=s.noise_level, chunk_size=s.chunk_size,
        noise_pairing=s.noise_pairing, map=s.map, channel_reduce=s.channel_reduce,
        blur_sigma=s.blur_sigma, blur_kernel=s.blur_kernel, precision=s.precision,
    )


def scored_map(map_x: torch.Tensor, map_r: torch.Tensor, theta: float, view: str,
               rotate_back: bool, interpolation: str) -> torch.Tensor:
    """The map that is scored, in the original image's frame."""
    back = rotate(map_r[:, None], -theta, interpolation)[:, 0] if rotate_back else map_r  # type: ignore[arg-type]
    if view == "original":
        return map_x
    if view == "rotated":
        return back
    return 0.5 * (map_x + back)


def run_cell(
    cell: Cell,
    ds: LoadedDataset,
    cfg: ExperimentConfig,
    device: torch.device,
    on_step: Callable[[int, float], None] | None = None,
    on_saliency: Callable[[int, int], None] | None = None,
) -> CellOutput:
    g, theta = cfg.geometry, cell.theta
    t0 = time.perf_counter()
    images = torch.from_numpy(ds.ssp_array())
    model = build_model(cfg, images.shape[0], cell.seed).to(device)
    view_a, view_b = make_pair(images, theta, g.interpolation, g.fill, g.circle_mask)
    settings = TrainSettings(
        steps=cfg.ssl.steps, batch_size=cfg.ssl.batch_size, lr=cfg.ssl.lr,
        momentum=cfg.ssl.sgd_momentum, weight_decay=cfg.ssl.weight_decay,
        schedule=cfg.ssl.schedule, precision=cfg.ssl.precision,
        queue_init=cfg.ssl.queue_init,
    )
    losses = pretrain(model, view_a, view_b, settings, cell.seed, on_step)
    t1 = time.perf_counter()

    ev, masks, ids = ds.eval_arrays()
    x, r = make_pair(torch.from_numpy(ev), theta, g.interpolation, g.fill, g.circle_mask)
    target = create_target(cfg.saliency.target, model.embed)
    guided = guided_relus(model) if cfg.saliency.backprop == "guided" else contextlib.nullcontext()
    with guided:
        map_x, map_r = smoothgrad_pair(target, x.to(device), r.to(device),
                                       smoothgrad_settings(cfg), seed=cell.seed,
                                       on_chunk=on_saliency)
    sal = scored_map(map_x.cpu(), map_r.cpu(), theta, cfg.saliency.view,
                     cfg.saliency.rotate_back, g.interpolation).numpy()
    t2 = time.perf_counter()

    h, w = sal.shape[-2:]
    valid = valid_region(h, w, theta, g.circle_mask).numpy()
    rule, names = cfg.metrics.binarize, list(cfg.metrics.names)
    records = []
    for i, image_id in enumerate(ids):
        for metric, value in score_image(sal[i], masks[i], valid, rule, names).items():
            records.append({"image_id": image_id, "metric": metric, "value": value})
    rows = pd.DataFrame.from_records(records)
    rows.insert(0, "dataset", cell.dataset)
    rows.insert(1, "theta", cell.theta)
    rows.insert(2, "seed", cell.seed)
    for col, val in (("protocol", cell.protocol), ("method", cell.method),
                     ("encoder", cell.encoder), ("target", cfg.saliency.target),
                     ("view", cfg.saliency.view), ("binarize", rule), ("cell", cell.key)):
        rows[col] = val

    k = cfg.saliency.gallery_images
    maps = {
        "ids": np.array(ids[:k]),
        "saliency": sal[:k].astype(np.float16),
        "binary": np.stack([binarize(sal[i], valid, rule, masks[i])
                            for i in range(min(k, len(ids)))])
        if k else np.zeros((0, h, w), bool),
    }
    meta = {
        "key": cell.key, "dataset": cell.dataset, "theta": cell.theta, "seed": cell.seed,
        "queue_size": getattr(model, "K", None), "n_ssp": int(images.shape[0]), "n_eval": len(ids),
        "train_s": round(t1 - t0, 3), "saliency_s": round(t2 - t1, 3),
        "score_s": round(time.perf_counter() - t2, 3), "final_loss": losses[-1],
        "device": str(device), "torch": str(torch.__version__),
    }
    return CellOutput(rows, losses, maps, meta, model)
