"""Plain settings of the downstream evaluation and the names of its metrics.

    st = DownstreamSettings.from_config(cfg)          # what every trainer below takes
    downstream_metric_names(cfg)   # ["probe_accuracy", "fewshot_dice", "finetune_dice", ...]
    fewshot_metric(8, [4, 8])      # "fewshot_dice_k8"
    finetune_metric(4, [4, 8])     # "finetune_dice"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thetascope.config import DownstreamConfig, ExperimentConfig, GeometryConfig
from thetascope.config.defaults import default

DATASET_ID = "__dataset__"  # image_id of the dataset-level downstream rows


def _d(name: str):
    return default(DownstreamConfig, name)


def _g(name: str):
    return default(GeometryConfig, name)


@dataclass(frozen=True, kw_only=True)
class DownstreamSettings:
    """The downstream trainers' settings; defaults are ``DownstreamConfig``'s (rotation:
    ``GeometryConfig``'s). ``from_config`` is the one place they are read from a config."""

    probe: bool = _d("probe")
    fewshot: bool = _d("fewshot")
    linear_probe: bool = _d("linear_probe")
    max_images: int | None = _d("max_images")
    test_fraction: float = _d("test_fraction")
    pair_feature: str = _d("probe_pair_feature")
    negative: str = _d("probe_negative")
    hidden: tuple[int, ...] = _d("probe_hidden")
    lr: float = _d("probe_lr")
    momentum: float = _d("probe_momentum")
    batch_size: int = _d("probe_batch_size")
    epochs: int = _d("probe_epochs")
    fewshot_k: tuple[int, ...] = _d("fewshot_k")
    fewshot_layer: int = _d("fewshot_layer")
    fewshot_hidden: int = _d("fewshot_hidden")
    fewshot_steps: int = _d("fewshot_steps")
    fewshot_lr: float = _d("fewshot_lr")
    linear_c: float = _d("linear_c")
    seed: int = _d("seed")
    interpolation: str = _g("interpolation")
    fill: float = _g("fill")
    circle: bool = _g("circle_mask")
    finetune: bool = _d("finetune")
    finetune_lr: float = _d("finetune_lr")
    finetune_steps: int = _d("finetune_steps")

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> DownstreamSettings:
        d, g = cfg.downstream, cfg.geometry
        return cls(probe=d.probe, fewshot=d.fewshot, linear_probe=d.linear_probe,
                   max_images=d.max_images, test_fraction=d.test_fraction,
                   pair_feature=d.probe_pair_feature, negative=d.probe_negative,
                   hidden=tuple(d.probe_hidden), lr=d.probe_lr, momentum=d.probe_momentum,
                   batch_size=d.probe_batch_size, epochs=d.probe_epochs,
                   fewshot_k=tuple(d.fewshot_k), fewshot_layer=d.fewshot_layer,
                   fewshot_hidden=d.fewshot_hidden, fewshot_steps=d.fewshot_steps,
                   fewshot_lr=d.fewshot_lr, linear_c=d.linear_c, seed=d.seed,
                   interpolation=g.interpolation, fill=g.fill, circle=g.circle_mask,
                   finetune=d.finetune, finetune_lr=d.finetune_lr,
                   finetune_steps=d.finetune_steps)


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
