"""Downstream measurements of the baselines: what θ-pre-training is measured against.

Per (dataset, seed), not per θ (``downstream.baselines``):

- ``random-init``: the seeded initial model of the sweep (same architecture and seed as
  every θ cell, ``ssl.weights`` loaded when set), no pre-training at all;
- ``theta-free``: the same pre-training recipe (method, encoder, steps, batch, lr, seed)
  but the positive pair is two independently augmented views
  (``downstream.baseline_augment``), no θ rotation, i.e. standard SSP.

The θ-independent metrics (few-shot / fine-tuned Dice, linear probe) are one value per
baseline, with θ = NaN. The pair probe's task depends on θ (the positive pair is an image
and its θ rotation), so a baseline's ``probe_accuracy`` is measured at every sweep θ.

    recs, notes = evaluate_baseline(backbone, "resnet18", ds, [0, 90, 180], st)
    recs[0]   # {"image_id": "__dataset__", "theta": nan, "metric": "fewshot_dice", ...}
"""

from __future__ import annotations

from dataclasses import replace

import torch.nn as nn

from thetascope.data.sample import LoadedDataset
from thetascope.downstream.evaluate import evaluate_downstream, forked_rng
from thetascope.downstream.probe import pair_probe
from thetascope.downstream.settings import DATASET_ID, DownstreamSettings

BASELINES = ("random-init", "theta-free")
BASELINE_LABELS = {"random-init": "random init (no pre-training)",
                   "theta-free": "θ-free SSP (augmented views)"}


def evaluate_baseline(backbone: nn.Module, encoder: str, ds: LoadedDataset,
                      thetas: list[float], st: DownstreamSettings
                      ) -> tuple[list[dict], dict[str, str]]:
    """(records, notes): θ-independent metrics once (θ NaN), ``probe_accuracy`` per θ."""
    with forked_rng():
        res = evaluate_downstream(backbone, encoder, ds, 0.0, replace(st, probe=False))
        recs = [{"image_id": DATASET_ID, "theta": float("nan"), "metric": m,
                 "value": float(v)} for m, v in res.values.items()]
        notes = dict(res.notes)
        if st.probe:
            pool = ds.ssp[: st.max_images] if st.max_images else list(ds.ssp)
            for t in thetas:
                try:
                    acc = pair_probe(backbone, pool, float(t), st)
                except ValueError as exc:
                    notes["probe_accuracy"] = f"skipped: {exc}"
                    break
                recs.append({"image_id": DATASET_ID, "theta": float(t),
                             "metric": "probe_accuracy", "value": float(acc)})
    return recs, notes
