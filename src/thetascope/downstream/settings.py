"""Plain settings of the downstream evaluation and the names of its metrics.

    st = DownstreamSettings.from_config(cfg)          # what every trainer below takes
    downstream_metric_names(cfg)   # ["probe_accuracy", "fewshot_dice", "finetune_dice", ...]
    fewshot_metric(8, [4, 8])      # "fewshot_dice_k8"
    finetune_metric(4, [4, 8])     # "finetune_dice"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thetascope.config import ExperimentConfig

DATASET_ID = "__dataset__"  # image_id of the dataset-level downstream rows


@dataclass(frozen=True)
class DownstreamSettings:
    probe: bool = True
    fewshot: bool = True
    linear_probe: bool = True
    max_images: int | None = None
    test_fraction: float = 0.2
    pair_feature: str = "concat"
    negative: str = "plain"
    hidden: tuple[int, ...] = (512, 256, 128, 64, 32)
    lr: float = 0.015
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 20
    fewshot_k: tuple[int, ...] = (4,)
    fewshot_layer: int = 2
    fewshot_hidden: int = 32
    fewshot_steps: int = 200
    fewshot_lr: float = 0.01
    linear_c: float = 1.0
    seed: int = 0
    interpolation: str = "bilinear"
    fill: float = 0.0
    circle: bool = True
    finetune: bool = True
    finetune_lr: float = 1e-4
    finetune_steps: int = 100

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> DownstreamSettings:
        d, g = cfg.downstream, cfg.geometry
        return cls(d.probe, d.fewshot, d.linear_probe, d.max_images, d.test_fraction,
                   d.probe_pair_feature, d.probe_negative, tuple(d.probe_hidden), d.probe_lr,
                   d.probe_momentum, d.probe_batch_size, d.probe_epochs, tuple(d.fewshot_k),
                   d.fewshot_layer, d.fewshot_hidden, d.fewshot_steps, d.fewshot_lr,
                   d.linear_c, d.seed, g.interpolation, g.fill, g.circle_mask,
                   d.finetune, d.finetune_lr, d.finetune_steps)


@dataclass
class DownstreamResult:
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def fewshot_metric(k: int, ks: tuple[int, ...] | list[int], base: str = "fewshot_dice") -> str:
    """Metric name of the decoder trained on k labels (the first k is the plain name)."""
    return base if k == ks[0] else f"{base}_k{k}"


def finetune_metric(k: int, ks: tuple[int, ...] | list[int]) -> str:
    """Metric name of the decoder trained with its fine-tuned backbone on k labels."""
    return fewshot_metric(k, ks, "finetune_dice")


def downstream_metric_names(cfg: ExperimentConfig) -> list[str]:
    """The metrics a run with this config adds to each cell (empty when disabled)."""
    d = cfg.downstream
    if not d.enabled:
        return []
    names = ["probe_accuracy"] if d.probe else []
    names += [fewshot_metric(k, d.fewshot_k) for k in d.fewshot_k] if d.fewshot else []
    names += [finetune_metric(k, d.fewshot_k) for k in d.fewshot_k] if d.finetune else []
    return names + (["linear_probe_accuracy"] if d.linear_probe else [])
