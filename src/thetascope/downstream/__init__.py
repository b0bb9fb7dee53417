"""Downstream quality of a pre-trained checkpoint (issue H), one module per measurement.

Per (dataset, θ, seed) cell, dataset-level rows (image_id ``__dataset__``):

- ``probe_accuracy`` (``probe.py``): the follow-up's pair task on frozen features;
- ``fewshot_dice`` (``fewshot.py``): a light decoder on a frozen backbone stage, k labels;
- ``finetune_dice`` (``finetune.py``): the same decoder trained with a copy of the backbone;
- ``linear_probe_accuracy`` (``probe.py``): lesion present/absent, logistic regression.

Further k of ``fewshot_k`` add ``fewshot_dice_k<k>`` / ``finetune_dice_k<k>``. Baselines
(``baselines.py``: random initialisation, θ-free SSP) get the same measurements per
(dataset, seed); the sweep stores them apart from the θ cells (``sweep/baselines.py``).

    res = evaluate_downstream(model.query_backbone(), "resnet18", ds, theta=90.0,
                              settings=DownstreamSettings.from_config(cfg))
    res.values   # {"probe_accuracy": 0.91, "fewshot_dice": 0.55, ...}
    res.notes    # {"linear_probe_accuracy": "skipped: every SSP slice has a lesion"}

The trainers take plain tensors (``train_pair_probe``, ``train_decoder``,
``finetune_decoder``), so they can be tested on planted data without a pre-trained encoder.
"""

from thetascope.downstream.baselines import BASELINE_LABELS, BASELINES, evaluate_baseline
from thetascope.downstream.evaluate import (
    downstream_for_cell,
    downstream_records,
    evaluate_downstream,
)
from thetascope.downstream.features import (
    global_features,
    group_of,
    grouped_split,
    spatial_features,
    stage_forward,
)
from thetascope.downstream.fewshot import (
    Decoder,
    decoder_dice,
    fewshot_segmentation,
    fewshot_splits,
    hard_dice,
    soft_dice_loss,
    train_decoder,
)
from thetascope.downstream.finetune import (
    Segmenter,
    finetune_decoder,
    finetune_segmentation,
    finetuned_dice,
)
from thetascope.downstream.probe import (
    linear_probe,
    mlp,
    pair_features,
    pair_probe,
    train_pair_probe,
)
from thetascope.downstream.settings import (
    DATASET_ID,
    DownstreamResult,
    DownstreamSettings,
    downstream_metric_names,
    fewshot_metric,
    finetune_metric,
)

__all__ = [
    "BASELINES", "BASELINE_LABELS", "DATASET_ID", "Decoder", "DownstreamResult",
    "DownstreamSettings", "Segmenter", "decoder_dice", "downstream_for_cell",
    "downstream_metric_names", "downstream_records", "evaluate_baseline",
    "evaluate_downstream", "fewshot_metric", "fewshot_segmentation", "fewshot_splits",
    "finetune_decoder", "finetune_metric", "finetune_segmentation", "finetuned_dice",
    "global_features", "group_of", "grouped_split", "hard_dice", "linear_probe", "mlp",
    "pair_features", "pair_probe", "soft_dice_loss", "spatial_features", "stage_forward",
    "train_decoder", "train_pair_probe",
]
