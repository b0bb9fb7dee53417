"""Every switched-on downstream measurement of one checkpoint, and the cell's hook.

    res = evaluate_downstream(model.query_backbone(), "resnet18", ds, theta=90.0,
                              settings=DownstreamSettings.from_config(cfg))
    res.values   # {"probe_accuracy": 0.91, "fewshot_dice": 0.55, "finetune_dice": 0.6, ...}
    res.notes    # {"linear_probe_accuracy": "skipped: every SSP slice has a lesion"}
    down = downstream_for_cell(cfg, model, ds, theta)    # None unless downstream.enabled
    rows = downstream_records(down)                      # long-format, image_id __dataset__
"""

from __future__ import annotations

import torch
import torch.nn as nn

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.downstream.fewshot import fewshot_segmentation
from thetascope.downstream.finetune import finetune_segmentation
from thetascope.downstream.probe import linear_probe, pair_probe
from thetascope.downstream.settings import DATASET_ID, DownstreamResult, DownstreamSettings
from thetascope.ssl.model import SSLModel


def evaluate_downstream(backbone: nn.Module, encoder: str, ds: LoadedDataset, theta: float,
                        settings: DownstreamSettings) -> DownstreamResult:
    """Every switched-on measurement of one checkpoint; failures become notes, not errors."""
    st = settings
    res = DownstreamResult()
    pool = ds.ssp[: st.max_images] if st.max_images else list(ds.ssp)
    if st.probe:
        try:
            res.values["probe_accuracy"] = pair_probe(backbone, pool, theta, st)
        except ValueError as exc:
            res.notes["probe_accuracy"] = f"skipped: {exc}"
    for on, run in ((st.fewshot, fewshot_segmentation), (st.finetune, finetune_segmentation)):
        if on:
            part = run(backbone, encoder, ds, st)
            res.values.update(part.values)
            res.notes.update(part.notes)
    if st.linear_probe:
        acc, note = linear_probe(backbone, pool, st)
        if acc is not None:
            res.values["linear_probe_accuracy"] = acc
        res.notes["linear_probe_accuracy"] = note
    return res


def forked_rng():
    """A context in which the global torch RNG (CPU and current CUDA device) is restored."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    return torch.random.fork_rng(devices=devices)


def downstream_for_cell(cfg: ExperimentConfig, model: SSLModel, ds: LoadedDataset,
                        theta: float) -> DownstreamResult | None:
    """What ``run_cell`` calls: None when ``downstream.enabled`` is false. The global torch
    RNG is forked, so the cell's other numbers are the same with or without this."""
    if not cfg.downstream.enabled:
        return None
    backbone = model.query_backbone()
    with forked_rng():
        return evaluate_downstream(backbone, cfg.ssl.encoder, ds, theta,
                                   DownstreamSettings.from_config(cfg))


def downstream_records(res: DownstreamResult | None) -> list[dict]:
    """Long-format records (image_id ``__dataset__``) of a cell's downstream values."""
    if res is None:
        return []
    return [{"image_id": DATASET_ID, "metric": m, "value": float(v)}
            for m, v in res.values.items()]
